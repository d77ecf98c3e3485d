//! What a job says about itself besides its counts: name, kind, steps and
//! stage, message, result link and metadata, through the write API, the
//! Rust writer, both hot stores and both archives; their limits; and the
//! fields and statuses of a later release, kept as they came.

use std::time::Duration;

use job_progress::{
    domain::{JobKind, JobName, JobStatus, ProgressRecord, ResultUrl, StepState},
    store::HotStore as _,
    write::{JobSpec, WriterConfig},
};
use serde_json::{Value, json};

use support::{Stores, app_with_tokens, counts, declaration, job};

/// An app whose reads are never served from the cache, so a read right
/// after a write (or a write past the API) sees it.
async fn uncached(stores: Stores) -> support::AppWithTokens {
    app_with_tokens(stores, |options| options.cache_ttl = Duration::ZERO).await
}

/// The states of a record's steps, in order.
fn step_states(record: &Value) -> Vec<String> {
    record["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|step| step["state"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_staged_job_moves_through_its_steps_and_ends_with_its_result_link(stores: Stores) {
    let w = uncached(stores).await;
    let (status, body) = w
        .declare(
            "pipeline-1",
            json!({
                "name": "Transcribe the March interviews",
                "kind": "ai.pipeline",
                "steps": ["fetch", "transcribe", "summarize", "index"],
                "metadata": {"model": "small", "files": 12},
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let data = &body["data"];
    assert!(
        data.get("totalTargetCount").is_none(),
        "no total: left out, never null: {data}"
    );
    assert_eq!(data["name"], "Transcribe the March interviews");
    assert_eq!(data["kind"], "ai.pipeline");
    assert_eq!(step_states(data), ["pending"; 4]);
    assert_eq!(data["progressPercentage"], 0);

    let (status, body) = w
        .report(
            "pipeline-1",
            json!({"successCount": 0, "failureCount": 0, "stage": "fetch",
                   "message": "downloading 12 files"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["stage"], "fetch");
    assert_eq!(
        body["data"]["progressPercentage"], 12,
        "half of one of four"
    );

    let (status, body) = w
        .report(
            "pipeline-1",
            json!({"successCount": 0, "failureCount": 0, "stage": "summarize",
                   "skipped": ["transcribe"], "message": "waiting for the rate limit",
                   "metadata": {"files": null, "tokens": 5120}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(step_states(data), ["done", "skipped", "running", "pending"]);
    assert!(data["steps"][0]["endedAt"].is_string());
    assert_eq!(data["progressPercentage"], 62);
    assert_eq!(data["message"], "waiting for the rate limit");
    assert_eq!(
        data["metadata"],
        json!({"model": "small", "tokens": 5120}),
        "merged by key; null removed `files`"
    );

    let (status, body) = w
        .complete(
            "pipeline-1",
            json!({"resultUrl": "https://reports.example/march", "message": "done"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(step_states(data), ["done", "skipped", "done", "done"]);
    assert_eq!(data["resultUrl"], "https://reports.example/march");
    assert_eq!(data["progressPercentage"], 100);

    // The archive holds all of it: the job reads the same once the hot
    // store has lost it.
    let archived = w
        .app
        .archive
        .read(&job("pipeline-1"))
        .await
        .unwrap()
        .expect("checkpointed before the 200");
    assert_eq!(
        archived.name.as_ref().map(JobName::as_str),
        Some("Transcribe the March interviews")
    );
    assert_eq!(
        archived.kind.as_ref().map(JobKind::as_str),
        Some("ai.pipeline")
    );
    assert_eq!(archived.total_target_count, None);
    assert_eq!(archived.steps[1].state, StepState::Skipped);
    assert_eq!(
        archived.result_url.as_ref().map(ResultUrl::as_str),
        Some("https://reports.example/march")
    );
    assert_eq!(archived.metadata["tokens"], 5120);
    w.app.delete_key("pipeline-1").await;
    let read = w.record("pipeline-1").await;
    assert_eq!(read["resultUrl"], "https://reports.example/march");
    assert_eq!(step_states(&read), ["done", "skipped", "done", "done"]);
    assert!(read.get("totalTargetCount").is_none(), "{read}");
}

async fn a_refused_report_changes_nothing_its_message_and_metadata_included(stores: Stores) {
    let w = uncached(stores).await;
    let mut body = declaration(100);
    body["steps"] = json!(["a", "b"]);
    body["metadata"] = json!({"k": 1});
    w.declare("refused", body).await;
    w.report(
        "refused",
        json!({"successCount": 10, "failureCount": 0, "stage": "b"}),
    )
    .await;

    let stale = json!({"successCount": 5, "failureCount": 0, "message": "old",
                       "metadata": {"k": 2}});
    let (status, body) = w.report("refused", stale).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = w
        .report(
            "refused",
            json!({"successCount": 11, "failureCount": 0, "stage": "a", "message": "x"}),
        )
        .await;
    assert_eq!(status, 409, "a step never goes back: {body}");
    assert_eq!(body["data"]["reason"], "stale");
    let (status, body) = w
        .report(
            "refused",
            json!({"successCount": 11, "failureCount": 0, "stage": "zzz"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["data"]["reason"], "unknown_stage");
    let big = "x".repeat(3000);
    w.report(
        "refused",
        json!({"successCount": 11, "failureCount": 0, "metadata": {"big1": big}}),
    )
    .await;
    let (status, body) = w
        .report(
            "refused",
            json!({"successCount": 12, "failureCount": 0, "message": "y",
                   "metadata": {"big2": "x".repeat(3000)}}),
        )
        .await;
    assert_eq!(status, 400, "merged past 4 KB: {body}");
    assert!(
        body["message"].as_str().unwrap().contains("metadata"),
        "{body}"
    );

    let read = w.record("refused").await;
    assert_eq!(read["successCount"], 11);
    assert!(read.get("message").is_none(), "{read}");
    assert_eq!(read["metadata"]["k"], 1);
    assert!(read["metadata"].get("big2").is_none());
    assert_eq!(read["stage"], "b");
}

async fn a_job_from_a_later_release_keeps_its_fields_and_status(stores: Stores) {
    let w = uncached(stores).await;
    w.declare("later", declaration(100)).await;
    let written = w.record("later").await;
    let mut raw = written.clone();
    raw["laterField"] = json!({"deep": [1, 2]});
    // As the hot store holds it: the store gives the version.
    raw["version"] = json!(0);
    let record = ProgressRecord::from_stored_json(raw.to_string().as_bytes()).unwrap();
    w.app.hot.write(&record).await.unwrap();

    let (status, body) = w.report("later", counts(3, 0)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["laterField"], json!({"deep": [1, 2]}));
    assert_eq!(
        w.record("later").await["laterField"],
        json!({"deep": [1, 2]})
    );

    // A status this release does not know: served as it is, never
    // written over.
    let mut raw = w.record("later").await;
    raw["status"] = json!("paused_by_rule");
    raw["version"] = json!(0);
    let record = ProgressRecord::from_stored_json(raw.to_string().as_bytes()).unwrap();
    assert_eq!(record.status, JobStatus::Other("paused_by_rule"));
    w.app.hot.write(&record).await.unwrap();
    assert_eq!(w.record("later").await["status"], "paused_by_rule");
    let (status, body) = w.report("later", counts(4, 0)).await;
    assert_eq!(status, 409, "{body}");
    let mut forward = record.clone();
    forward.status = JobStatus::InProgress;
    forward.success_count = 9;
    assert!(
        matches!(
            w.app.hot.write(&forward).await.unwrap(),
            job_progress::store::HotWrite::Stale
        ),
        "the hot store refuses to write over a status it does not know"
    );
    assert_eq!(w.record("later").await["status"], "paused_by_rule");
}

async fn the_rust_writer_says_what_its_job_is_doing(stores: Stores) {
    let w = uncached(stores).await;
    let writer = w.app.writer(WriterConfig::default());
    let spec = JobSpec::staged()
        .named(JobName::parse("Nightly export").unwrap())
        .kind(JobKind::parse("export").unwrap())
        .with_steps(&["dump", "upload"])
        .unwrap();
    let handle = writer.start(job("rust-staged"), spec);
    handle.stage("dump").unwrap();
    handle.message("dumping 3 tables").unwrap();
    let mut patch = job_progress::domain::Metadata::new();
    patch.insert("tables".into(), json!(3));
    handle.metadata(patch).unwrap();
    assert!(
        handle.stage("nope").is_err(),
        "a stage the job does not have is refused"
    );
    handle.flush().await;
    let read = w.record("rust-staged").await;
    assert_eq!(read["name"], "Nightly export");
    assert_eq!(read["message"], "dumping 3 tables");
    assert_eq!(step_states(&read), ["running", "pending"]);
    handle.stage("upload").unwrap();
    handle
        .complete_with_result(ResultUrl::parse("/exports/nightly.csv").unwrap())
        .await
        .expect("durable");
    let read = w.record("rust-staged").await;
    assert_eq!(read["status"], "completed");
    assert_eq!(read["resultUrl"], "/exports/nightly.csv");
    assert_eq!(step_states(&read), ["done", "done"]);
    assert_eq!(read["metadata"], json!({"tables": 3}));
    assert!(writer.shutdown(Duration::from_secs(5)).await);
}

async fn every_limit_is_a_400_naming_its_field_and_changes_nothing(stores: Stores) {
    let w = uncached(stores).await;
    let with = |field: &str, value: Value| {
        let mut body = declaration(10);
        body[field] = value;
        body
    };
    let steps: Vec<String> = (0..51).map(|i| format!("s{i}")).collect();
    let cases = [
        ("name", with("name", json!("n".repeat(201)))),
        ("kind", with("kind", json!("bad kind"))),
        ("steps", with("steps", json!(steps))),
        ("steps", with("steps", json!(["x".repeat(101)]))),
        ("steps", with("steps", json!(["a", "a"]))),
        ("message", with("message", json!("m".repeat(501)))),
        (
            "metadata",
            with("metadata", json!({"big": "x".repeat(4100)})),
        ),
        ("total", json!({"name": "no total, no steps"})),
    ];
    for (field, body) in cases {
        let (status, answer) = w.declare("limits", body).await;
        assert_eq!(status, 400, "{field}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{field}: {answer}"
        );
    }
    let (status, _) = w
        .send("GET", "/api/v1/jobs/limits/progress", json!(null))
        .await;
    assert_eq!(status, 404, "nothing was declared");

    w.declare("limits", declaration(10)).await;
    for url in [
        "javascript:alert(1)",
        "//evil.example/x",
        "data:text/html,x",
    ] {
        let (status, answer) = w.complete("limits", json!({"resultUrl": url})).await;
        assert_eq!(status, 400, "{url}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains("resultUrl"));
    }
    let (status, answer) = w
        .send(
            "POST",
            "/api/v1/progress",
            json!({"updates": [{"jobId": "limits", "successCount": 1, "failureCount": 0,
                                "message": "m".repeat(501)}]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let item = &answer["data"][0];
    assert_eq!(item["statusCode"], 400, "{answer}");
    assert!(
        item["message"]
            .as_str()
            .unwrap()
            .contains("updates[0].message"),
        "{item}"
    );
    let read = w.record("limits").await;
    assert_eq!(read["status"], "in_progress");
    assert_eq!(read["successCount"], 0);
}

support::on_both_stores!(
    a_staged_job_moves_through_its_steps_and_ends_with_its_result_link,
    a_refused_report_changes_nothing_its_message_and_metadata_included,
    a_job_from_a_later_release_keeps_its_fields_and_status,
    the_rust_writer_says_what_its_job_is_doing,
    every_limit_is_a_400_naming_its_field_and_changes_nothing,
);
