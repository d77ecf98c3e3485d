//! A Redis Cluster of three masters on this machine, started by the tests
//! themselves: three `redis-server --cluster-enabled yes` on free ports,
//! joined by `redis-cli --cluster create`.
//!
//! [`shared`] is one cluster for the whole test binary (each test keeps to
//! its own key prefix); a test that breaks a cluster starts its own with
//! [`RedisCluster::start`]. Every server runs under a small shell that
//! kills it when the test binary's end of a pipe closes, so no server
//! outlives the tests, however they end (the shared cluster is never
//! dropped).

use std::{
    io::{BufRead as _, BufReader, Write as _},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    time::Duration,
};

use redis::Value;
use tokio::sync::OnceCell;

use crate::{eventually, local_server::free_port};

/// How long a cluster may take to form (`redis-cli --cluster create`
/// waits for the gossip itself) or to heal after a restart: a master down
/// for longer than the node timeout (15 s) is marked failed, and that
/// mark is lifted 30 s after it was set.
const FORMING: Duration = Duration::from_secs(60);

/// The cluster every ordinary cluster test shares.
pub async fn shared() -> &'static RedisCluster {
    static SHARED: OnceCell<RedisCluster> = OnceCell::const_new();
    SHARED.get_or_init(RedisCluster::start).await
}

/// One master: its ports and its running server, if any.
struct Node {
    port: u16,
    /// The cluster bus port (given, not port + 10000, which may be taken
    /// or past 65535).
    bus_port: u16,
    server: Option<Server>,
}

/// A running `redis-server` and the shell watching over it.
struct Server {
    pid: u32,
    watchdog: Child,
    /// Closing it (drop) makes the shell kill the server.
    lifeline: ChildStdin,
}

/// Three masters, slots 0-5460, 5461-10922 and 10923-16383.
pub struct RedisCluster {
    dir: PathBuf,
    nodes: Vec<Node>,
    /// Given to every server after the cluster's own arguments.
    settings: Vec<String>,
    /// Removes `dir` when the cluster is dropped (the shared one never is:
    /// its servers' shells remove it as the test binary exits).
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// A fresh cluster of three masters, once `cluster_state:ok` on each.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// A fresh cluster like [`start`](Self::start)'s, each server given
    /// `settings` too (`["--cluster-require-full-coverage", "no"]`).
    pub async fn start_with(settings: &[&str]) -> Self {
        require("redis-server", &["--version"]);
        require("redis-cli", &["--version"]);
        let temp = tempfile::Builder::new()
            .prefix("redis-cluster-")
            .tempdir()
            .expect("a directory for the cluster's nodes.conf files");
        let mut cluster = Self {
            dir: temp.path().to_owned(),
            nodes: (0..3)
                .map(|_| Node {
                    port: free_port(),
                    bus_port: free_port(),
                    server: None,
                })
                .collect(),
            settings: settings.iter().map(|&s| s.to_owned()).collect(),
            _dir: temp,
        };
        for at in 0..cluster.nodes.len() {
            cluster.launch(at).await;
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let created = tokio::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .await
            .expect("redis-cli runs");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        cluster.wait_until_ok().await;
        cluster
    }

    /// The URL of the first master (any node will do for a client).
    pub fn url(&self) -> String {
        self.node_url(0)
    }

    /// The URL of master `at` (0, 1 or 2).
    pub fn node_url(&self, at: usize) -> String {
        format!("redis://127.0.0.1:{}", self.nodes[at].port)
    }

    /// How many masters there are.
    pub fn masters(&self) -> usize {
        self.nodes.len()
    }

    /// Starts master `at`'s server on its ports with its nodes.conf (kept
    /// from before, if any), and waits until it answers PING.
    async fn launch(&mut self, at: usize) {
        let node = &self.nodes[at];
        let config = self.dir.join(format!("nodes-{}.conf", node.port));
        let server = Server::spawn(&self.dir, &config, node.port, node.bus_port, &self.settings);
        self.nodes[at].server = Some(server);
        let url = self.node_url(at);
        eventually(Duration::from_secs(5), "the node answers PING", || {
            let url = url.clone();
            async move { node_answers(&url).await }
        })
        .await;
    }

    /// SIGKILL to master `at`: gone at once, with everything it held.
    pub fn kill(&mut self, at: usize) {
        if let Some(server) = self.nodes[at].server.take() {
            server.kill();
        }
    }

    /// Starts master `at` again on its port, its nodes.conf kept (so it is
    /// the same node, serving the same slots, empty), and waits until the
    /// whole cluster says `cluster_state:ok`.
    pub async fn restart(&mut self, at: usize) {
        self.kill(at);
        self.launch(at).await;
        self.wait_until_ok().await;
    }

    /// Waits until every master says `cluster_state:ok`.
    pub async fn wait_until_ok(&self) {
        let urls: Vec<String> = (0..self.masters()).map(|at| self.node_url(at)).collect();
        eventually(FORMING, "every node says cluster_state:ok", || {
            let urls = urls.clone();
            async move {
                for url in &urls {
                    let Ok(mut conn) = node_conn(url).await else {
                        return false;
                    };
                    let info: redis::RedisResult<String> = redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query_async(&mut conn)
                        .await;
                    if !info.is_ok_and(|info| info.contains("cluster_state:ok")) {
                        return false;
                    }
                }
                true
            }
        })
        .await;
    }

    /// The master serving `key`'s slot (`CLUSTER KEYSLOT`, then `CLUSTER
    /// SLOTS`), as its index.
    pub async fn master_of(&self, key: &str) -> usize {
        let mut conn = node_conn(&self.url())
            .await
            .expect("the first node answers");
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let slots: Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await
            .unwrap();
        let Value::Array(ranges) = slots else {
            panic!("CLUSTER SLOTS is an array: {slots:?}");
        };
        for range in ranges {
            let Value::Array(range) = range else { continue };
            let (Some(Value::Int(first)), Some(Value::Int(last)), Some(Value::Array(master))) =
                (range.first(), range.get(1), range.get(2))
            else {
                continue;
            };
            if (*first..=*last).contains(&slot) {
                let Some(Value::Int(port)) = master.get(1) else {
                    panic!("a master's port: {master:?}");
                };
                return self
                    .nodes
                    .iter()
                    .position(|node| i64::from(node.port) == *port)
                    .expect("the master is one of ours");
            }
        }
        panic!("slot {slot} is not served");
    }

    /// Every key on master `at` that starts with `start` (SCAN: a test
    /// looking behind the store, never the store itself).
    pub async fn keys_on(&self, at: usize, start: &str) -> Vec<String> {
        let mut conn = node_conn(&self.node_url(at))
            .await
            .expect("the node answers");
        let pattern = format!("{}*", start.replace('[', "\\[").replace('?', "\\?"));
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .unwrap();
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }

    /// A plain connection to master `at`, to look behind the store.
    pub async fn node(&self, at: usize) -> redis::aio::MultiplexedConnection {
        node_conn(&self.node_url(at))
            .await
            .expect("the node answers")
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for at in 0..self.nodes.len() {
            self.kill(at);
        }
    }
}

impl Server {
    /// `redis-server` in cluster mode under a shell that prints its pid,
    /// then kills it once its stdin closes; unless told `keep` first, it
    /// removes the node's nodes.conf (and the directory once empty).
    fn spawn(dir: &Path, config: &Path, port: u16, bus_port: u16, settings: &[String]) -> Self {
        let script = r#"
            redis-server "$@" >/dev/null 2>&1 &
            server=$!
            echo "$server"
            read -r order
            kill -9 "$server" 2>/dev/null
            wait "$server" 2>/dev/null
            # EOF, not "keep": the test binary is gone, and the node's files
            # go with it (a test that kills a node keeps them to restart it).
            if [ "$order" != keep ]; then
              rm -f "$NODE_CONF"
              rmdir "$NODE_DIR" 2>/dev/null
            fi
        "#;
        let mut watchdog = Command::new("sh")
            .args(["-c", script, "redis-cluster-node"])
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-port", &bus_port.to_string()])
            .arg("--cluster-config-file")
            .arg(config)
            .arg("--dir")
            .arg(dir)
            .args(["--save", "", "--appendonly", "no"])
            .args(settings)
            .env("NODE_CONF", config)
            .env("NODE_DIR", dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs");
        let mut line = String::new();
        BufReader::new(watchdog.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the shell prints the server's pid");
        let pid = line.trim().parse().expect("a pid");
        Self {
            pid,
            lifeline: watchdog.stdin.take().unwrap(),
            watchdog,
        }
    }

    /// SIGKILL, and the shell reaped; the node's files are kept for a
    /// restart. (A server that is already gone is not an error: this also
    /// runs when a failed test drops its cluster.)
    fn kill(mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.lifeline.write_all(b"keep\n");
        drop(self.lifeline);
        let _ = self.watchdog.wait();
    }
}

/// Fails the test with what to do when a program the cluster needs is
/// missing.
fn require(program: &str, args: &[&str]) {
    let ran = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match ran {
        Ok(status) if status.success() => {}
        Ok(status) => panic!(
            "`{program} {}` failed ({status}): the Redis Cluster tests need Redis 7 or later \
             (scripts/services.sh installs Debian's redis-server and redis-tools)",
            args.join(" ")
        ),
        Err(err) => panic!(
            "cannot run {program} ({err}): the Redis Cluster tests start their own cluster and \
             need redis-server and redis-cli on PATH (scripts/services.sh installs Debian's \
             redis-server and redis-tools)"
        ),
    }
}

async fn node_conn(url: &str) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await
}

async fn node_answers(url: &str) -> bool {
    let Ok(mut conn) = node_conn(url).await else {
        return false;
    };
    let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut conn).await;
    pong.is_ok()
}
