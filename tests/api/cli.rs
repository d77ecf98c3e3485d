//! `job-progress watch` and `ls`: the real binary, run as a child process
//! against the real app, with its standard streams piped (so neither is a
//! terminal: plain lines, no bar). `tls.rs`: the same commands over https.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use job_progress::{
    domain::{JobStatus, ProgressRecord},
    http::tokens::{Scope, new_token},
    store::HotStore as _,
    write::JobSpec,
};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader, Lines},
    process::{Child, ChildStderr, Command},
};

use job_progress::store::PgArchive;

use support::{
    DEAD_POSTGRES, DEAD_REDIS, TestApp, eager, job, spawn_app, spawn_app_with, tokens_file,
};

mod tls;
mod views;

/// Longest any command here may take.
const LIMIT: Duration = Duration::from_secs(30);

/// A running `job-progress` and its standard error, line by line.
struct Running {
    child: Child,
    stderr: Lines<BufReader<ChildStderr>>,
    seen: Vec<String>,
}

/// What a finished run left.
#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `job-progress <args> --api <the app>`, without the caller's
/// `JOB_PROGRESS_*` variables.
fn start(api: &str, args: &[&str]) -> Running {
    start_with(api, args, &[])
}

/// [`start`] with `env` set: the caller's `JOB_PROGRESS_*` variables and
/// the system roots' overrides (`SSL_CERT_*`) are left out, the given
/// ones put in.
fn start_with(api: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut child = Command::new(crate::SERVER_BINARY)
        .args(args)
        .args(["--api", api])
        .env_remove("JOB_PROGRESS_API")
        .env_remove("JOB_PROGRESS_TOKEN")
        .env_remove("JOB_PROGRESS_CACERT")
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    Running {
        child,
        stderr,
        seen: Vec::new(),
    }
}

impl Running {
    /// Waits for a line of standard error containing `needle`.
    async fn line_with(&mut self, needle: &str) -> String {
        let found = tokio::time::timeout(LIMIT, async {
            while let Some(line) = self.stderr.next_line().await.unwrap() {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await
        .unwrap_or_else(|_| panic!("no line with '{needle}' within {LIMIT:?}: {:?}", self.seen));
        found.unwrap_or_else(|| panic!("exited before a line with '{needle}': {:?}", self.seen))
    }

    /// Waits for the exit.
    async fn finish(mut self) -> Ran {
        let mut stdout = String::new();
        let mut out = self.child.stdout.take().unwrap();
        let ran = tokio::time::timeout(LIMIT, async {
            out.read_to_string(&mut stdout).await.unwrap();
            while let Some(line) = self.stderr.next_line().await.unwrap() {
                self.seen.push(line);
            }
            self.child.wait().await.unwrap()
        })
        .await
        .unwrap_or_else(|_| panic!("still running after {LIMIT:?}: {:?}", self.seen));
        Ran {
            code: ran.code().expect("an exit code, not a signal"),
            stdout,
            stderr: self.seen.join("\n"),
        }
    }
}

async fn run(app: &TestApp, args: &[&str]) -> Ran {
    start(&app.address, args).finish().await
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn watch_exits_0_when_the_job_completes_with_one_plain_line_per_update(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let handle = writer.start(job("import-42"), JobSpec::new(10));
    handle.record(3, 1).unwrap();
    handle.flush().await;

    let mut watch = start(&app.address, &["watch", "import-42"]);
    let first = watch.line_with("in_progress").await;
    assert!(
        first.starts_with("import-42 in_progress 4/10 40% failed 1 "),
        "{first}"
    );
    assert!(
        first.contains("ETA"),
        "the server's ETA, or that it has none: {first}"
    );
    handle.record(6, 0).unwrap();
    handle.complete().await.unwrap();
    let ran = watch.finish().await;

    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stderr
            .contains("import-42 completed 10/10 100% failed 1"),
        "{ran:?}"
    );
    assert!(
        !ran.stderr.contains('\x1b'),
        "no colour or bar outside a terminal: {ran:?}"
    );
    assert!(
        ran.stdout.is_empty(),
        "updates go to standard error: {ran:?}"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn watch_exits_1_when_the_job_fails_and_json_prints_each_record_on_a_line(
    pool: sqlx::PgPool,
) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let handle = writer.start(job("send-7"), JobSpec::new(100));
    handle.record(20, 0).unwrap();
    handle.flush().await;

    let mut watch = start(&app.address, &["watch", "send-7", "--json"]);
    // The first record on standard output: the watcher has the job.
    let stdout = watch.child.stdout.take().unwrap();
    let mut records = BufReader::new(stdout).lines();
    let first: ProgressRecord =
        serde_json::from_str(&records.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(
        (first.status, first.current_sent_count),
        (JobStatus::InProgress, 20)
    );
    handle.fail("the mail relay refused us").await.unwrap();
    let mut last = first;
    while let Some(line) = records.next_line().await.unwrap() {
        last = serde_json::from_str(&line).expect("every stdout line is one record");
    }
    let code = tokio::time::timeout(LIMIT, watch.child.wait())
        .await
        .unwrap()
        .unwrap();

    assert_eq!(code.code(), Some(1));
    assert_eq!(last.status, JobStatus::Failed);
    assert_eq!(
        last.error_message.as_deref(),
        Some("the mail relay refused us")
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn watch_exits_2_for_an_unknown_job(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let ran = run(&app, &["watch", "never-started"]).await;
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("unknown job"), "{ran:?}");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn watch_exits_2_once_the_job_has_been_stalled_past_the_timeout(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    // A worker that died two hours ago: its last record, never refreshed.
    let mut record = ProgressRecord::new(job("orphan"), JobStatus::InProgress, Some(50));
    record.success_count = 5;
    record.started_at = Some(chrono::Utc::now() - chrono::Duration::hours(3));
    record.updated_at = Some(chrono::Utc::now() - chrono::Duration::hours(2));
    record.refresh_interval_ms = Some(15_000);
    app.redis().write(&record.normalized()).await.unwrap();

    let started = Instant::now();
    let ran = run(&app, &["watch", "orphan", "--timeout", "2"]).await;

    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains("STALLED"),
        "the update says so: {ran:?}"
    );
    // Checked every second: "stalled for 2s" or "3s".
    assert!(ran.stderr.contains("job-progress: stalled for "), "{ran:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not before --timeout"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn watch_falls_back_to_polling_when_no_stream_can_be_opened(pool: sqlx::PgPool) {
    // No stream may open: every `events` request is a 503.
    let app = spawn_app_with(pool, |o| o.settings.push.sse_max_streams = 0).await;
    let writer = app.writer(eager());
    let handle = writer.start(job("polled"), JobSpec::new(4));
    handle.record(1, 0).unwrap();
    handle.flush().await;
    assert_eq!(app.get("/api/v1/jobs/polled/events").await.status(), 503);

    let mut watch = start(&app.address, &["watch", "polled"]);
    watch.line_with("polled in_progress 1/4").await;
    handle.record(3, 0).unwrap();
    handle.complete().await.unwrap();
    let ran = watch.finish().await;

    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stderr.contains("polled completed 4/4"), "{ran:?}");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_refused_token_and_an_unreachable_api_exit_3_with_a_clear_message(pool: sqlx::PgPool) {
    let read = new_token(Scope::Read, "ci").unwrap();
    let (_dir, path) = tokens_file(&[&read.line]);
    let app = spawn_app_with(pool, |o| {
        o.settings.access.tokens_file = Some(path);
        o.settings.access.require_read_token = true;
    })
    .await;
    let writer = app.writer(eager());
    writer
        .start(job("guarded"), JobSpec::new(1))
        .complete()
        .await
        .unwrap();

    let refused = run(&app, &["watch", "guarded"]).await;
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused.stderr.contains("401") && refused.stderr.contains("--token"),
        "{refused:?}"
    );

    // `=`: a token may start with `-`.
    let allowed = run(
        &app,
        &["watch", "guarded", &format!("--token={}", read.token)],
    )
    .await;
    assert_eq!(allowed.code, 0, "{allowed:?}");
    assert!(
        !allowed.stderr.contains(&read.token),
        "the token is never echoed"
    );

    let down = start(
        "http://127.0.0.1:1",
        &["watch", "guarded", "--retry-for", "0"],
    )
    .finish()
    .await;
    assert_eq!(down.code, 3, "{down:?}");
    assert!(down.stderr.contains("cannot reach the API"), "{down:?}");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_rate_limited_watcher_waits_as_told_and_still_sees_the_end(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |o| {
        o.settings.access.rate_limit_per_second = 1;
        o.settings.access.rate_limit_burst = 1;
    })
    .await;
    let writer = app.writer(eager());
    let handle = writer.start(job("limited"), JobSpec::new(2));
    handle.record(2, 0).unwrap();
    handle.complete().await.unwrap();
    // The test and the watcher are one client (one address): this read
    // takes the only token, so the watcher's first request is a 429.
    assert_eq!(app.get_progress("limited").await.status(), 200);

    let ran = run(&app, &["watch", "limited"]).await;

    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stderr.contains("rate limited by the API (429"),
        "{ran:?}"
    );
    assert!(ran.stderr.contains("limited completed 2/2"), "{ran:?}");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_failing_server_is_retried_for_retry_for_then_watch_exits_3(pool: sqlx::PgPool) {
    let dead = PgArchive::connect_lazy(
        DEAD_POSTGRES,
        1,
        Duration::from_millis(300),
        Duration::from_millis(500),
    )
    .unwrap();
    let app = spawn_app_with(pool, |o| {
        o.redis_url = DEAD_REDIS.into();
        o.archive = Some(dead);
    })
    .await;

    let started = Instant::now();
    let ran = run(&app, &["watch", "any", "--retry-for", "2"]).await;

    assert_eq!(ran.code, 3, "{ran:?}");
    assert!(ran.stderr.contains("the API answered 503"), "{ran:?}");
    assert!(ran.stderr.contains("gave up"), "{ran:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "retried for --retry-for"
    );
    assert_eq!(
        ran.stderr.matches("retrying for up to 2s").count(),
        1,
        "one line per outage, not per try: {ran:?}"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn ls_lists_a_running_job_as_a_table_and_as_json_lines(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let running = writer.start(job("campaign-1"), JobSpec::new(200));
    running.record(50, 2).unwrap();
    running.flush().await;
    writer
        .start(job("done-1"), JobSpec::new(1))
        .complete()
        .await
        .unwrap();

    let ran = run(&app, &["ls"]).await;
    assert_eq!(ran.code, 0, "{ran:?}");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(lines[0].starts_with("JOB"), "a header: {ran:?}");
    assert_eq!(lines.len(), 2, "the running job only: {ran:?}");
    assert!(
        lines[1].starts_with("campaign-1  in_progress  52/200"),
        "{ran:?}"
    );
    assert!(!ran.stdout.contains('\x1b'), "no colour outside a terminal");

    let json = run(&app, &["ls", "--json"]).await;
    let records: Vec<ProgressRecord> = json
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one record a line"))
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].failure_count, 2);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn ls_watch_prints_the_table_again_as_jobs_move(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let running = writer.start(job("moving"), JobSpec::new(10));
    running.record(1, 0).unwrap();
    running.flush().await;

    let mut ls = start(&app.address, &["ls", "--watch", "--interval", "1"]);
    let mut rows = BufReader::new(ls.child.stdout.take().unwrap()).lines();
    let mut next_row = async || loop {
        let line = rows.next_line().await.unwrap().expect("ls --watch runs on");
        if line.starts_with("moving") {
            return line;
        }
    };
    let first = tokio::time::timeout(LIMIT, next_row()).await.unwrap();
    assert!(first.contains("1/10"), "{first}");
    running.record(4, 0).unwrap();
    running.flush().await;
    let moved = tokio::time::timeout(LIMIT, async {
        loop {
            let row = next_row().await;
            if row.contains("5/10") {
                return row;
            }
        }
    })
    .await
    .expect("a later table shows the job moved");
    assert!(moved.contains("in_progress"), "{moved}");
    ls.child.kill().await.unwrap();
}
