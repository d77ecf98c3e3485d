//! The dashboard's active list in a real browser, a page at a time: its
//! stream carries the page shown and nothing beyond it, a job that ends
//! leaves the page, and the next one moves in; an update rebuilds its own
//! row and leaves the other rows the same nodes.

use std::{collections::BTreeMap, time::Duration};

use job_progress::write::JobSpec;
use serde_json::json;

use support::{browser::Browser, eager, envelope, job, spawn_app};

const WAIT: Duration = Duration::from_secs(20);
/// The dashboard's page size (`PAGE` in `web/overview.js`).
const PAGE: usize = 50;

/// Wraps `EventSource` so the page's next streams note the jobs they
/// carry (`__streamed`) and their URL (`__streamUrl`).
const SPY: &str = "const Native = window.EventSource; \
     window.__streamed = []; \
     window.EventSource = class extends Native { \
       constructor(url, options) { \
         super(url, options); \
         window.__streamUrl = url; \
         this.addEventListener('progress', (e) => window.__streamed.push(JSON.parse(e.data).jobId)); \
       } \
     }; \
     return true;";

const ROWS: &str =
    "return [...document.querySelectorAll('#active-rows tr')].map((tr) => tr.dataset.jobId);";

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_page_streams_its_own_jobs_and_a_job_that_ends_leaves_it(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let mut handles = BTreeMap::new();
    for i in 0..PAGE + 2 {
        let id = format!("row-{i:02}");
        let handle = writer.start(job(&id), JobSpec::new(100));
        handle.flush().await;
        handles.insert(id, handle);
    }
    let listed = envelope(app.get_active(&format!("?limit={}", PAGE + 2)).await).await;
    let order: Vec<String> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["jobId"].as_str().unwrap().to_owned())
        .collect();
    let (page, next_in, beyond) = (&order[..PAGE], &order[PAGE], &order[PAGE + 1]);

    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .wait_for(
            WAIT,
            "the first page of 50 of 52",
            "return document.querySelectorAll('#active-rows tr').length === 50 \
                 && document.getElementById('active-page').textContent === '1–50 of 52';",
            json!([]),
        )
        .await;
    assert_eq!(browser.eval(SPY, json!([])).await, true);

    // The next page opens its own stream; back on the first, the spy
    // sees the stream of that page.
    browser.click("#active-next").await;
    browser
        .wait_for(
            WAIT,
            "the second page holds the last two",
            "const rows = [...document.querySelectorAll('#active-rows tr')]; \
             return rows.length === 2 && window.__streamUrl.includes('offset=50');",
            json!([]),
        )
        .await;
    browser.click("#active-prev").await;
    browser
        .wait_for(
            WAIT,
            "the first page again, live",
            "return document.querySelectorAll('#active-rows tr').length === 50 \
                 && window.__streamUrl.includes('limit=50&offset=0') \
                 && document.getElementById('conn').dataset.state === 'live';",
            json!([]),
        )
        .await;
    browser
        .eval("window.__streamed = []; return true;", json!([]))
        .await;

    // A job beyond the page moves first, then one on it.
    handles[beyond].record(9, 0).unwrap();
    handles[beyond].flush().await;
    handles[&page[10]].record(5, 0).unwrap();
    handles[&page[10]].flush().await;
    browser
        .wait_for(
            WAIT,
            "the job on the page shows its progress",
            "const row = document.querySelector(`#active-rows tr[data-job-id=\"${arguments[0]}\"]`); \
             return !!row && row.textContent.includes('5 of 100');",
            json!([page[10]]),
        )
        .await;
    let streamed = browser.eval("return window.__streamed;", json!([])).await;
    let streamed = streamed.as_array().unwrap();
    assert!(
        streamed.contains(&json!(page[10])),
        "the spy hears the page's stream: {streamed:?}"
    );
    assert!(
        !streamed.contains(&json!(beyond)),
        "the job beyond the page is not streamed: {streamed:?}"
    );

    // The first job ends: its row goes, the next one moves onto the page.
    handles.remove(&page[0]).unwrap().complete().await.unwrap();
    browser
        .wait_for(
            WAIT,
            "the ended job leaves the page and the next one joins it",
            "const ids = [...document.querySelectorAll('#active-rows tr')].map((tr) => tr.dataset.jobId); \
             return ids.length === 50 && !ids.includes(arguments[0]) && ids.includes(arguments[1]);",
            json!([page[0], next_in]),
        )
        .await;
    let rows = browser.eval(ROWS, json!([])).await;
    assert!(
        !rows.as_array().unwrap().contains(&json!(beyond)),
        "still one page: {rows}"
    );
}

/// Counts in `__rebuilds` the times every row of the active list was
/// replaced at once, as the 5 s clock that moves relative times does.
const REBUILDS: &str = "const tbody = document.getElementById('active-rows'); \
     window.__rebuilds = 0; \
     new MutationObserver((changes) => { \
       const removed = changes.reduce((sum, change) => sum + change.removedNodes.length, 0); \
       if (removed >= arguments[0]) window.__rebuilds += 1; \
     }).observe(tbody, { childList: true }); \
     return true;";

#[sqlx::test(migrations = "migrations/postgres")]
async fn an_update_rebuilds_its_own_row_and_the_others_stay_the_same_nodes(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let (kept, moved) = (
        writer.start(job("kept"), JobSpec::new(100)),
        writer.start(job("moved"), JobSpec::new(100)),
    );
    kept.flush().await;
    moved.flush().await;

    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .wait_for(
            WAIT,
            "both jobs listed",
            "return document.querySelectorAll('#active-rows tr').length === 2;",
            json!([]),
        )
        .await;
    // Right after the clock has rebuilt every row, the next time it does
    // is 5 s away: the update below lands well before.
    assert_eq!(browser.eval(REBUILDS, json!([2])).await, true);
    browser
        .wait_for(
            WAIT,
            "the clock rebuilds the rows",
            "return window.__rebuilds > 0;",
            json!([]),
        )
        .await;
    let mark = "document.querySelector('#active-rows tr[data-job-id=\"kept\"]').__mark = true; \
                return true;";
    assert_eq!(browser.eval(mark, json!([])).await, true);

    moved.record(7, 0).unwrap();
    moved.flush().await;
    browser
        .wait_for(
            WAIT,
            "the moved job's row shows its progress",
            "const row = document.querySelector('#active-rows tr[data-job-id=\"moved\"]'); \
             return !!row && row.textContent.includes('7 of 100');",
            json!([]),
        )
        .await;
    let same = browser
        .eval(
            "return document.querySelector('#active-rows tr[data-job-id=\"kept\"]').__mark === true;",
            json!([]),
        )
        .await;
    assert_eq!(same, true, "the unchanged job's row is still the same node");
}
