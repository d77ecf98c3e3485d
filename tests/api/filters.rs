//! `kind=` and `q=` on the lists: `GET /api/v1/jobs` (the archive) and
//! `GET /api/v1/jobs/active` (the hot store), on both store pairs.

use std::time::Duration;

use serde_json::{Value, json};

use support::{AppWithTokens, Stores, app_with_tokens, counts, envelope, on_both_stores};

on_both_stores!(
    finished_jobs_filter_by_kind_and_text_across_cursor_pages,
    bad_filters_are_refused_naming_the_parameter,
);

/// The app with tokens and no response cache, so each GET reads the
/// stores.
async fn app(stores: Stores) -> AppWithTokens {
    app_with_tokens(stores, |o| o.cache_ttl = Duration::ZERO).await
}

/// Declares `id` with `kind` and `name` (each left out when empty), 10
/// targets.
async fn declare(app: &AppWithTokens, id: &str, kind: &str, name: &str) {
    let mut body = json!({ "total": 10 });
    if !kind.is_empty() {
        body["kind"] = json!(kind);
    }
    if !name.is_empty() {
        body["name"] = json!(name);
    }
    let (status, answer) = app.declare(id, body).await;
    assert!(matches!(status, 200 | 201), "{answer}");
}

/// Declares and completes `id`.
async fn finish(app: &AppWithTokens, id: &str, kind: &str, name: &str) {
    declare(app, id, kind, name).await;
    let (status, answer) = app.complete(id, counts(10, 0)).await;
    assert_eq!(status, 200, "{answer}");
}

/// The `data` of a 200 for `path`.
async fn data(app: &AppWithTokens, path: &str) -> Value {
    let response = app.app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    envelope(response).await["data"].clone()
}

fn ids(jobs: &Value) -> Vec<String> {
    jobs.as_array()
        .expect("a list")
        .iter()
        .map(|job| job["jobId"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of `GET /api/v1/jobs?<query>`, two at a time.
async fn finished_ids(app: &AppWithTokens, query: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/jobs?limit=2&{query}");
    loop {
        let page = data(app, &path).await;
        seen.extend(ids(&page["jobs"]));
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/jobs?limit=2&{query}&cursor={cursor}"),
            None => return seen,
        }
        assert!(seen.len() < 20, "the pages end");
    }
}

async fn finished_jobs_filter_by_kind_and_text_across_cursor_pages(stores: Stores) {
    let app = app(stores).await;
    finish(&app, "imp-1", "import", "Orders CSV").await;
    finish(&app, "imp-2", "import", "").await;
    finish(&app, "mail-1", "mail", "Weekly orders digest").await;
    finish(&app, "imp-3", "import", "Customers").await;
    finish(&app, "other", "", "").await;
    declare(&app, "imp-live", "import", "Orders live").await;

    assert_eq!(
        finished_ids(&app, "kind=import").await,
        ["imp-3", "imp-2", "imp-1"]
    );
    assert_eq!(
        finished_ids(&app, "q=ORDERS").await,
        ["mail-1", "imp-1"],
        "in the name, ignoring case; running jobs are not finished"
    );
    assert_eq!(
        finished_ids(&app, "q=imp-").await,
        ["imp-3", "imp-2", "imp-1"],
        "in the id"
    );
    assert_eq!(finished_ids(&app, "kind=import&q=csv").await, ["imp-1"]);
    assert_eq!(
        finished_ids(&app, "kind=mail&q=csv").await,
        Vec::<String>::new()
    );
    assert_eq!(
        finished_ids(&app, "q=").await.len(),
        5,
        "an empty q narrows nothing"
    );
}

async fn bad_filters_are_refused_naming_the_parameter(stores: Stores) {
    let app = app(stores).await;
    let long = "x".repeat(201);
    for path in ["/api/v1/jobs"] {
        for (query, names) in [
            ("kind=no%20spaces".to_owned(), "kind"),
            (format!("kind={}", "k".repeat(65)), "kind"),
            (format!("q={long}"), "q"),
        ] {
            let response = app.app.get(&format!("{path}?{query}")).await;
            assert_eq!(response.status(), 400, "{path}?{query}");
            let body = envelope(response).await;
            let message = body["message"].as_str().unwrap_or_default().to_owned();
            assert!(message.starts_with(names), "{path}?{query}: {body}");
        }
        let ok = app.app.get(&format!("{path}?q={}", "x".repeat(200))).await;
        assert_eq!(ok.status(), 200, "200 characters are allowed");
    }
}
