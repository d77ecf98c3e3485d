//! A 409 names why in `data.reason`, so a client branches on a name, not
//! on English.

use serde_json::{Value, json};

use support::{Stores, app_with_tokens, counts, declaration};

async fn every_conflict_names_its_reason_and_changes_nothing(stores: Stores) {
    let w = app_with_tokens(stores, |_| {}).await;
    // 100 targets in 10 chunks of 10.
    let (status, _) = w.declare("c", declaration(100)).await;
    assert_eq!(status, 201);
    let (status, _) = w.report("c", counts(40, 2)).await;
    assert_eq!(status, 200);
    let stored = w.record("c").await;
    let same = |record: &Value| {
        [
            "version",
            "successCount",
            "failureCount",
            "currentChunk",
            "totalChunks",
            "status",
        ]
        .iter()
        .all(|field| record[field] == stored[field])
    };

    let cases: [(&str, &str, Value, &str); 5] = [
        (
            "POST",
            "/api/v1/jobs/c/progress",
            counts(30, 2),
            "counts_decreased",
        ),
        (
            "POST",
            "/api/v1/jobs/c/progress",
            counts(99, 2),
            "exceeds_total",
        ),
        (
            "POST",
            "/api/v1/jobs/c/progress",
            json!({ "successCount": 40, "failureCount": 2, "currentChunk": 11 }),
            "chunk_out_of_range",
        ),
        (
            "PUT",
            "/api/v1/jobs/c",
            json!({ "total": 100, "chunkSize": 20, "pauseMs": 0 }),
            "redeclared",
        ),
        (
            "POST",
            "/api/v1/progress",
            json!({ "updates": [{ "jobId": "c", "successCount": 1, "failureCount": 0 }] }),
            "counts_decreased",
        ),
    ];
    for (method, path, body, reason) in cases {
        let (status, answer) = w.send(method, path, body.clone()).await;
        // A batch answers 200 with a result per item, each an envelope.
        let answer = if path == "/api/v1/progress" {
            assert_eq!(status, 200, "{answer}");
            answer["data"][0].clone()
        } else {
            answer
        };
        assert_eq!(
            answer["statusCode"], 409,
            "{method} {path} {body}: {answer}"
        );
        assert_eq!(
            answer["data"],
            json!({ "reason": reason }),
            "{method} {path} {body}"
        );
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert!(same(&w.record("c").await), "nothing changed");

    let (status, _) = w.complete("c", json!({})).await;
    assert_eq!(status, 200);
    for (method, path, body) in [
        ("POST", "/api/v1/jobs/c/progress", counts(50, 2)),
        (
            "POST",
            "/api/v1/jobs/c/fail",
            json!({ "errorMessage": "too late" }),
        ),
        ("PUT", "/api/v1/jobs/c", declaration(100)),
    ] {
        let (status, answer) = w.send(method, path, body).await;
        assert_eq!(status, 409, "{method} {path}: {answer}");
        assert_eq!(answer["data"], json!({ "reason": "finished" }), "{path}");
    }
}

support::on_both_stores!(every_conflict_names_its_reason_and_changes_nothing);
