//! What a worker sends over HTTP: declare a job, report its counts,
//! complete or fail it, each with a write token; and the bodies it sends.

use serde_json::{Value, json};

use crate::envelope;

/// A worker's side of the write API on one server: its address, a client
/// and a write token.
pub struct Worker {
    address: String,
    client: reqwest::Client,
    token: String,
}

impl Worker {
    /// A worker reporting to `address` (`http://host:port`) with `token`.
    pub fn new(address: &str, client: reqwest::Client, token: &str) -> Self {
        Self {
            address: address.to_owned(),
            client,
            token: token.to_owned(),
        }
    }

    /// `method path` with `body` and the write token: the response as it
    /// came.
    pub async fn request(&self, method: &str, path: &str, body: Value) -> reqwest::Response {
        self.request_as(Some(&self.token), method, path, body).await
    }

    /// `method path` with `body` and `token` (or none): the response.
    pub async fn request_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Value,
    ) -> reqwest::Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("answered")
    }

    /// `method path` with `body` and the write token: the status and the
    /// (checked) envelope.
    pub async fn send(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        self.send_as(Some(&self.token), method, path, body).await
    }

    /// [`send`](Self::send) with `token` (or none) instead of the write
    /// token.
    pub async fn send_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let response = self.request_as(token, method, path, body).await;
        let status = response.status().as_u16();
        (status, envelope(response).await)
    }

    /// `PUT /api/v1/jobs/{id}` with `body` ([`declaration`] or smaller).
    pub async fn declare(&self, id: &str, body: Value) -> (u16, Value) {
        self.send("PUT", &format!("/api/v1/jobs/{id}"), body).await
    }

    /// `POST /api/v1/jobs/{id}/progress` with `body` ([`counts`] or more).
    pub async fn report(&self, id: &str, body: Value) -> (u16, Value) {
        self.send("POST", &format!("/api/v1/jobs/{id}/progress"), body)
            .await
    }

    /// `POST /api/v1/jobs/{id}/complete` with `body` (final [`counts`]).
    pub async fn complete(&self, id: &str, body: Value) -> (u16, Value) {
        self.send("POST", &format!("/api/v1/jobs/{id}/complete"), body)
            .await
    }

    /// `POST /api/v1/jobs/{id}/logs` with `body` (`{"lines":[..]}`).
    pub async fn log(&self, id: &str, body: Value) -> (u16, Value) {
        self.send("POST", &format!("/api/v1/jobs/{id}/logs"), body)
            .await
    }

    /// `POST /api/v1/jobs/{id}/fail` with `body`.
    pub async fn fail(&self, id: &str, body: Value) -> (u16, Value) {
        self.send("POST", &format!("/api/v1/jobs/{id}/fail"), body)
            .await
    }
}

/// A declaration of `total` targets in chunks of ten.
pub fn declaration(total: u64) -> Value {
    json!({ "total": total, "chunkSize": 10, "pauseMs": 0, "refreshIntervalMs": 5000 })
}

/// A report's (or an ending's) counts.
pub fn counts(succeeded: u64, failed: u64) -> Value {
    json!({ "successCount": succeeded, "failureCount": failed })
}
