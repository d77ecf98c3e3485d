//! HTTP from the tests: a client built as the crate builds its own, GETs
//! on a running app, and the envelope every answer comes in.

use crate::spawn::TestApp;

impl TestApp {
    /// GET `path` (from `/`) on the app.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("the request is answered")
    }

    /// GET `path` with one extra request header.
    pub async fn get_with(&self, path: &str, header: &str, value: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .header(header, value)
            .send()
            .await
            .expect("the request is answered")
    }

    /// GET `path` with `Authorization: Bearer <token>`.
    pub async fn get_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.get_with(path, "Authorization", &format!("Bearer {token}"))
            .await
    }

    /// GET one job's progress.
    pub async fn get_progress(&self, id: &str) -> reqwest::Response {
        self.get(&format!("/api/v1/jobs/{id}/progress")).await
    }

    /// GET the active list, `query` appended as is (`?limit=5`).
    pub async fn get_active(&self, query: &str) -> reqwest::Response {
        self.get(&format!("/api/v1/jobs/active{query}")).await
    }
}

/// A response's envelope, checked: `statusCode` equals the HTTP status.
pub async fn envelope(response: reqwest::Response) -> serde_json::Value {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("a JSON envelope");
    assert_eq!(
        body["statusCode"], status,
        "statusCode must equal the HTTP status: {body}"
    );
    assert!(
        body["message"].is_string(),
        "every envelope has a message: {body}"
    );
    body
}

/// An HTTP client for tests, built where every client of the crate is
/// (`job_progress::outbound`): reqwest has no default TLS provider here,
/// so `reqwest::Client::new()` and `reqwest::get` would panic.
pub fn http_client() -> reqwest::Client {
    job_progress::outbound::client_builder(None)
        .expect("the TLS setup")
        .build()
        .expect("the client builds")
}

/// `GET url` with [`http_client`], as `reqwest::get` would.
pub async fn http_get(url: impl reqwest::IntoUrl) -> reqwest::Result<reqwest::Response> {
    http_client().get(url).send().await
}

/// The `jobId`s of a list response's `data`, in order.
pub fn job_ids(body: &serde_json::Value) -> Vec<String> {
    body["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|record| record["jobId"].as_str().expect("a jobId").to_owned())
        .collect()
}
