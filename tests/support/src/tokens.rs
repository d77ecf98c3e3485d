//! Access tokens for a test: a tokens file in a folder of its own, and an
//! app that reads it.

use std::path::PathBuf;

use job_progress::http::tokens::{Scope, new_token};

use crate::spawn::{Options, Stores, TestApp};

/// A tokens file holding `lines`, in a temporary directory that lives as
/// long as the returned guard.
pub fn tokens_file(lines: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    std::fs::write(&path, format!("# test tokens\n\n{}\n", lines.join("\n"))).unwrap();
    (dir, path)
}

/// A read token (`dashboard`), a write token (`billing-worker`) and a
/// control token (`ops-console`) in a tokens file of their own, removed
/// when this is dropped.
pub struct Tokens {
    /// The read token, as a client sends it.
    pub read: String,
    /// The write token, as a worker sends it.
    pub write: String,
    /// The control token, as an operator's console sends it.
    pub control: String,
    /// The tokens file (`TOKENS_FILE`), holding both tokens' lines.
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tokens {
    /// Three fresh tokens and their file.
    pub fn new() -> Self {
        let read = new_token(Scope::Read, "dashboard").unwrap();
        let write = new_token(Scope::Write, "billing-worker").unwrap();
        let control = new_token(Scope::Control, "ops-console").unwrap();
        let (dir, path) = tokens_file(&[&read.line, &write.line, &control.line]);
        Self {
            read: read.token,
            write: write.token,
            control: control.token,
            path,
            _dir: dir,
        }
    }
}

impl Default for Tokens {
    fn default() -> Self {
        Self::new()
    }
}

/// An app that reads its tokens from [`Tokens`], and a worker holding the
/// write token: what every test of the write API starts from.
pub struct AppWithTokens {
    /// The running app.
    pub app: TestApp,
    /// The app's tokens (`tokens.write`, `tokens.read`).
    pub tokens: Tokens,
    /// Sends the write API's requests with the write token.
    pub worker: crate::Worker,
}

/// The app on `stores` with [`Tokens`] as its tokens file, tuned by
/// `tune` after the file is set.
pub async fn app_with_tokens(
    stores: impl Into<Stores>,
    tune: impl FnOnce(&mut Options),
) -> AppWithTokens {
    let tokens = Tokens::new();
    let path = tokens.path.clone();
    let app = stores
        .into()
        .spawn_with(|o| {
            o.settings.access.tokens_file = Some(path);
            tune(o);
        })
        .await;
    let worker = crate::Worker::new(&app.address, app.client.clone(), &tokens.write);
    AppWithTokens {
        app,
        tokens,
        worker,
    }
}

impl std::ops::Deref for AppWithTokens {
    type Target = crate::Worker;

    fn deref(&self) -> &crate::Worker {
        &self.worker
    }
}

impl AppWithTokens {
    /// The job's record as the app serves it (the `data` of a GET).
    pub async fn record(&self, id: &str) -> serde_json::Value {
        crate::envelope(self.app.get_progress(id).await).await["data"].clone()
    }

    /// `GET /api/v1/jobs/{id}/logs{query}` with the read token: the status
    /// and the envelope.
    pub async fn logs(&self, id: &str, query: &str) -> (u16, serde_json::Value) {
        let response = self
            .app
            .get_bearer(&format!("/api/v1/jobs/{id}/logs{query}"), &self.tokens.read)
            .await;
        let status = response.status().as_u16();
        (status, crate::envelope(response).await)
    }
}
