//! The real server binary as a process of its own, to kill and restart
//! over the same data: what the embedded-store and durability tests run.
//! The binary's path comes from the test (`CARGO_BIN_EXE_job-progress`
//! exists only in the main package's integration tests).

use std::{path::Path, process::Stdio, time::Duration};

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::{Tokens, Worker, eventually, http_client, http_get, local_server::free_port};

/// How long the server may take to start, stop or die.
const LIMIT: Duration = Duration::from_secs(20);

/// `job-progress serve` as a process of its own: on the embedded stores
/// with its data in `data`, unless `env` names other stores. Derefs to
/// a [`Worker`] with the write token.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    worker: Worker,
}

impl std::ops::Deref for ServerProcess {
    type Target = Worker;

    fn deref(&self) -> &Worker {
        &self.worker
    }
}

impl ServerProcess {
    /// The server `binary` (the test's `CARGO_BIN_EXE_job-progress`)
    /// reading `tokens`, its worker holding the write token.
    pub async fn start(binary: &Path, data: &Path, tokens: &Tokens) -> Self {
        Self::start_with(binary, data, tokens, &[]).await
    }

    /// The same, with `env` set on top (e.g. `REDIS_URL`, `DATABASE_URL`,
    /// `KEY_PREFIX` for a server on the real stores).
    pub async fn start_with(
        binary: &Path,
        data: &Path,
        tokens: &Tokens,
        env: &[(&str, String)],
    ) -> Self {
        let port = free_port();
        let child = Command::new(binary)
            .arg("serve")
            .env_remove("REDIS_URL")
            .env_remove("DATABASE_URL")
            .env_remove("BUS_URL")
            .envs(env.iter().map(|(key, value)| (key, value)))
            .env("DATA_DIR", data)
            .env("TOKENS_FILE", &tokens.path)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("RATE_LIMIT_PER_SECOND", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        let address = format!("http://127.0.0.1:{port}");
        let worker = Worker::new(&address, http_client(), &tokens.write);
        let server = Self {
            child,
            address,
            worker,
        };
        let ready = format!("{}/readyz", server.address);
        eventually(LIMIT, "the embedded server answers", || async {
            http_get(&ready)
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        server
    }

    /// GET `path`: status, `X-Progress-Source` and the envelope.
    pub async fn get(&self, path: &str) -> (u16, String, Value) {
        let response = http_get(format!("{}{path}", self.address))
            .await
            .expect("answered");
        let source = response
            .headers()
            .get("x-progress-source")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (
            response.status().as_u16(),
            source,
            response.json().await.expect("an envelope"),
        )
    }

    /// Sends the process `signal` (`HUP`, `STOP`, ...) with `kill`.
    pub async fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success(), "kill -{signal}");
    }

    /// SIGKILL, at once: no drain, no shutdown hook.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("the server is running");
        tokio::time::timeout(LIMIT, self.child.wait())
            .await
            .expect("a killed server exits")
            .unwrap();
    }

    /// SIGTERM, and a clean exit.
    pub async fn stop(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let term = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(term.success());
        let status = tokio::time::timeout(LIMIT, self.child.wait())
            .await
            .expect("the server stops")
            .unwrap();
        assert!(status.success(), "a clean exit: {status}");
    }
}
