//! `GET /metrics`: counters that move with traffic, labels that stay
//! bounded, and the metrics token.
//!
//! Each app counts its requests in a registry of its own, so the counts
//! asserted here are exact even while other tests run in this process.
//! The store and writer series are the process's (shared by every test),
//! so only their presence is asserted.

use std::{collections::BTreeMap, time::Duration};

use job_progress::{http::tokens::MetricsToken, write::JobSpec};

use support::{TestApp, eager, envelope, eventually, job, spawn_app, spawn_app_with};

const PROGRESS_ROUTE: &str = "/api/v1/jobs/{job_id}/progress";

/// A scrape, parsed: `name{labels}` -> value.
struct Scrape {
    text: String,
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    fn parse(text: String) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("a sample line");
                let (name, labels) = match series.split_once('{') {
                    None => (series, BTreeMap::new()),
                    Some((name, rest)) => {
                        let labels = rest
                            .trim_end_matches('}')
                            .split("\",")
                            .filter(|pair| !pair.is_empty())
                            .map(|pair| {
                                let (key, value) = pair.split_once("=\"").expect("key=\"value\"");
                                (key.to_owned(), value.trim_end_matches('"').to_owned())
                            })
                            .collect();
                        (name, labels)
                    }
                };
                (name.to_owned(), labels, value.parse().expect("a number"))
            })
            .collect();
        Self { text, samples }
    }

    /// The value of the series `name` with exactly `labels`; 0 when absent.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|(n, l, _)| n == name && *l == wanted)
            .map_or(0.0, |(_, _, v)| *v)
    }

    /// Every value of label `label` across the series of `name`.
    fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        self.samples
            .iter()
            .filter(|(n, _, _)| n == name)
            .filter_map(|(_, l, _)| l.get(label).cloned())
            .collect()
    }
}

/// The app's `/metrics`, parsed.
async fn scrape(app: &TestApp) -> Scrape {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
    );
    Scrape::parse(response.text().await.unwrap())
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn requests_are_counted_by_route_pattern_and_reads_by_cache_result_and_source(
    pool: sqlx::PgPool,
) {
    // A long period, so the second read is a hit whatever the timing.
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::from_secs(30)).await;
    let handle = app
        .writer(eager())
        .start(job("metered-job-4711"), JobSpec::new(10));
    handle.flush().await;

    let first = app.get_progress("metered-job-4711").await;
    assert_eq!(first.headers()["x-progress-source"], "redis");
    let second = app.get_progress("metered-job-4711").await;
    assert_eq!(second.headers()["x-progress-source"], "cache");
    assert_eq!(app.get_progress("nobody-4712").await.status(), 404);
    assert_eq!(app.get("/no/such/path-4713").await.status(), 404);
    assert_eq!(app.get_active("").await.status(), 200);

    let scrape = scrape(&app).await;
    let requests = "job_progress_http_requests_total";
    let route = |status| {
        [
            ("route", PROGRESS_ROUTE),
            ("method", "GET"),
            ("status", status),
        ]
    };
    assert_eq!(scrape.value(requests, &route("200")), 2.0);
    assert_eq!(scrape.value(requests, &route("404")), 1.0);
    let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert_eq!(scrape.value(requests, &unmatched), 1.0);
    assert_eq!(
        scrape.value(
            "job_progress_http_request_duration_seconds_count",
            &[("route", PROGRESS_ROUTE), ("method", "GET")],
        ),
        3.0
    );
    for id in ["metered-job-4711", "nobody-4712", "path-4713"] {
        assert!(!scrape.text.contains(id), "{id} leaked into a label");
    }
    let mut routes = scrape.label_values(requests, "route");
    routes.sort();
    routes.dedup();
    assert_eq!(
        routes,
        ["/api/v1/jobs/active", PROGRESS_ROUTE, "unmatched"],
        "only patterns, and the fixed label of unknown paths"
    );

    let lookups = "job_progress_read_cache_lookups_total";
    // Misses: the job's first read, the unknown id, the active list.
    assert_eq!(scrape.value(lookups, &[("result", "miss")]), 3.0);
    assert_eq!(scrape.value(lookups, &[("result", "hit")]), 1.0);
    let answers = "job_progress_read_answers_total";
    assert_eq!(scrape.value(answers, &[("source", "redis")]), 2.0);
    assert_eq!(scrape.value(answers, &[("source", "cache")]), 1.0);
    assert_eq!(scrape.value(answers, &[("source", "database")]), 0.0);
    assert_eq!(scrape.value("job_progress_active_jobs", &[]), 1.0);

    // The process's series: the reads above went through the guard.
    assert!(
        scrape.value(
            "job_progress_store_calls_total",
            &[("store", "redis"), ("outcome", "ok")]
        ) >= 2.0
    );
    assert_eq!(
        scrape.value("job_progress_store_breaker_open", &[("store", "redis")]),
        0.0
    );
    assert!(
        scrape.value(
            "job_progress_writer_writes_total",
            &[("store", "redis"), ("outcome", "written")]
        ) >= 1.0
    );
    // Described before the write API exists to count into it.
    assert!(
        scrape
            .text
            .contains("# TYPE job_progress_ingest_updates_total counter")
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn open_streams_are_a_gauge(pool: sqlx::PgPool) {
    // The default heartbeat: the server notices the close itself
    // (stream_slots.rs shows how fast), not at its next write.
    let app = spawn_app(pool).await;
    assert_eq!(
        scrape(&app)
            .await
            .value("job_progress_sse_streams_open", &[]),
        0.0
    );

    let stream = app.get("/api/v1/jobs/active/events").await;
    assert_eq!(stream.status(), 200);
    assert_eq!(
        scrape(&app)
            .await
            .value("job_progress_sse_streams_open", &[]),
        1.0
    );

    drop(stream);
    eventually(Duration::from_secs(5), "the stream is closed", || async {
        scrape(&app)
            .await
            .value("job_progress_sse_streams_open", &[])
            == 0.0
    })
    .await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn with_a_metrics_token_only_its_bearer_may_scrape_and_the_rate_limit_never_applies(
    pool: sqlx::PgPool,
) {
    let token = "scraper-token-0123456789";
    let app = spawn_app_with(pool, |o| {
        o.settings.access.metrics_token = Some(MetricsToken::parse(token).unwrap());
        o.settings.access.rate_limit_per_second = 1;
        o.settings.access.rate_limit_burst = 1;
    })
    .await;

    let missing = app.get("/metrics").await;
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Bearer realm=\"job-progress\""
    );
    assert_eq!(envelope(missing).await["statusCode"], 401);
    let wrong = app.get_bearer("/metrics", "scraper-token-0123456780").await;
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    for _ in 0..3 {
        let scrape = app.get_bearer("/metrics", token).await;
        assert_eq!(
            scrape.status(),
            200,
            "a burst of 1 does not hold scrapes back"
        );
        let text = scrape.text().await.unwrap();
        assert!(text.contains("job_progress_http_requests_total"));
        assert!(!text.contains(token));
    }
    // The API's own routes are limited as before.
    assert_eq!(app.get_active("").await.status(), 200);
    assert_eq!(app.get_active("").await.status(), 429);
}

#[test]
fn a_metrics_token_is_long_enough_and_never_shown() {
    assert!(MetricsToken::parse("short").is_err());
    assert!(MetricsToken::parse("has a space in it, sadly").is_err());
    let token = MetricsToken::parse("scraper-token-0123456789").unwrap();
    assert!(token.matches("scraper-token-0123456789"));
    assert!(!token.matches("scraper-token-012345678"));
    assert_eq!(format!("{token:?}"), "MetricsToken(..)");
}
