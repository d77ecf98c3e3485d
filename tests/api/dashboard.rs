//! The dashboard in a real browser (headless Chromium over WebDriver),
//! against the real app and real writers: jobs appear and move without a
//! reload, finish into the finished list, turn stalled when their worker
//! dies, and the page polls by itself when streams are refused.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use job_progress::{domain::ScheduleId, http::tokens::Scope, write::JobSpec};
use serde_json::{Value, json};

use support::{
    Stores, TestApp, browser::Browser, database_url_for, eager, example_binary, job, redis_url,
    spawn_app, spawn_app_with, tokens_file,
};

const WAIT: Duration = Duration::from_secs(20);

/// Marks the loaded document; a reload would lose the mark.
const MARK: &str = "window.__notReloaded = true; return true;";
const STILL_MARKED: &str = "return window.__notReloaded === true;";

/// The text of the active row of `arguments[0]`, or null.
const ROW_TEXT: &str = "const row = document.querySelector(`#active-rows tr[data-job-id=\"${arguments[0]}\"]`); \
     return row ? row.textContent : null;";

async fn open(app: &TestApp, path: &str) -> Browser {
    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}{path}", app.address)).await;
    assert_eq!(browser.eval(MARK, json!([])).await, true);
    browser
}

async fn connection(browser: &Browser) -> Value {
    browser
        .eval(
            "return document.getElementById('conn').dataset.state",
            json!([]),
        )
        .await
}

async fn wait_for_state(browser: &Browser, state: &str) {
    browser
        .wait_for(
            WAIT,
            &format!("the indicator says {state}"),
            "return document.getElementById('conn').dataset.state === arguments[0];",
            json!([state]),
        )
        .await;
}

/// Waits until the bar of `id` shows `pct` and its row `text`.
async fn wait_for_bar(browser: &Browser, id: &str, pct: u32, text: &str) {
    browser
        .wait_for(
            WAIT,
            &format!("{id} shows {pct} % and '{text}'"),
            "const row = document.querySelector(`#active-rows tr[data-job-id=\"${arguments[0]}\"]`); \
             if (!row) return false; \
             const bar = row.querySelector('progress'); \
             return bar.value === arguments[1] && row.textContent.includes(arguments[2]);",
            json!([id, pct, text]),
        )
        .await;
}

async fn a_running_job_advances_live_and_moves_to_finished_without_a_reload(stores: Stores) {
    let app = stores.spawn().await;
    let writer = app.writer(eager());
    let schedule = ScheduleId::parse("black-friday").unwrap();
    let handle = writer.start(
        job("push-1"),
        JobSpec::new(12_000)
            .chunked(1_000, Duration::from_millis(10))
            .schedule(schedule),
    );
    handle.record(1_200, 0).unwrap();
    handle.flush().await;
    let other = writer.start(job("other-2"), JobSpec::new(10));
    other.flush().await;

    let browser = open(&app, "/").await;
    wait_for_state(&browser, "live").await;
    wait_for_bar(&browser, "push-1", 10, "1,200 of 12,000").await;
    let row = browser.eval(ROW_TEXT, json!(["push-1"])).await;
    assert!(row.as_str().unwrap().contains("black-friday"), "{row}");

    handle.set_chunk(6).unwrap();
    handle.record(4_500, 300).unwrap();
    handle.flush().await;
    wait_for_bar(&browser, "push-1", 50, "6,000 of 12,000").await;
    let row = browser.eval(ROW_TEXT, json!(["push-1"])).await;
    assert!(row.as_str().unwrap().contains("5,700 / 300"), "{row}");
    assert!(
        row.as_str().unwrap().contains("6 of 12"),
        "chunk n of m: {row}"
    );

    // The filter narrows the list to what matches.
    browser.type_into("#filter", "push").await;
    browser
        .wait_for(
            WAIT,
            "only push-1 is listed",
            "const rows = [...document.querySelectorAll('#active-rows tr')]; \
             return rows.length === 1 && rows[0].dataset.jobId === 'push-1';",
            json!([]),
        )
        .await;

    handle.record(5_000, 1_000).unwrap();
    handle.complete().await.unwrap();
    browser
        .wait_for(
            WAIT,
            "push-1 leaves the active list for the finished one",
            "const done = document.querySelector('#finished-rows tr[data-job-id=\"push-1\"]'); \
             return !document.querySelector('#active-rows tr[data-job-id=\"push-1\"]') \
                 && !!done && done.textContent.includes('completed') \
                 && done.textContent.includes('12,000 of 12,000');",
            json!([]),
        )
        .await;
    assert_eq!(browser.eval(STILL_MARKED, json!([])).await, true);
    assert_eq!(connection(&browser).await, "live");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_killed_workers_job_gets_the_stalled_badge(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool.clone(), |o| o.settings.stall_floor_secs = 1).await;
    let mut worker = Command::new(example_binary("send_campaign"))
        .args(["--job-id", "doomed", "--total", "1000000"])
        .args(["--chunk-size", "100", "--pause-ms", "20", "--work-ms", "20"])
        .env("REDIS_URL", redis_url())
        .env("KEY_PREFIX", app.keys.prefix())
        .env("DATABASE_URL", database_url_for(&pool))
        .env("FLUSH_INTERVAL_MS", "100")
        .env("HEARTBEAT_MS", "200")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let browser = open(&app, "/").await;
    browser
        .wait_for(
            WAIT,
            "the worker's job is listed, not stalled",
            "const row = document.querySelector('#active-rows tr[data-job-id=\"doomed\"]'); \
             return !!row && row.dataset.stalled === 'false' && !row.querySelector('.badge.stalled');",
            json!([]),
        )
        .await;

    worker.kill().unwrap(); // SIGKILL: no final write
    worker.wait().unwrap();
    browser
        .wait_for(
            Duration::from_secs(30),
            "the stalled badge shows",
            "const row = document.querySelector('#active-rows tr[data-job-id=\"doomed\"]'); \
             const badge = row && row.querySelector('.badge.stalled'); \
             return !!badge && badge.textContent === 'stalled';",
            json!([]),
        )
        .await;
    assert_eq!(browser.eval(STILL_MARKED, json!([])).await, true);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn with_streams_refused_the_page_polls_and_still_moves(pool: sqlx::PgPool) {
    // No stream may open: every EventSource meets a 503.
    let app = spawn_app_with(pool, |o| o.settings.push.sse_max_streams = 0).await;
    let writer = app.writer(eager());
    let handle = writer.start(job("polled"), JobSpec::new(1_000));
    handle.record(100, 0).unwrap();
    handle.flush().await;

    let browser = open(&app, "/").await;
    wait_for_state(&browser, "polling").await;
    wait_for_bar(&browser, "polled", 10, "100 of 1,000").await;
    handle.record(650, 0).unwrap();
    handle.flush().await;
    wait_for_bar(&browser, "polled", 75, "750 of 1,000").await;
    assert_eq!(browser.eval(STILL_MARKED, json!([])).await, true);
    assert_eq!(connection(&browser).await, "polling");

    // The job page polls too, and shows the error of a failed job.
    browser.click("#active-rows a[href='/jobs/polled']").await;
    browser
        .wait_for(
            WAIT,
            "the job page shows the job",
            "return document.getElementById('job-title').textContent === 'polled' \
                 && document.getElementById('job-bar').value === 75;",
            json!([]),
        )
        .await;
    handle
        .fail("the provider closed the account")
        .await
        .unwrap();
    browser
        .wait_for(
            WAIT,
            "the job page shows the failure",
            "return document.getElementById('job-fields').dataset.status === 'failed' \
                 && document.getElementById('job-error').textContent === 'the provider closed the account' \
                 && document.querySelectorAll('#chart polyline').length === 1;",
            json!([]),
        )
        .await;
    assert_eq!(
        browser.eval(STILL_MARKED, json!([])).await,
        true,
        "following the link did not reload the page"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_job_page_streams_and_draws_the_estimated_end(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let handle = writer.start(job("charted"), JobSpec::new(10_000));
    handle.flush().await;
    let browser = open(&app, "/jobs/charted").await;
    wait_for_state(&browser, "live").await;
    // Updates spaced in time, until the writer has an estimate of the end.
    let mut estimated = None;
    for _ in 0..40 {
        handle.record(200, 0).unwrap();
        handle.flush().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let record = handle.progress();
        if record.estimated_end_at.is_some() {
            estimated = Some(record);
            break;
        }
    }
    let record = estimated.expect("the writer estimates the end within 40 updates");
    browser
        .wait_for(
            WAIT,
            "the chart has its line and the dashed ETA line",
            "return document.getElementById('job-bar').value === arguments[0] \
                 && document.querySelectorAll('#chart polyline').length === 1 \
                 && document.querySelectorAll('#chart line.eta').length === 1 \
                 && document.getElementById('job-fields').textContent.includes('Estimated end');",
            json!([record.progress_percentage]),
        )
        .await;
    handle.complete().await.unwrap();
    wait_for_state(&browser, "done").await;
    assert_eq!(browser.eval(STILL_MARKED, json!([])).await, true);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn with_read_tokens_required_the_page_asks_once_per_session(pool: sqlx::PgPool) {
    let token = job_progress::http::tokens::new_token(Scope::Read, "wallboard").unwrap();
    let (_dir, path) = tokens_file(&[&token.line]);
    let app = spawn_app_with(pool, |o| {
        o.settings.access.tokens_file = Some(path);
        o.settings.access.require_read_token = true;
    })
    .await;
    let writer = app.writer(eager());
    let handle = writer.start(job("secret-1"), JobSpec::new(100));
    handle.record(30, 0).unwrap();
    handle.flush().await;

    let browser = open(&app, "/").await;
    browser
        .wait_for(
            WAIT,
            "the token form shows",
            "return !document.getElementById('token-form').hidden;",
            json!([]),
        )
        .await;
    browser.type_into("#token", "not-the-token").await;
    browser.click("#token-form button[type=submit]").await;
    browser
        .wait_for(
            WAIT,
            "a wrong token is refused",
            "return document.getElementById('token-error').textContent.includes('not accepted');",
            json!([]),
        )
        .await;
    browser
        .eval(
            "document.getElementById('token').value = ''; return true;",
            json!([]),
        )
        .await;
    browser.type_into("#token", &token.token).await;
    browser.click("#token-form button[type=submit]").await;
    wait_for_state(&browser, "live").await;
    wait_for_bar(&browser, "secret-1", 30, "30 of 100").await;

    // A reload in the same tab keeps the token: no second question.
    browser.goto(&format!("{}/", app.address)).await;
    wait_for_state(&browser, "live").await;
    wait_for_bar(&browser, "secret-1", 30, "30 of 100").await;
    let asked = browser
        .eval(
            "return !document.getElementById('token-form').hidden;",
            json!([]),
        )
        .await;
    assert_eq!(asked, false);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_page_and_its_assets_are_served_whole_with_a_strict_policy(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    for path in ["/", "/jobs/any-job"] {
        let page = app.get(path).await;
        assert_eq!(page.status(), 200, "{path}");
        let policy = page.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"),
            "{policy}"
        );
        assert!(
            !page.headers().contains_key("x-ratelimit-limit"),
            "the page is not counted against the API's rate limit"
        );
        let html = page.text().await.unwrap();
        assert!(
            html.contains("/assets/app.js") && !html.contains("http"),
            "nothing external"
        );
    }
    let script = app.get("/assets/app.js").await;
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let etag = script.headers()["etag"].to_str().unwrap().to_owned();
    let again = app.get_with("/assets/app.js", "If-None-Match", &etag).await;
    assert_eq!(again.status(), 304);

    let missing = app.get("/assets/nothing.js").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(support::envelope(missing).await["statusCode"], 404);
}

support::on_both_stores!(a_running_job_advances_live_and_moves_to_finished_without_a_reload,);
