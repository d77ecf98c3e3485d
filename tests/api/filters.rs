//! `kind=` and `q=` on the lists: `GET /api/v1/jobs` (the archive) and
//! `GET /api/v1/jobs/active` (the hot store), on both store pairs.

use std::time::Duration;

use job_progress::domain::JobKind;
use serde_json::{Value, json};

use support::{AppWithTokens, Stores, app_with_tokens, counts, envelope, on_both_stores};

on_both_stores!(
    finished_jobs_filter_by_kind_and_text_across_cursor_pages,
    bad_filters_are_refused_naming_the_parameter,
    active_jobs_filter_by_kind_and_text_with_offset_pages_and_total,
    a_name_changed_by_a_report_is_found_and_an_ended_job_leaves_the_filters,
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
    for path in ["/api/v1/jobs", "/api/v1/jobs/active"] {
        for (query, names) in [
            ("kind=no%20spaces".to_owned(), "kind"),
            (format!("kind={}", "k".repeat(65)), "kind"),
            (format!("q={long}"), "q"),
            ("q=news%00letter".to_owned(), "q"),
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

/// `GET /api/v1/jobs/active?<query>`: the ids and `X-Total-Count`.
async fn active(app: &AppWithTokens, query: &str) -> (Vec<String>, u64) {
    let path = format!("/api/v1/jobs/active?{query}");
    let response = app.app.get(&path).await;
    assert_eq!(response.status(), 200, "{path}");
    let total = response.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    (ids(&envelope(response).await["data"]), total)
}

fn listed(ids: &[&str], total: u64) -> (Vec<String>, u64) {
    (ids.iter().map(|id| id.to_string()).collect(), total)
}

async fn active_jobs_filter_by_kind_and_text_with_offset_pages_and_total(stores: Stores) {
    let app = app(stores).await;
    // Declared one after the other: started in this order.
    declare(&app, "imp-1", "import", "Orders CSV").await;
    declare(&app, "mail-1", "mail", "Weekly orders digest").await;
    declare(&app, "imp-2", "import", "Customers").await;
    declare(&app, "imp-3", "import", "").await;
    finish(&app, "imp-done", "import", "Orders archive").await;

    assert_eq!(
        active(&app, "kind=import").await,
        listed(&["imp-1", "imp-2", "imp-3"], 3)
    );
    assert_eq!(
        active(&app, "kind=import&limit=1&offset=1").await,
        listed(&["imp-2"], 3),
        "the total counts what the filter admits, not the page"
    );
    assert_eq!(
        active(&app, "q=ORDERS").await,
        listed(&["imp-1", "mail-1"], 2)
    );
    assert_eq!(
        active(&app, "q=imp-").await,
        listed(&["imp-1", "imp-2", "imp-3"], 3)
    );
    assert_eq!(
        active(&app, "kind=import&q=orders").await,
        listed(&["imp-1"], 1)
    );
    assert_eq!(active(&app, "kind=none").await, listed(&[], 0));
    assert_eq!(active(&app, "").await.1, 4, "unfiltered, as before");
}

async fn a_name_changed_by_a_report_is_found_and_an_ended_job_leaves_the_filters(stores: Stores) {
    let real = matches!(stores, Stores::Real(_));
    let app = app(stores).await;
    declare(&app, "job-1", "import", "First title").await;
    let (status, answer) = app
        .report(
            "job-1",
            json!({ "successCount": 1, "failureCount": 0, "name": "Second title" }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    assert_eq!(active(&app, "q=second").await, listed(&["job-1"], 1));
    assert_eq!(active(&app, "q=first").await, listed(&[], 0));

    let (status, answer) = app.complete("job-1", counts(10, 0)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(active(&app, "kind=import").await, listed(&[], 0));
    assert_eq!(active(&app, "q=second").await, listed(&[], 0));
    if real {
        // Behind the store: nothing of the job is left in the filters' keys.
        let keys = &app.app.keys;
        let bucket = keys.buckets().next().unwrap();
        let kind = JobKind::parse("import").unwrap();
        let mut conn = app.app.raw_redis().await;
        let in_kind: u64 = redis::cmd("ZCARD")
            .arg(keys.kind_index(bucket, &kind))
            .query_async(&mut conn)
            .await
            .unwrap();
        let names: u64 = redis::cmd("HLEN")
            .arg(keys.names(bucket))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!((in_kind, names), (0, 0));
    }
}
