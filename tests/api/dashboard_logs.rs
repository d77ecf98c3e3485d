//! The job page's log panel and charts, in a real browser: lines shown as
//! text in order, coloured by level, the last 1,000 kept, scrolling that
//! follows the newest line until the reader scrolls up; the rate drawn
//! beneath the processed chart.

use std::time::Duration;

use job_progress::write::JobSpec;
use serde_json::json;

use support::{browser::Browser, eager, job, spawn_app};

const WAIT: Duration = Duration::from_secs(20);

/// Feeds `arguments[0]` lines, numbered from `arguments[1]`, to a panel on
/// the page's log list, the way the stream's `log` events do.
const FEED: &str = "return import('/assets/logs.js').then((m) => { \
       window.__panel = window.__panel || new m.LogPanel(document.getElementById('logs'), 'x'); \
       const lines = []; \
       for (let i = 0; i < arguments[0]; i += 1) { \
         const seq = arguments[1] + i; \
         lines.push({ seq, at: new Date().toISOString(), level: seq % 10 === 0 ? 'error' : 'info', \
                      message: `line ${seq} <img src=x onerror=alert(1)>` }); \
       } \
       window.__panel.add(lines); \
       const list = document.getElementById('logs'); \
       return { count: list.childElementCount, first: list.firstElementChild.dataset.seq, \
                last: list.lastElementChild.dataset.seq, images: list.querySelectorAll('img').length, \
                errors: list.querySelectorAll('li.log-error').length, top: list.scrollTop, \
                bottom: list.scrollHeight - list.clientHeight }; });";

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_log_panel_keeps_the_last_thousand_lines_as_text_and_pauses_when_scrolled_up(
    pool: sqlx::PgPool,
) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let handle = writer.start(job("logged"), JobSpec::new(1_000));
    handle.flush().await;
    let browser = Browser::start(390, 800).await;
    browser.goto(&format!("{}/jobs/logged", app.address)).await;
    browser
        .wait_for(
            WAIT,
            "the job page shows",
            "return document.getElementById('job-title').textContent === 'logged';",
            json!([]),
        )
        .await;

    let shown = browser.eval(FEED, json!([1005, 1])).await;
    assert_eq!(shown["count"], 1000, "{shown}");
    assert_eq!(shown["first"], "6", "the oldest lines go: {shown}");
    assert_eq!(shown["last"], "1005", "{shown}");
    assert_eq!(shown["images"], 0, "messages are text, never markup");
    assert_eq!(shown["errors"], 100, "error lines are marked: {shown}");
    assert_eq!(shown["top"], shown["bottom"], "follows the newest line");
    let text = browser
        .eval(
            "return document.querySelector('#logs li:last-child .text').textContent;",
            json!([]),
        )
        .await;
    assert_eq!(text, "line 1005 <img src=x onerror=alert(1)>");

    // Repeats (a reopened stream) are not shown twice.
    let again = browser.eval(FEED, json!([5, 1003])).await;
    assert_eq!(again["last"], "1007", "{again}");
    assert_eq!(again["count"], 1000);

    // The reader scrolls up: new lines arrive, the view stays put.
    browser
        .eval(
            "const list = document.getElementById('logs'); list.scrollTop = 0; \
             list.dispatchEvent(new Event('scroll')); return true;",
            json!([]),
        )
        .await;
    let paused = browser.eval(FEED, json!([5, 1008])).await;
    assert_eq!(paused["top"], 0, "{paused}");
    assert_eq!(
        browser
            .eval(
                "return !document.getElementById('logs-paused').hidden;",
                json!([])
            )
            .await,
        true
    );

    // The rate over time is drawn beneath the processed chart.
    for step in 1..=3 {
        handle.record(100, 0).unwrap();
        handle.flush().await;
        browser
            .wait_for(
                WAIT,
                "the page has the update",
                "return document.getElementById('job-bar').value === arguments[0];",
                json!([step * 10]),
            )
            .await;
    }
    browser
        .wait_for(
            WAIT,
            "the rate chart has its line",
            "return document.querySelectorAll('#rate-chart polyline.rate').length === 1;",
            json!([]),
        )
        .await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_job_page_shows_the_jobs_log_from_the_server(pool: sqlx::PgPool) {
    let app = support::app_with_tokens(pool, |_| {}).await;
    assert_eq!(app.declare("logged-2", json!({"total": 10})).await.0, 201);
    let (status, body) = app
        .send(
            "POST",
            "/api/v1/jobs/logged-2/logs",
            json!({"lines": [
                {"level": "info", "message": "started <b>bold</b>"},
                {"level": "error", "message": "row 17 refused"},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let browser = Browser::start(1280, 900).await;
    browser
        .goto(&format!("{}/jobs/logged-2", app.app.address))
        .await;
    browser
        .wait_for(
            WAIT,
            "the log's lines show, as text, the error marked",
            "const items = [...document.querySelectorAll('#logs li')]; \
             return items.length === 2 \
                 && items[0].querySelector('.text').textContent === 'started <b>bold</b>' \
                 && !document.querySelector('#logs b') \
                 && items[1].classList.contains('log-error');",
            json!([]),
        )
        .await;
    // A line logged later arrives without a reload (stream or poll).
    app.send(
        "POST",
        "/api/v1/jobs/logged-2/logs",
        json!({"lines": [{"level": "warn", "message": "slow provider"}]}),
    )
    .await;
    app.complete("logged-2", json!({"successCount": 10, "failureCount": 0}))
        .await;
    browser
        .wait_for(
            WAIT,
            "the later line shows",
            "const last = document.querySelector('#logs li:last-child'); \
             return document.querySelectorAll('#logs li').length === 3 \
                 && last.classList.contains('log-warn');",
            json!([]),
        )
        .await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_job_page_draws_the_run_from_its_start(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let handle = writer.start(job("long-run"), JobSpec::new(1_000));
    // Updates before the page opens: only the history has them.
    for _ in 0..5 {
        handle.record(100, 0).unwrap();
        handle.flush().await;
    }
    let browser = Browser::start(1280, 900).await;
    browser
        .goto(&format!("{}/jobs/long-run", app.address))
        .await;
    browser
        .wait_for(
            WAIT,
            "the chart starts before the page opened",
            "const line = document.querySelector('#chart polyline.done'); \
             return !!line && line.getAttribute('points').split(' ').length >= 3;",
            json!([]),
        )
        .await;
}
