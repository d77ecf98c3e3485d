//! The dashboard shows what a job says about itself (its name, kind,
//! steps, message, metadata and result link) on the overview and on its
//! page, in a real browser at a desktop's and at a phone's width; and a
//! result link is only ever an http(s) or same-site address.

use std::time::Duration;

use job_progress::{
    domain::{JobKind, JobName, ResultUrl},
    write::JobSpec,
};
use serde_json::json;

use support::{TestApp, browser::Browser, eager, job, spawn_app};

const WAIT: Duration = Duration::from_secs(20);

async fn open(app: &TestApp, path: &str, width: u32) -> Browser {
    let browser = Browser::start(width, 900).await;
    browser.goto(&format!("{}{path}", app.address)).await;
    browser
}

/// A four-step job at its second step, with a message and metadata.
fn pipeline() -> JobSpec {
    JobSpec::staged()
        .named(JobName::parse("Nightly podcast summary").unwrap())
        .kind(JobKind::parse("ai-pipeline").unwrap())
        .with_steps(&["fetch", "transcribe", "summarise", "publish"])
        .unwrap()
}

/// The overview's row of `id` shows its name, id, kind, stage and message.
async fn the_row_shows_the_fields(browser: &Browser) {
    browser
        .wait_for(
            WAIT,
            "the row shows name, id beneath, kind, stage and message",
            "const row = document.querySelector('#active-rows tr[data-job-id=\"podcast-7\"]'); \
             if (!row) return false; \
             const link = row.querySelector('a.title'); \
             return link.textContent === 'Nightly podcast summary' \
                 && row.querySelector('.small.id').textContent === 'podcast-7' \
                 && row.querySelector('.badge.kind').textContent === 'ai-pipeline' \
                 && row.querySelector('.under .stage').textContent === 'step 2 of 4: transcribe' \
                 && row.querySelector('.under .message').textContent === 'chunk 3 of 9' \
                 && row.querySelector('.processed').textContent.includes('of 4 steps') \
                 && link.getBoundingClientRect().width > 0;",
            json!([]),
        )
        .await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_staged_job_shows_its_name_kind_steps_message_metadata_and_result(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let handle = writer.start(job("podcast-7"), pipeline());
    handle.stage("transcribe").unwrap();
    handle.message("chunk 3 of 9").unwrap();
    let metadata = json!({"model": "whisper-large", "episodes": 3});
    handle
        .metadata(metadata.as_object().unwrap().clone())
        .unwrap();
    handle.flush().await;

    // The overview, at a desktop's width and at a phone's.
    for width in [1280, 390] {
        let browser = open(&app, "/", width).await;
        the_row_shows_the_fields(&browser).await;
        // The kind filter offers the kinds seen and narrows the list.
        browser
            .wait_for(
                WAIT,
                "the kind filter offers ai-pipeline",
                "return [...document.querySelectorAll('#kind option')].some((o) => o.value === 'ai-pipeline');",
                json!([]),
            )
            .await;
    }

    // The job's page: title, id, kind, the step strip, message, metadata.
    let browser = open(&app, "/jobs/podcast-7", 1280).await;
    browser
        .wait_for(
            WAIT,
            "the job page shows the job's fields",
            "const running = [...document.querySelectorAll('#job-steps li[aria-current=step]')]; \
             const cells = [...document.querySelectorAll('#job-metadata th, #job-metadata td')].map((c) => c.textContent); \
             return document.getElementById('job-title').textContent === 'Nightly podcast summary' \
                 && document.getElementById('job-id').textContent === 'podcast-7' \
                 && document.querySelector('#job-kind .badge.kind').textContent === 'ai-pipeline' \
                 && document.querySelectorAll('#job-steps li').length === 4 \
                 && running.length === 1 && running[0].textContent === 'transcribe' \
                 && document.querySelector('#job-steps li.step-done').textContent === 'fetch' \
                 && document.getElementById('job-message').textContent === 'chunk 3 of 9' \
                 && JSON.stringify(cells) === JSON.stringify(['episodes', '3', 'model', 'whisper-large']) \
                 && document.getElementById('job-result').hidden;",
            json!([]),
        )
        .await;

    // Completed with a result: the link appears, absolute and same-site.
    handle
        .complete_with_result(ResultUrl::parse("/reports/podcast-7?x=<b>").unwrap())
        .await
        .unwrap();
    browser
        .wait_for(
            WAIT,
            "the result link shows",
            "const a = document.querySelector('#job-result a'); \
             return !document.getElementById('job-result').hidden && !!a \
                 && a.href === location.origin + '/reports/podcast-7?x=%3Cb%3E' \
                 && a.rel.includes('noopener');",
            json!([]),
        )
        .await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_javascript_or_foreign_address_never_becomes_a_result_link(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let browser = open(&app, "/", 1280).await;
    // The page's own check, on what the server would refuse anyway.
    let answers = browser
        .eval(
            "return import('/assets/detail.js').then((m) => arguments[0].map((url) => m.resultHref(url)));",
            json!([[
                "javascript:alert(1)",
                " javascript:alert(1)",
                "JAVASCRIPT:alert(1)",
                "java\tscript:alert(1)",
                "data:text/html,<script>alert(1)</script>",
                "//evil.example/x",
                "/\\evil.example/x",
                "vbscript:x",
                "ftp://files.example/x",
                "https://reports.example/r?id=1",
                "/reports/1",
            ]]),
        )
        .await;
    let origin = app.address.trim_end_matches('/');
    assert_eq!(
        answers,
        json!([
            null,
            null,
            null,
            null,
            null,
            null,
            null,
            null,
            null,
            "https://reports.example/r?id=1",
            format!("{origin}/reports/1"),
        ])
    );
}
