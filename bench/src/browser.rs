//! A headless Chromium driven over W3C WebDriver, and the CPU its
//! processes use: what the dashboard page costs the machine it is open on.
//!
//! The protocol is JSON over HTTP on loopback, and a measurement needs four
//! of its commands (new session, navigate, execute script, end session)
//! and one of chromedriver's own (`goog/cdp/execute`, a DevTools command),
//! so it is spoken through `reqwest` as the dashboard tests do
//! (`tests/support/src/browser.rs`, which says why no WebDriver crate).
//! That client panics, as a test wants; this one returns errors, knows the
//! driver's processes, and does not leave Chromium running when the bench
//! program is stopped (see [`Browser::start`]).
//!
//! Chromium and chromedriver come from Debian's `chromium` and
//! `chromium-driver` (`scripts/services.sh` installs them).

use std::{
    os::unix::process::CommandExt as _,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::procfs::{cmdline, cpu_time, descendants};

/// One chromedriver process and one browser session in it.
pub struct Browser {
    driver: Child,
    /// `http://127.0.0.1:<port>/session/<id>`
    session: String,
    client: reqwest::Client,
}

/// CPU time the browser's processes have used so far, each process's
/// utime + stime from `/proc` (10 ms ticks).
#[derive(Clone, Debug, Default)]
pub struct BrowserCpu {
    /// Per process below the driver: pid, its kind (the `--type=` of its
    /// command line: `renderer`, `gpu-process`, `zygote`, `utility`..., or
    /// `browser` without one), its CPU time.
    processes: Vec<(u32, String, Duration)>,
}

impl BrowserCpu {
    /// Each process's CPU used since `earlier`, in seconds, with its pid
    /// and kind. A process that started since counts from zero; one that
    /// ended since is left out (its time is lost with it).
    pub fn since(&self, earlier: &BrowserCpu) -> Vec<(u32, &str, f64)> {
        self.processes
            .iter()
            .map(|(pid, kind, now)| {
                let before = earlier
                    .processes
                    .iter()
                    .find(|(p, ..)| p == pid)
                    .map_or(Duration::ZERO, |(.., t)| *t);
                (
                    *pid,
                    kind.as_str(),
                    now.saturating_sub(before).as_secs_f64(),
                )
            })
            .collect()
    }
}

/// The kind of a Chromium process, from its command line.
fn kind(cmdline: &str) -> String {
    cmdline
        .split(' ')
        .find_map(|arg| arg.strip_prefix("--type="))
        .unwrap_or("browser")
        .to_owned()
}

impl Browser {
    /// Starts `driver` (chromedriver) on a free port and a headless
    /// `chrome` of `width` x `height` CSS pixels in it, as the dashboard
    /// tests start theirs. From then on a SIGTERM or SIGINT (the suite's
    /// cleanup) ends the driver and the browser, then this program:
    /// Chromium outlives a driver that merely exits.
    pub async fn start(
        driver: &str,
        chrome: &str,
        width: u32,
        height: u32,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let client = job_progress::outbound::client_builder(None)?
            .timeout(Duration::from_secs(60))
            .build()?;
        // A process group of its own, which the browser it starts joins:
        // one signal ends them all.
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .with_context(|| {
                format!("cannot start {driver}: Debian's chromium-driver (scripts/services.sh)")
            })?;
        end_with_this_program(driver.id());
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Self {
            driver,
            session: base.clone(),
            client,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = browser.client.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                break;
            }
            if Instant::now() > deadline {
                bail!("chromedriver did not become ready within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let session = browser
            .command(
                "POST",
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chrome,
                        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--no-first-run", "--lang=en-US",
                                 format!("--window-size={width},{height}")],
                    },
                }}}),
            )
            .await?;
        let id = session["sessionId"]
            .as_str()
            .with_context(|| format!("Chromium did not start: {session}"))?;
        browser.session = format!("{base}/session/{id}");
        Ok(browser)
    }

    /// Sends one WebDriver command; its `value`.
    async fn command(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.session);
        let request = match method {
            "POST" => self.client.post(url).json(&body),
            "DELETE" => self.client.delete(url),
            _ => self.client.get(url),
        };
        let response = request.send().await.context("chromedriver answers")?;
        let status = response.status();
        let body: Value = response.json().await.context("a WebDriver JSON answer")?;
        if !status.is_success() {
            bail!("WebDriver {method} {path}: {body}");
        }
        Ok(body["value"].clone())
    }

    /// Loads `url` (a real navigation: the page starts afresh).
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.command("POST", "/url", json!({ "url": url })).await?;
        Ok(())
    }

    /// Runs `script` (a function body) in the page; what it returns.
    pub async fn eval(&self, script: &str) -> anyhow::Result<Value> {
        self.command(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// Waits until `script` returns true in the page, asking every 50 ms.
    pub async fn wait_for(&self, limit: Duration, what: &str, script: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while self.eval(script).await? != true {
            if Instant::now() > deadline {
                bail!("not within {limit:?}: {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Runs one DevTools protocol command in the page's target, through
    /// chromedriver; its result.
    pub async fn cdp(&self, cmd: &str, params: Value) -> anyhow::Result<Value> {
        self.command(
            "POST",
            "/goog/cdp/execute",
            json!({ "cmd": cmd, "params": params }),
        )
        .await
    }

    /// The CPU time of every process below the driver now (the browser,
    /// its renderers, its GPU and network service processes).
    pub fn cpu(&self) -> anyhow::Result<BrowserCpu> {
        let mut processes = Vec::new();
        for pid in descendants(self.driver.id())? {
            // one that ends between the walk and the read is left out
            if let Ok(used) = cpu_time(pid) {
                processes.push((pid, kind(&cmdline(pid)), used));
            }
        }
        Ok(BrowserCpu { processes })
    }

    /// Ends the session (which quits Chromium), then whatever is left of
    /// the driver's process group.
    pub async fn quit(mut self) -> anyhow::Result<()> {
        let ended = self.command("DELETE", "", json!({})).await;
        kill_group();
        self.driver.wait()?;
        ended.map(drop)
    }
}

impl Drop for Browser {
    /// A browser left behind by an error ends too: its whole group at once
    /// (after [`Browser::quit`] there is nothing left to end).
    fn drop(&mut self) {
        kill_group();
        let _ = self.driver.wait();
    }
}

/// The driver's process group while it runs (its pid), else 0: the one
/// place the signal handler learns whether there is a browser to end.
static RUNNING_GROUP: AtomicU32 = AtomicU32::new(0);

/// SIGKILL to every process of the driver's group, once.
fn kill_group() {
    let group = RUNNING_GROUP.swap(0, Ordering::SeqCst);
    if group != 0 {
        // SAFETY: kill(2) touches no memory of this process.
        unsafe { libc::kill(-(group as i32), libc::SIGKILL) };
    }
}

/// Ends the driver's process group, then this program, on SIGTERM or
/// SIGINT: without it, a bench program stopped by the suite's cleanup
/// (TERM, then KILL a second later) would leave Chromium running. The
/// handler stays for the program's life (tokio never uninstalls one).
fn end_with_this_program(group: u32) {
    use tokio::signal::unix::{SignalKind, signal};
    RUNNING_GROUP.store(group, Ordering::SeqCst);
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::spawn(async move {
        let code = tokio::select! {
            _ = term.recv() => 143,
            _ = int.recv() => 130,
        };
        kill_group();
        std::process::exit(code);
    });
}
