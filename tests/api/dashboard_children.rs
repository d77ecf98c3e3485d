//! The dashboard and child jobs, in a real browser: the overview lists the
//! parent, not its children, with a line saying how they stand, and its
//! row expands to them; the parent's page says so too and lists them.

use std::time::Duration;

use job_progress::{domain::FailurePolicy, write::JobSpec};
use serde_json::json;

use support::{browser::Browser, eager, job, spawn_app};

const WAIT: Duration = Duration::from_secs(20);

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_overview_lists_the_parent_and_its_page_lists_the_children(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let parent = writer.start(
        job("family"),
        JobSpec::new(100).complete_with_children(2, FailurePolicy::Continue),
    );
    parent.record(1, 0).unwrap();
    parent.flush().await;
    let mut kids = Vec::new();
    for id in ["family-a", "family-b"] {
        let kid = writer.start(job(id), JobSpec::new(10).parent(job("family")));
        kid.record(3, 0).unwrap();
        kid.flush().await;
        kids.push(kid);
    }

    let browser = Browser::start(1280, 900).await;
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .wait_for(
            WAIT,
            "the parent's row says how its children stand, and no child has a row",
            "const row = document.querySelector('#active-rows tr[data-job-id=\"family\"]'); \
             if (!row) return false; \
             const line = row.querySelector('.under .children'); \
             return !!line && line.textContent === '2 children · 2 running' \
                 && document.querySelectorAll('#active-rows tr').length === 1 \
                 && row.querySelector('button.expand').getAttribute('aria-expanded') === 'false';",
            json!([]),
        )
        .await;

    browser
        .wait_for(
            WAIT,
            "the parent's row expands to its children",
            "const button = document.querySelector('#active-rows button.expand[data-parent=\"family\"]'); \
             if (!button) return false; \
             if (button.getAttribute('aria-expanded') === 'false') { button.click(); return false; } \
             const kids = [...document.querySelectorAll('#active-rows tr.child[data-parent=\"family\"]')]; \
             return kids.length === 2 && kids[0].dataset.jobId === 'family-a' \
                 && kids[1].dataset.jobId === 'family-b';",
            json!([]),
        )
        .await;

    browser.goto(&format!("{}/jobs/family", app.address)).await;
    browser
        .wait_for(
            WAIT,
            "the parent's page lists its two children, linked",
            "const line = document.querySelector('#job-body .under .children, #job-fields'); \
             if (!line || !line.textContent.includes('2 children · 2 running')) return false; \
             const box = document.getElementById('job-children-box'); \
             const rows = [...document.querySelectorAll('#job-children tr')]; \
             return !box.hidden && rows.length === 2 \
                 && rows[0].dataset.jobId === 'family-a' \
                 && rows[0].querySelector('a.title').getAttribute('href') === '/jobs/family-a' \
                 && rows[1].querySelector('.processed, td.num').textContent === '3 of 10';",
            json!([]),
        )
        .await;
    for kid in kids {
        kid.complete().await.unwrap();
    }
    parent.complete().await.unwrap();
    assert!(writer.shutdown(Duration::from_secs(5)).await);
}
