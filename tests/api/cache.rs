//! The one-second cache: coalescing, negative caching, ETag and 304.

use std::{sync::Arc, time::Duration};

use futures_util::future::join_all;
use job_progress::write::JobSpec;

use support::{Gate, Stores, eager, envelope, eventually, job, spawn_app_with};

#[sqlx::test(migrations = "migrations/postgres")]
async fn concurrent_requests_for_one_job_cause_one_redis_read(pool: sqlx::PgPool) {
    // A long period, so every request below falls within it.
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::from_secs(30)).await;
    let handle = app.writer(eager()).start(job("hot-job"), JobSpec::new(10));
    handle.flush().await;

    let responses = join_all((0..64).map(|_| app.get_progress("hot-job"))).await;

    assert!(responses.iter().all(|r| r.status() == 200));
    assert_eq!(app.hot.reads(), 1, "64 concurrent pollers, one Redis read");
    let sources: Vec<_> = responses
        .iter()
        .map(|r| r.headers()["x-progress-source"].clone())
        .collect();
    assert_eq!(sources.iter().filter(|s| *s == "redis").count(), 1);
    assert_eq!(sources.iter().filter(|s| *s == "cache").count(), 63);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn unknown_ids_are_cached_as_misses(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::from_secs(30)).await;

    for _ in 0..5 {
        assert_eq!(app.get_progress("nobody").await.status(), 404);
    }

    assert_eq!(app.hot.reads(), 1);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_cache_expires_after_its_period(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::from_millis(200)).await;
    let writer = app.writer(eager());
    let handle = writer.start(job("moving"), JobSpec::new(10));
    handle.flush().await;
    let first = envelope(app.get_progress("moving").await).await;
    assert_eq!(first["data"]["currentSentCount"], 0);

    handle.record(4, 0).unwrap();
    handle.flush().await;

    // Poll as a dashboard would until the new count shows; it must within
    // a few periods.
    eventually(Duration::from_secs(3), "the new count shows", || async {
        let body = envelope(app.get_progress("moving").await).await;
        body["data"]["currentSentCount"] == 4
    })
    .await;
}

async fn a_matching_etag_gets_304_and_a_change_gets_200(stores: Stores) {
    let app = stores.spawn_with(|o| o.cache_ttl = Duration::ZERO).await;
    let handle = app.writer(eager()).start(job("etag-job"), JobSpec::new(10));
    handle.flush().await;

    let first = app.get_progress("etag-job").await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let path = "/api/v1/jobs/etag-job/progress";
    let same = app.get_with(path, "If-None-Match", &etag).await;
    assert_eq!(same.status(), 304);
    assert_eq!(same.headers()["etag"].to_str().unwrap(), etag);
    assert!(same.bytes().await.unwrap().is_empty());

    let weak = app
        .get_with(path, "If-None-Match", &format!("\"other\", W/{etag}"))
        .await;
    assert_eq!(weak.status(), 304, "weak comparison, lists of tags");

    handle.record(1, 0).unwrap();
    handle.flush().await;
    let changed = app.get_with(path, "If-None-Match", &etag).await;
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_client_that_gives_up_does_not_cancel_the_load_for_others(pool: sqlx::PgPool) {
    let (app, gate) = gated_app(pool).await;
    let handle = app
        .writer(eager())
        .start(job("shared-load"), JobSpec::new(10));
    handle.flush().await;

    // The first client's request starts the load, which waits at the gate
    // inside the store; the client then hangs up.
    let impatient = tokio::spawn({
        let url = format!("{}/api/v1/jobs/shared-load/progress", app.address);
        async move { support::http_get(url).await }
    });
    gate.entered.notified().await;
    impatient.abort();
    assert!(
        impatient.await.unwrap_err().is_cancelled(),
        "the client is gone"
    );
    gate.open.notify_one();

    let response = app.get_progress("shared-load").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.hot.reads(),
        1,
        "the abandoned load finished and served the next client"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn misses_of_many_jobs_that_wait_together_share_one_redis_read(pool: sqlx::PgPool) {
    let (app, gate) = gated_app(pool).await;
    let writer = app.writer(eager());
    let mut handles = Vec::new();
    for n in 0..100 {
        let handle = writer.start(job(&format!("batched-{n}")), JobSpec::new(100 + n));
        handle.flush().await;
        handles.push(handle);
    }

    // The first miss's read waits at the gate; 99 misses of other jobs
    // arrive meanwhile.
    let get = |n: u64| {
        let url = format!("{}/api/v1/jobs/batched-{n}/progress", app.address);
        tokio::spawn(async move { support::http_get(url).await.expect("an answer") })
    };
    let first = get(0);
    gate.entered.notified().await;
    let rest: Vec<_> = (1..100).map(get).collect();
    eventually(Duration::from_secs(10), "99 more misses", || async {
        cache_misses(&app).await >= 100
    })
    .await;
    // Open the gate for each read that comes to it until all are answered.
    let answers = async {
        let mut all = vec![first.await.unwrap()];
        for request in rest {
            all.push(request.await.unwrap());
        }
        all
    };
    let opener = async {
        loop {
            gate.open.notify_one();
            gate.entered.notified().await;
        }
    };
    let answers = tokio::select! {
        answers = answers => answers,
        _ = opener => unreachable!("the opener never ends"),
    };

    for (n, response) in answers.into_iter().enumerate() {
        assert_eq!(response.status(), 200);
        let body = envelope(response).await;
        assert_eq!(body["data"]["totalTargetCount"], 100 + n as u64);
    }
    // One read for the first, one for the 99 that waited behind it (a
    // third at most, for a miss still on its way when the gate opened).
    let reads = app.hot.reads();
    assert!(reads <= 3, "100 misses cost {reads} Redis reads");
}

/// An app with a 30 s cache whose hot store holds each read at the
/// returned gate.
async fn gated_app(pool: sqlx::PgPool) -> (support::TestApp, Arc<Gate>) {
    let gate = Arc::new(Gate::default());
    let gated = Arc::clone(&gate);
    let app = spawn_app_with(pool, move |o| {
        o.cache_ttl = Duration::from_secs(30);
        o.gate = Some(gated);
    })
    .await;
    (app, gate)
}

/// The cache misses the app counted, as its `/metrics` shows them (read
/// in the process: the requests held at the gate fill the client's pool).
async fn cache_misses(app: &support::TestApp) -> u64 {
    let text = app.state.metrics.render(0);
    text.lines()
        .find(|line| line.starts_with("job_progress_read_cache_lookups_total{result=\"miss\"}"))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

support::on_both_stores!(a_matching_etag_gets_304_and_a_change_gets_200,);
