//! Write bodies are JSON objects, and ids are never the path segments `.`
//! or `..`; anything else is a 400 that changes nothing.

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use support::{Stores, TestApp, app_with_tokens, declaration, envelope};

async fn a_body_that_is_not_a_json_object_is_refused_and_changes_nothing(stores: Stores) {
    let w = app_with_tokens(stores, |_| {}).await;
    let (status, _) = w.declare("arr", declaration(100)).await;
    assert_eq!(status, 201);
    let before = w.record("arr").await;
    let cases = [
        ("POST", "/api/v1/jobs/arr/progress", json!([8, 2])),
        ("POST", "/api/v1/jobs/arr/progress", json!([9, 2, 3, 100])),
        ("POST", "/api/v1/jobs/arr/progress", json!(8)),
        ("POST", "/api/v1/jobs/arr/progress", json!("successCount")),
        ("PUT", "/api/v1/jobs/arr", json!([200])),
        ("POST", "/api/v1/jobs/arr/complete", json!([8, 2])),
        ("POST", "/api/v1/jobs/arr/complete", json!(null)),
        ("POST", "/api/v1/jobs/arr/fail", json!(["why", 8, 2])),
        (
            "POST",
            "/api/v1/progress",
            json!([[{ "jobId": "arr", "successCount": 8, "failureCount": 2 }]]),
        ),
        (
            "POST",
            "/api/v1/progress",
            json!({ "updates": [["arr", 8, 2]] }),
        ),
    ];
    for (method, path, body) in cases {
        let (status, answer) = w.send(method, path, body.clone()).await;
        assert_eq!(status, 400, "{method} {path} {body}: {answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains("JSON object") || message.contains("expected a map"),
            "{method} {path} {body}: {message}"
        );
    }
    let after = w.record("arr").await;
    for field in [
        "version",
        "successCount",
        "failureCount",
        "status",
        "totalTargetCount",
    ] {
        assert_eq!(after[field], before[field], "{field} unchanged");
    }
    assert_eq!(after["successCount"], 0);
}

/// `method path` sent as written (reqwest, like a browser, resolves
/// `%2e%2e` away before sending), with the write token; the status and
/// the body.
async fn raw(app: &TestApp, token: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {answer}"));
    (status, answer)
}

async fn the_ids_dot_and_dot_dot_are_refused(stores: Stores) {
    let w = app_with_tokens(stores, |_| {}).await;
    let declare = r#"{"total": 10}"#;
    for id in ["%2e", "%2e%2e", "%2E%2e", "."] {
        let (status, answer) = raw(
            &w.app,
            &w.tokens.write,
            "PUT",
            &format!("/api/v1/jobs/{id}"),
            declare,
        )
        .await;
        assert_eq!(status, 400, "PUT {id}: {answer}");
        assert!(answer.contains("invalid job id"), "{answer}");
        let (status, answer) = raw(
            &w.app,
            &w.tokens.write,
            "GET",
            &format!("/api/v1/jobs/{id}/progress"),
            "",
        )
        .await;
        assert_eq!(status, 400, "GET {id}: {answer}");
    }
    let (status, _) = raw(
        &w.app,
        &w.tokens.write,
        "GET",
        "/api/v1/schedules/%2e%2e/progress",
        "",
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = w
        .declare("s", json!({ "total": 10, "scheduleId": ".." }))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = w
        .send(
            "POST",
            "/api/v1/progress",
            json!({ "updates": [{ "jobId": "..", "successCount": 1, "failureCount": 0 }] }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["statusCode"], 400, "{body}");
    assert_eq!(w.app.hot.writes(), 0, "nothing was written");
    // Dots inside an id are fine.
    let (status, _) = w.declare("a..b", declaration(10)).await;
    assert_eq!(status, 201);
    assert_eq!(
        envelope(w.app.get_progress("...").await).await["statusCode"],
        404
    );
}

support::on_both_stores!(
    a_body_that_is_not_a_json_object_is_refused_and_changes_nothing,
    the_ids_dot_and_dot_dot_are_refused,
);
