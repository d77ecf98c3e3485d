//! What `watch` and `ls` say about what a job is doing: the running step
//! and the message beside the counts, the result link at the end, and
//! the job's name in the list.

use std::time::Duration;

use job_progress::{
    demo::pipeline,
    domain::{JobKind, JobName, ResultUrl},
    write::JobSpec,
};

use super::{run, start};
use serde_json::json;
use support::{eager, job, spawn_app};

fn pipeline() -> JobSpec {
    JobSpec::staged()
        .named(JobName::parse("Nightly podcast summary").unwrap())
        .kind(JobKind::parse("ai-pipeline").unwrap())
        .with_steps(&["fetch", "transcribe", "summarise", "publish"])
        .unwrap()
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn watch_prints_the_stage_and_message_and_ends_with_the_result(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let handle = writer.start(job("podcast-7"), pipeline());
    handle.stage("transcribe").unwrap();
    handle.message("chunk 3 of 9").unwrap();
    handle.flush().await;

    let mut watch = start(&app.address, &["watch", "podcast-7"]);
    let line = watch.line_with("in_progress").await;
    assert!(
        line.ends_with("[2/4 transcribe] chunk 3 of 9"),
        "the step and the message: {line}"
    );
    handle.stage("publish").unwrap();
    handle.message("uploading").unwrap();
    handle.flush().await;
    let line = watch.line_with("[4/4 publish]").await;
    assert!(line.ends_with("[4/4 publish] uploading"), "{line}");
    handle
        .complete_with_result(ResultUrl::parse("https://reports.example/podcast-7").unwrap())
        .await
        .unwrap();
    let ran = watch.finish().await;
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stderr
            .contains("result: https://reports.example/podcast-7"),
        "{ran:?}"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn ls_shows_a_jobs_name_beside_its_id(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let named = writer.start(job("podcast-7"), pipeline());
    named.stage("fetch").unwrap();
    named.flush().await;
    let plain = writer.start(job("campaign-1"), JobSpec::new(10));
    plain.flush().await;

    let ran = run(&app, &["ls"]).await;
    assert_eq!(ran.code, 0, "{ran:?}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(lines[0].starts_with("JOB         NAME"), "{ran:?}");
    let row = |id: &str| *lines.iter().find(|l| l.starts_with(id)).unwrap();
    assert!(
        row("podcast-7").contains("  Nightly podcast summary  in_progress"),
        "{ran:?}"
    );
    assert!(row("campaign-1").contains("  -  "), "{ran:?}");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_demos_pipeline_moves_through_its_four_steps_to_its_result(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let handle = pipeline::start(&writer, job("ai-pipeline-1"), 1).unwrap();
    handle.flush().await;
    let mut watch = start(&app.address, &["watch", "ai-pipeline-1"]);
    watch.line_with("ai-pipeline-1 in_progress").await;
    let ran = tokio::spawn(pipeline::run(
        handle,
        Duration::from_millis(300),
        "https://example.com/summaries/",
    ));
    for step in ["[2/4 transcribe]", "[3/4 summarise]", "[4/4 publish]"] {
        watch.line_with(step).await;
    }
    ran.await.unwrap().unwrap();
    let ran = watch.finish().await;
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stderr
            .contains("result: https://example.com/summaries/ai-pipeline-1"),
        "{ran:?}"
    );
    let record = support::envelope(app.get_progress("ai-pipeline-1").await).await;
    assert_eq!(record["data"]["kind"], pipeline::KIND);
    assert_eq!(record["data"]["metadata"]["model"], "whisper-large-v3");
    assert!(
        record["data"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|step| step["state"] == "done"),
        "{record}"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn watch_logs_prints_each_log_line_once_in_order(pool: sqlx::PgPool) {
    let app = support::app_with_tokens(pool, |_| {}).await;
    let line =
        |level: &str, message: &str| json!({"lines": [{"level": level, "message": message}]});
    assert_eq!(app.declare("logged-1", json!({"total": 10})).await.0, 201);
    for message in ["first line", "second line"] {
        let (status, body) = app
            .send("POST", "/api/v1/jobs/logged-1/logs", line("info", message))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    let mut watch = super::start_with(
        &app.app.address,
        &["watch", "logged-1", "--logs"],
        &[("JOB_PROGRESS_TOKEN", &app.tokens.read)],
    );
    let first = watch.line_with("first line").await;
    assert!(first.contains("INFO"), "{first}");
    watch.line_with("second line").await;
    app.send(
        "POST",
        "/api/v1/jobs/logged-1/logs",
        line("warn", "third line"),
    )
    .await;
    app.complete("logged-1", json!({"successCount": 10, "failureCount": 0}))
        .await;
    let ran = watch.finish().await;
    assert_eq!(ran.code, 0, "{ran:?}");
    let seen: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.ends_with(" line"))
        .collect();
    assert_eq!(seen.len(), 3, "each line once: {ran:?}");
    assert!(seen[2].contains("WARN  third line"), "{ran:?}");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn ls_kind_lists_only_jobs_of_that_kind(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let staged = writer.start(job("podcast-7"), pipeline());
    staged.flush().await;
    let plain = writer.start(
        job("campaign-1"),
        JobSpec::new(10).kind(JobKind::parse("newsletter").unwrap()),
    );
    plain.flush().await;

    let ran = run(&app, &["ls", "--kind", "ai-pipeline"]).await;
    assert_eq!(ran.code, 0, "{ran:?}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "the header and podcast-7: {ran:?}");
    assert!(lines[1].starts_with("podcast-7"), "{ran:?}");
    let bad = run(&app, &["ls", "--kind", "no spaces"]).await;
    assert_eq!(bad.code, 2, "a usage error: {bad:?}");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn ls_lists_top_level_jobs_and_tree_puts_children_under_their_parent(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let parent = writer.start(job("import"), JobSpec::new(100));
    parent.flush().await;
    let child = writer.start(job("import-part"), JobSpec::new(10).parent(job("import")));
    child.flush().await;
    let other = writer.start(job("newsletter"), JobSpec::new(10));
    other.flush().await;

    let ran = run(&app, &["ls"]).await;
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        !ran.stdout.contains("import-part"),
        "top-level only: {ran:?}"
    );
    let tree = run(&app, &["ls", "--tree"]).await;
    assert_eq!(tree.code, 0, "{tree:?}");
    let jobs: Vec<&str> = tree
        .stdout
        .lines()
        .skip(1)
        .map(|line| line.split("  in_progress").next().unwrap().trim_end())
        .collect();
    assert_eq!(jobs, ["import", "  import-part", "newsletter"], "{tree:?}");
}
