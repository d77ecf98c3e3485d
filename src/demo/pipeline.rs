//! A staged job: the "AI pipeline" of four steps (fetch, transcribe,
//! summarise, publish) that `job-progress demo` runs beside its campaigns
//! and `examples/ai_pipeline.rs` runs against real stores. It has no total:
//! its steps say how far it is. It reports as a worker's code would: a
//! name and a kind, the step it is in, a message, metadata, log lines, and
//! a link to its result when it completes.

use std::time::Duration;

use serde_json::json;

use crate::{
    domain::{JobId, JobKind, JobName, LogLevel, ResultUrl},
    write::{JobHandle, JobSpec, ProgressWriter},
};

/// The pipeline's steps, in order.
pub const STEPS: [&str; 4] = ["fetch", "transcribe", "summarise", "publish"];
/// The job's kind, for the dashboard's and `ls --kind`'s filters.
pub const KIND: &str = "ai-pipeline";
/// Audio chunks transcribed per run.
const CHUNKS: u64 = 6;

/// Records one log line of the job, and makes it the job's latest
/// `message` (which the list rows and `watch`'s bar show).
fn log(job: &JobHandle, level: LogLevel, text: &str) -> anyhow::Result<()> {
    job.log(level, text)?;
    job.message(text)?;
    Ok(())
}

/// Starts the pipeline's job `id` on `writer`.
pub fn start(writer: &ProgressWriter, id: JobId, episode: u64) -> anyhow::Result<JobHandle> {
    let spec = JobSpec::staged()
        .named(JobName::parse(format!(
            "Podcast summary, episode {episode}"
        ))?)
        .kind(JobKind::parse(KIND)?)
        .with_steps(&STEPS)?;
    Ok(writer.start(id, spec))
}

/// Runs the pipeline on `job` to its end, each unit of work taking
/// `pace`; completes the job with a link to its result, `result_base`
/// followed by the job's id (a same-site path or an http(s) URL).
pub async fn run(job: JobHandle, pace: Duration, result_base: &str) -> anyhow::Result<()> {
    work(&job, pace).await?;
    finish(job, result_base).await
}

/// The four steps, each unit of work taking `pace`.
pub async fn work(job: &JobHandle, pace: Duration) -> anyhow::Result<()> {
    let metadata = |value: serde_json::Value| value.as_object().cloned().unwrap_or_default();

    job.stage("fetch")?;
    log(job, LogLevel::Info, "downloading the episode's audio")?;
    tokio::time::sleep(pace * 2).await;
    job.metadata(metadata(
        json!({"source": "feed.example/podcast.xml", "audioMinutes": 42}),
    ))?;
    log(job, LogLevel::Info, "audio fetched: 42 minutes")?;

    job.stage("transcribe")?;
    job.metadata(metadata(json!({"model": "whisper-large-v3"})))?;
    for chunk in 1..=CHUNKS {
        tokio::time::sleep(pace).await;
        if chunk == CHUNKS / 2 {
            log(
                job,
                LogLevel::Warn,
                "chunk 3: low confidence, retried with a larger beam",
            )?;
        }
        log(
            job,
            LogLevel::Info,
            &format!("transcribed chunk {chunk} of {CHUNKS}"),
        )?;
    }

    job.stage("summarise")?;
    job.metadata(metadata(json!({"summaryModel": "a small local model"})))?;
    log(job, LogLevel::Info, "summarising the transcript")?;
    tokio::time::sleep(pace * 3).await;

    job.stage("publish")?;
    log(job, LogLevel::Info, "publishing the summary")?;
    tokio::time::sleep(pace).await;
    Ok(())
}

/// Completes `job` with the link to its result: `result_base` followed by
/// the job's id.
pub async fn finish(job: JobHandle, result_base: &str) -> anyhow::Result<()> {
    let id = job.progress().job_id.clone();
    let result = ResultUrl::parse(format!("{result_base}{id}"))?;
    job.message("")?;
    job.complete_with_result(result).await?;
    Ok(())
}

/// The demo's pipeline, run again and again with the next episode.
pub async fn repeat(writer: ProgressWriter) {
    for episode in 1.. {
        let run = async {
            let job = start(
                &writer,
                JobId::parse(format!("ai-pipeline-{episode}"))?,
                episode,
            )?;
            run(
                job,
                Duration::from_secs(2),
                "https://example.com/summaries/",
            )
            .await
        };
        if let Err(err) = run.await {
            tracing::warn!(error = %err, "demo pipeline stopped");
        }
        tokio::time::sleep(Duration::from_secs(15)).await;
    }
}
