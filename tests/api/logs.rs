//! A job's log over HTTP: lines written with a write token, read back in
//! pages with a read token; bad input refused with the field named.

use std::time::Duration;

use serde_json::{Value, json};

use support::{AppWithTokens, Stores, app_with_tokens, declaration, on_both_stores};

fn lines(messages: &[&str]) -> Value {
    let lines: Vec<Value> = messages
        .iter()
        .map(|message| json!({ "level": "info", "message": message }))
        .collect();
    json!({ "lines": lines })
}

fn messages(body: &Value) -> Vec<String> {
    body["data"]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| line["message"].as_str().unwrap().to_owned())
        .collect()
}

async fn declared(stores: Stores) -> AppWithTokens {
    let w = app_with_tokens(stores, |_| {}).await;
    let (status, body) = w.declare("logged", declaration(100)).await;
    assert_eq!(status, 201, "{body}");
    w
}

async fn lines_written_read_back_in_pages(stores: Stores) {
    let w = declared(stores).await;
    let (status, body) = w
        .log(
            "logged",
            json!({ "lines": [
                { "level": "warn", "message": "<script>x</script>", "at": "2026-01-02T03:04:05Z" },
                { "level": "error", "message": "two" },
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!({ "accepted": 2, "lastSeq": 2 }));
    let (status, _) = w.log("logged", lines(&["three", "four"])).await;
    assert_eq!(status, 200);

    let (status, body) = w.logs("logged", "").await;
    assert_eq!(status, 200, "{body}");
    let first = &body["data"]["lines"][0];
    assert_eq!(first["seq"], 1);
    assert_eq!(first["level"], "warn");
    assert_eq!(first["message"], "<script>x</script>", "text, as sent");
    assert_eq!(first["at"], "2026-01-02T03:04:05Z");
    assert!(
        body["data"]["lines"][1]["at"].is_string(),
        "defaults to now"
    );
    assert_eq!(body["data"]["next"], Value::Null);

    let (_, body) = w.logs("logged", "?limit=2").await;
    assert_eq!(messages(&body), ["<script>x</script>", "two"]);
    assert_eq!(body["data"]["next"], 2);
    let (_, body) = w.logs("logged", "?after=2&limit=2").await;
    assert_eq!(messages(&body), ["three", "four"]);
    assert_eq!(body["data"]["next"], Value::Null);
    let (status, body) = w.logs("logged", "?after=4").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"], json!({ "lines": [], "next": null }));
}

async fn an_unknown_job_has_no_log(stores: Stores) {
    let w = declared(stores).await;
    let (status, body) = w.log("nobody", lines(&["hello"])).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = w.logs("nobody", "").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = w.logs("logged", "").await;
    assert_eq!(status, 200, "a job without lines has an empty log: {body}");
    assert_eq!(body["data"]["lines"], json!([]));
}

async fn bad_lines_are_refused_naming_the_field_and_change_nothing(stores: Stores) {
    let w = declared(stores).await;
    let too_many: Vec<&str> = vec!["x"; 101];
    let long = "x".repeat(2049);
    let cases = [
        (lines(&too_many), "lines"),
        (lines(&["fine", long.as_str()]), "lines[1].message"),
        (
            json!({ "lines": [{ "level": "debug", "message": "x" }] }),
            "lines[0].level",
        ),
        (
            json!({ "lines": [{ "level": "info", "message": "x", "at": "yesterday" }] }),
            "lines[0].at",
        ),
        (json!({ "lines": [{ "level": "info" }] }), "lines[0]"),
    ];
    for (body, field) in cases {
        let (status, answer) = w.log("logged", body).await;
        assert_eq!(status, 400, "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.contains(field), "{field} named in: {message}");
    }
    let (status, body) = w.logs("logged", "?limit=1001").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("limit"));
    let (status, body) = w.logs("logged", "?after=-1").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("after"));

    let huge = "x".repeat(2048);
    let over: Vec<&str> = vec![huge.as_str(); 600];
    let (status, body) = w.log("logged", lines(&over)).await;
    assert_eq!(status, 413, "{body}");

    let (_, body) = w.logs("logged", "").await;
    assert_eq!(body["data"]["lines"], json!([]), "nothing was stored");
}

async fn writing_needs_a_write_token_and_reading_is_like_progress(stores: Stores) {
    let w = declared(stores).await;
    let (status, _) = w
        .send_as(
            Some(&w.tokens.read),
            "POST",
            "/api/v1/jobs/logged/logs",
            lines(&["x"]),
        )
        .await;
    assert_eq!(status, 403);
    // Reads are as open as the job's progress (open unless the server
    // requires read tokens).
    let logs = w.app.get("/api/v1/jobs/logged/logs").await.status();
    let progress = w.app.get_progress("logged").await.status();
    assert_eq!(logs, progress);
}

async fn a_jobs_history_is_served_and_an_unknown_one_is_404(stores: Stores) {
    let w = declared(stores).await;
    let (status, _) = w
        .report("logged", json!({ "successCount": 10, "failureCount": 1 }))
        .await;
    assert_eq!(status, 200);
    let (status, _) = w
        .complete("logged", json!({ "successCount": 97, "failureCount": 3 }))
        .await;
    assert_eq!(status, 200);
    let response = w.app.get("/api/v1/jobs/logged/history").await;
    assert_eq!(response.status(), 200);
    let body = support::envelope(response).await;
    let samples = body["data"]["samples"].as_array().unwrap();
    let counts: Vec<(u64, u64)> = samples
        .iter()
        .map(|s| {
            (
                s["processed"].as_u64().unwrap(),
                s["failed"].as_u64().unwrap(),
            )
        })
        .collect();
    // Within 5 s of the first sample only the final state is added.
    assert_eq!(counts, [(0, 0), (100, 3)], "{body}");
    assert!(samples[0]["at"].is_string());
    let response = w.app.get("/api/v1/jobs/nobody/history").await;
    assert_eq!(response.status(), 404);
}

/// Once the hot store has let go of a finished job, its last 100 lines
/// and its history come from the archive.
async fn a_finished_jobs_last_lines_and_history_outlive_the_hot_store(stores: Stores) {
    let w = app_with_tokens(stores, |o| o.ttls.completed = Duration::from_secs(1)).await;
    let (status, body) = w.declare("kept", declaration(100)).await;
    assert_eq!(status, 201, "{body}");
    for chunk in 0..3 {
        let batch: Vec<String> = (0..50)
            .map(|i| format!("line {}", chunk * 50 + i + 1))
            .collect();
        let batch: Vec<&str> = batch.iter().map(String::as_str).collect();
        let (status, body) = w.log("kept", lines(&batch)).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _) = w
        .report("kept", json!({ "successCount": 10, "failureCount": 0 }))
        .await;
    assert_eq!(status, 200);
    let (status, _) = w
        .complete("kept", json!({ "successCount": 100, "failureCount": 0 }))
        .await;
    assert_eq!(status, 200);

    support::eventually(Duration::from_secs(15), "the archive answers", || async {
        let response = w.app.get("/api/v1/jobs/kept/logs?limit=1000").await;
        response.headers()["x-progress-source"] == "database"
    })
    .await;
    let (status, body) = w.logs("kept", "?limit=1000").await;
    assert_eq!(status, 200, "{body}");
    let kept = messages(&body);
    assert_eq!(kept.len(), 100, "{body}");
    assert_eq!(kept[0], "line 51");
    assert_eq!(kept[99], "line 150");
    assert_eq!(body["data"]["lines"][0]["seq"], 51, "numbered as they were");
    let (_, body) = w.logs("kept", "?after=140&limit=5").await;
    assert_eq!(
        messages(&body),
        ["line 141", "line 142", "line 143", "line 144", "line 145"]
    );
    assert_eq!(body["data"]["next"], 145);

    let response = w.app.get("/api/v1/jobs/kept/history").await;
    assert_eq!(response.headers()["x-progress-source"], "database");
    let body = support::envelope(response).await;
    let samples = body["data"]["samples"].as_array().unwrap();
    assert_eq!(samples.last().unwrap()["processed"], 100, "{body}");
}

on_both_stores!(
    a_finished_jobs_last_lines_and_history_outlive_the_hot_store,
    a_jobs_history_is_served_and_an_unknown_one_is_404,
    lines_written_read_back_in_pages,
    an_unknown_job_has_no_log,
    bad_lines_are_refused_naming_the_field_and_change_nothing,
    writing_needs_a_write_token_and_reading_is_like_progress,
);
