//! Real servers to break: a `redis-server` or `nats-server` of the test's
//! own on a free port, paused, killed and restarted at will.

use std::{
    net::TcpListener as StdListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use tokio::net::TcpStream;

/// A port nothing listens on now (the OS's pick, released at once).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Which server a [`LocalServer`] runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Redis,
    Nats,
}

/// A `redis-server` or `nats-server` of the test's own on a random port,
/// killed when dropped.
pub struct LocalServer {
    /// The port it listens on (kept across restarts).
    pub port: u16,
    kind: Kind,
    child: Option<Child>,
}

/// The Redis flavour (the name the fault tests read best with).
pub type RedisServer = LocalServer;
/// The NATS flavour.
pub type NatsServer = LocalServer;

impl LocalServer {
    async fn start(kind: Kind) -> Self {
        let mut server = Self {
            port: free_port(),
            kind,
            child: None,
        };
        server.launch().await;
        server
    }

    /// A fresh, empty redis-server.
    pub async fn redis() -> Self {
        Self::start(Kind::Redis).await
    }

    /// A fresh nats-server.
    pub async fn nats() -> Self {
        Self::start(Kind::Nats).await
    }

    /// Its URL (`redis://` or `nats://`).
    pub fn url(&self) -> String {
        let scheme = match self.kind {
            Kind::Redis => "redis",
            Kind::Nats => "nats",
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    async fn launch(&mut self) {
        let port = self.port.to_string();
        let mut command = match self.kind {
            Kind::Redis => {
                let mut command = Command::new("redis-server");
                command
                    .args(["--port", &port, "--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "no"]);
                command
            }
            Kind::Nats => {
                let mut command = Command::new(nats_server_binary());
                command.args(["-a", "127.0.0.1", "-p", &port]);
                command
            }
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server is installed (scripts/services.sh installs it)");
        self.child = Some(child);
        let (kind, url) = (self.kind, self.url());
        crate::eventually(Duration::from_secs(5), "the server answers", || {
            let url = url.clone();
            async move { answers(kind, &url).await }
        })
        .await;
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success(), "kill {signal}");
        }
    }

    /// SIGSTOP: it keeps accepting connections and never answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// SIGKILL: gone, with everything it held.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A new, empty server on the same port.
    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }
}

/// Whether the server at `url` answers: a PING for Redis, a connection for
/// NATS.
async fn answers(kind: Kind, url: &str) -> bool {
    match kind {
        Kind::Redis => {
            let Ok(mut conn) = redis::Client::open(url)
                .unwrap()
                .get_multiplexed_async_connection()
                .await
            else {
                return false;
            };
            let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
            pong.is_ok()
        }
        Kind::Nats => TcpStream::connect(url.trim_start_matches("nats://"))
            .await
            .is_ok(),
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.resume();
        self.kill();
    }
}

/// Debian installs nats-server in /usr/sbin, which is not on every PATH.
fn nats_server_binary() -> &'static str {
    if std::path::Path::new("/usr/sbin/nats-server").exists() {
        "/usr/sbin/nats-server"
    } else {
        "nats-server"
    }
}
