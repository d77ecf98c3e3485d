//! The job page's Cancel button, in a real browser: shown to a `control`
//! token only, it asks for a reason and a confirmation, and the request
//! reaches the job (by the token's name, with the reason) and shows on
//! the page.

use std::time::Duration;

use serde_json::json;

use support::{AppWithTokens, app_with_tokens, browser::Browser, counts, declaration};

const WAIT: Duration = Duration::from_secs(20);

/// Signs in with `token` (of `scope`) from the header's button, as a
/// user would, and waits until the page knows who it is.
async fn use_token(browser: &Browser, token: &str, scope: &str) {
    browser.click("#sign-in").await;
    browser.type_into("#token", token).await;
    browser.click("#token-form button[type=submit]").await;
    browser
        .wait_for(
            WAIT,
            "the header names the token's scope",
            "return document.getElementById('sign-in').dataset.scope === arguments[0];",
            json!([scope]),
        )
        .await;
}

/// The job page is shown, and its Cancel button is (or is not).
async fn page_shown_with_button(browser: &Browser, shown: bool) {
    browser
        .wait_for(
            WAIT,
            "the job page with its counts",
            "return document.getElementById('job-pct').textContent.includes('40');",
            json!([]),
        )
        .await;
    let hidden = browser
        .eval(
            "return document.getElementById('cancel-open').hidden;",
            json!([]),
        )
        .await;
    assert_eq!(hidden, json!(!shown), "Cancel button shown: {shown}");
}

async fn said_who_asked(browser: &Browser) {
    browser
        .wait_for(
            WAIT,
            "the page says who asked and why, and offers no second cancel",
            "const line = document.getElementById('cancel-status'); \
             const button = document.getElementById('cancel-open'); \
             return !line.hidden && line.textContent.includes('ops-console') \
                 && line.textContent.includes('wrong audience') \
                 && button.hidden && line.getBoundingClientRect().width > 0;",
            json!([]),
        )
        .await;
}

async fn running(w: &AppWithTokens) {
    let (status, body) = w.declare("campaign", declaration(100)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = w.report("campaign", counts(40, 0)).await;
    assert_eq!(status, 200, "{body}");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn only_a_control_token_gets_the_cancel_button(pool: sqlx::PgPool) {
    let w = app_with_tokens(pool, |_| {}).await;
    running(&w).await;
    let browser = Browser::start(1280, 900).await;
    browser
        .goto(&format!("{}/jobs/campaign", w.app.address))
        .await;
    page_shown_with_button(&browser, false).await;

    use_token(&browser, &w.tokens.read, "read").await;
    page_shown_with_button(&browser, false).await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_cancel_button_asks_for_a_reason_and_the_job_hears_it(pool: sqlx::PgPool) {
    let w = app_with_tokens(pool, |_| {}).await;
    running(&w).await;
    let browser = Browser::start(1280, 900).await;
    browser
        .goto(&format!("{}/jobs/campaign", w.app.address))
        .await;
    use_token(&browser, &w.tokens.control, "control").await;
    page_shown_with_button(&browser, true).await;
    browser.click("#cancel-open").await;
    let form_shown = browser
        .eval(
            "return !document.getElementById('cancel-form').hidden;",
            json!([]),
        )
        .await;
    assert_eq!(form_shown, json!(true), "asks before it cancels");
    browser.type_into("#cancel-reason", "wrong audience").await;
    browser.click("#cancel-confirm").await;
    said_who_asked(&browser).await;

    // At a phone's width, later: the page says who asked, and the button
    // is gone (the job has a request already).
    let phone = Browser::start(390, 900).await;
    phone
        .goto(&format!("{}/jobs/campaign", w.app.address))
        .await;
    use_token(&phone, &w.tokens.control, "control").await;
    said_who_asked(&phone).await;
    let record = w.record("campaign").await;
    assert_eq!(record["cancelRequested"]["by"], "ops-console", "{record}");
    assert_eq!(record["cancelRequested"]["reason"], "wrong audience");
}

/// A request to stop that its worker does not answer: once the job
/// stalls, the page says the worker is not answering.
#[sqlx::test(migrations = "migrations/postgres")]
async fn an_unanswered_cancel_says_the_worker_is_not_answering(pool: sqlx::PgPool) {
    let w = app_with_tokens(pool, |o| o.settings.stall_floor_secs = 1).await;
    let body = json!({ "total": 100, "refreshIntervalMs": 200 });
    let (status, answer) = w.declare("silent", body).await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = w.report("silent", counts(40, 0)).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = w
        .send_as(
            Some(&w.tokens.control),
            "POST",
            "/api/v1/jobs/silent/cancel",
            json!({ "reason": "wrong audience" }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    // The worker never writes again.
    let browser = Browser::start(1280, 900).await;
    browser
        .goto(&format!("{}/jobs/silent", w.app.address))
        .await;
    browser
        .wait_for(
            Duration::from_secs(30),
            "the page says the worker is not answering",
            "const line = document.getElementById('cancel-status'); \
             return !line.hidden && line.dataset.waiting === 'true' \
                 && line.textContent.includes('worker not answering') \
                 && line.textContent.includes('ops-console');",
            json!([]),
        )
        .await;
}
