//! A headless Chromium driven over W3C WebDriver, for the dashboard tests.
//!
//! The protocol is JSON over HTTP and the tests need six of its commands
//! (new session, navigate, execute script, find element, send keys,
//! click), so they speak it through the `reqwest` client the other tests
//! use rather than a WebDriver crate: `thirtyfour` 0.38 would turn on
//! serde_json's `preserve_order` for the whole test build (features
//! unify), so the library under test would not be the one that ships.
//!
//! Chromium and chromedriver come from Debian's `chromium` and
//! `chromium-driver` (`scripts/services.sh` installs them). When they are
//! missing or do not start, the test fails, loudly: it never skips.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

/// The W3C name of an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One chromedriver process and one browser session in it.
pub struct Browser {
    driver: Child,
    base: String,
    client: reqwest::Client,
}

fn program(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_owned())
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium of
    /// `width` x `height` CSS pixels in it.
    pub async fn start(width: u32, height: u32) -> Self {
        let driver_bin = program("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chrome_bin = program("CHROME_BIN", "/usr/bin/chromium");
        let port = crate::local_server::free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start {driver_bin} ({err}): the dashboard tests need Debian's \
                     chromium and chromium-driver; scripts/services.sh installs them"
                )
            });
        let client = job_progress::outbound::client_builder(None)
            .expect("the TLS setup")
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut browser = Self {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            client,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = browser
                .client
                .get(format!("{}/status", browser.base))
                .send()
                .await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let session = browser
            .command(
                "POST",
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chrome_bin,
                        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--no-first-run", "--lang=en-US",
                                 format!("--window-size={width},{height}")],
                    },
                }}}),
            )
            .await;
        let id = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("Chromium did not start: {session}"))
            .to_owned();
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    /// Sends one WebDriver command; its `value`, or a panic naming the error.
    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "POST" => self.client.post(url).json(&body),
            "DELETE" => self.client.delete(url),
            _ => self.client.get(url),
        };
        let response = request.send().await.expect("chromedriver answers");
        let status = response.status();
        let body: Value = response.json().await.expect("a WebDriver JSON answer");
        assert!(status.is_success(), "WebDriver {method} {path}: {body}");
        body["value"].clone()
    }

    /// Loads `url` (a real navigation: the page starts afresh).
    pub async fn goto(&self, url: &str) {
        self.command("POST", "/url", json!({ "url": url })).await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the
    /// page and returns what it returns.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// Waits until `script` returns true in the page.
    pub async fn wait_for(&self, limit: Duration, what: &str, script: &str, args: Value) {
        let deadline = Instant::now() + limit;
        loop {
            if self.eval(script, args.clone()).await == true {
                return;
            }
            if Instant::now() > deadline {
                let state = self
                    .eval(
                        "return document.getElementById('conn')?.textContent",
                        json!([]),
                    )
                    .await;
                panic!("not within {limit:?}: {what} (connection indicator: {state})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The element `css` selects, as a WebDriver reference.
    async fn find(&self, css: &str) -> String {
        let found = self
            .command(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    /// Types `text` into the element `css` selects, as a user would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command(
            "POST",
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Clicks the element `css` selects, as a user would.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command("POST", &format!("/element/{element}/click"), json!({}))
            .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session quits Chromium; killing only the driver would
        // leave the browser running. Drop cannot await: one raw request.
        use std::io::{Read as _, Write as _};
        let rest = self.base.trim_start_matches("http://");
        if let Some((host, path)) = rest.split_once('/')
            && let Ok(mut socket) = std::net::TcpStream::connect(host)
        {
            let _ = socket.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                socket,
                "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            );
            let _ = socket.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
