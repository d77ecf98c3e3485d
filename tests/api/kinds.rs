//! Estimates from earlier runs of the same kind: a kind's completed runs
//! are kept in the archive, and the ETA of its next jobs leans on them,
//! over HTTP and through the writer.
//!
//! The runs here are real runs paced by the clock (the ETA is about time):
//! a kind whose work gets four times heavier after 40 %, which a run's own
//! first chunks cannot know and its kind's history does. Sleeping paces
//! the work; no test waits on a sleep for something to happen.

use std::time::Duration;

use chrono::{DateTime, Utc};
use job_progress::{
    domain::JobKind,
    store::KIND_RUNS_KEPT,
    write::{JobSpec, ProgressWriter},
};
use serde_json::{Value, json};
use support::{
    AppWithTokens, Stores, app_with_tokens, counts, declaration, eager, eventually, job,
    on_both_stores,
};
use tokio::time::{Instant, sleep_until};

on_both_stores!(
    a_kinds_history_brings_an_http_jobs_early_estimate_closer,
    a_staged_job_is_estimated_from_its_kinds_step_times,
    a_kind_keeps_only_its_last_50_runs,
);

/// A chunk of the first 40 % of a run, and of the rest (four times
/// heavier): a run of ten chunks takes 4 × 80 + 6 × 320 = 2,240 ms.
const LIGHT: Duration = Duration::from_millis(80);
const HEAVY: Duration = Duration::from_millis(320);

/// The chunks after which the early estimate is read: 30 % done, before
/// any heavy chunk.
const EARLY: u64 = 3;

/// When a run's chunk `n` (1 to 10) ends, from its start.
fn chunk_end(n: u64) -> Duration {
    let light = n.min(4) as u32;
    let heavy = n.saturating_sub(4) as u32;
    LIGHT * light + HEAVY * heavy
}

fn kind(name: &str) -> JobKind {
    JobKind::parse(name).unwrap()
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a time: {value}"))
        .parse()
        .unwrap()
}

/// How far an estimate made at `at` of an end at `end` was off, relative
/// to the time that was left.
fn error(estimated: DateTime<Utc>, end: DateTime<Utc>, at: DateTime<Utc>) -> f64 {
    let off = (estimated - end).num_milliseconds().abs() as f64;
    off / (end - at).num_milliseconds() as f64
}

/// One run of 100 targets over HTTP, of `kind` if given: how far its
/// estimate after [`EARLY`] chunks was from its true end (`None`: it had
/// none).
async fn http_run(w: &AppWithTokens, id: &str, kind: Option<&str>) -> Option<f64> {
    let mut body = declaration(100);
    if let Some(kind) = kind {
        body["kind"] = json!(kind);
    }
    let (status, reply) = w.declare(id, body).await;
    assert_eq!(status, 201, "{reply}");
    let start = Instant::now();
    let mut early = None;
    for n in 1..10 {
        sleep_until(start + chunk_end(n)).await;
        let (status, reply) = w.report(id, counts(n * 10, 0)).await;
        assert_eq!(status, 200, "{reply}");
        if n == EARLY {
            let data = &reply["data"];
            early = Some((data["estimatedEndAt"].clone(), time(&data["updatedAt"])));
        }
    }
    sleep_until(start + chunk_end(10)).await;
    let (status, reply) = w.complete(id, counts(100, 0)).await;
    assert_eq!(status, 200, "{reply}");
    let end = time(&reply["data"]["completedAt"]);
    let (estimated, at) = early.expect("reported");
    (!estimated.is_null()).then(|| error(time(&estimated), end, at))
}

async fn a_kinds_history_brings_an_http_jobs_early_estimate_closer(stores: Stores) {
    let w = app_with_tokens(stores, |_| {}).await;
    for n in 0..3 {
        http_run(&w, &format!("import-{n}"), Some("import")).await;
    }
    runs_recorded(&w, "import", 3).await;

    // The fourth run of the kind, and the first of a kind never seen,
    // side by side.
    let (with, alone) = tokio::join!(
        http_run(&w, "import-3", Some("import")),
        http_run(&w, "export-0", Some("export")),
    );
    let (with, alone) = (with.expect("an estimate"), alone.expect("an estimate"));
    // Alone, 30 % in, the light chunks say about 0.6 s are left where
    // 2 s are: some 70 % off. The kind knows its heavy part.
    assert!(alone > 0.4, "alone: {alone:.2}");
    assert!(
        with < 0.25,
        "with its kind's history: {with:.2} (alone {alone:.2})"
    );
}

/// One run of a staged job of `kind` (steps fetch, draw, upload, taking
/// 100, 300 and 100 ms): the time left its declaration, in `fetch`,
/// shows (`None`: it shows no estimate).
async fn staged_run(w: &AppWithTokens, id: &str, kind: &str) -> Option<i64> {
    let body = json!({
        "kind": kind,
        "steps": ["fetch", "draw", "upload"],
        "stage": "fetch",
        "refreshIntervalMs": 5000,
    });
    let (status, reply) = w.declare(id, body).await;
    assert_eq!(status, 201, "{reply}");
    let data = &reply["data"];
    let left = (!data["estimatedEndAt"].is_null()).then(|| {
        let end = time(&data["estimatedEndAt"]);
        (end - time(&data["updatedAt"])).num_milliseconds()
    });
    let start = Instant::now();
    for (stage, at) in [("draw", 100), ("upload", 400)] {
        sleep_until(start + Duration::from_millis(at)).await;
        let mut body = counts(0, 0);
        body["stage"] = json!(stage);
        let (status, reply) = w.report(id, body).await;
        assert_eq!(status, 200, "{reply}");
    }
    sleep_until(start + Duration::from_millis(500)).await;
    let (status, reply) = w.complete(id, json!({})).await;
    assert_eq!(status, 200, "{reply}");
    left
}

async fn a_staged_job_is_estimated_from_its_kinds_step_times(stores: Stores) {
    let w = app_with_tokens(stores, |_| {}).await;
    assert_eq!(
        staged_run(&w, "render-0", "render").await,
        None,
        "a kind never seen: no step has ended, nothing to go by"
    );
    for n in 1..3 {
        staged_run(&w, &format!("render-{n}"), "render").await;
    }
    runs_recorded(&w, "render", 3).await;
    let left = staged_run(&w, "render-3", "render")
        .await
        .expect("an estimate from the kind's step times");
    // Its kind's runs took 500 ms and a little (the requests' own time).
    assert!((450..=900).contains(&left), "{left} ms left");
}

async fn a_kind_keeps_only_its_last_50_runs(stores: Stores) {
    let w = app_with_tokens(stores, |_| {}).await;
    let kept = KIND_RUNS_KEPT as usize;
    for n in 0..kept + 2 {
        let id = format!("quick-{n}");
        let mut body = declaration(10);
        body["kind"] = json!("quick");
        let (status, reply) = w.declare(&id, body).await;
        assert_eq!(status, 201, "{reply}");
        let (status, reply) = w.complete(&id, counts(10, 0)).await;
        assert_eq!(status, 200, "{reply}");
    }
    // Each run joins the history in the background: never more than 50.
    runs_recorded(&w, "quick", kept).await;
    let runs = w.app.archive.kind_history(&kind("quick")).await.unwrap();
    assert_eq!(runs.len(), kept);
}

/// Waits until the archive holds `runs` runs of `name`, which each
/// completion adds in the background.
async fn runs_recorded(w: &AppWithTokens, name: &str, runs: usize) {
    let archive = w.app.archive.clone();
    eventually(Duration::from_secs(5), "the runs are recorded", || {
        let archive = archive.clone();
        async move {
            archive
                .kind_history(&kind(name))
                .await
                .is_ok_and(|history| history.len() == runs)
        }
    })
    .await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn only_completed_runs_of_a_kind_are_kept(pool: sqlx::PgPool) {
    let w = app_with_tokens(pool, |_| {}).await;
    let finish = |id: &'static str, kind: Option<&'static str>, fail: bool| {
        let w = &w;
        async move {
            let mut body = declaration(10);
            if let Some(kind) = kind {
                body["kind"] = json!(kind);
            }
            assert_eq!(w.declare(id, body).await.0, 201);
            let (status, reply) = if fail {
                w.fail(id, json!({ "errorMessage": "gave up" })).await
            } else {
                w.complete(id, counts(10, 0)).await
            };
            assert_eq!(status, 200, "{reply}");
        }
    };
    finish("plain", None, false).await;
    finish("failed", Some("import"), true).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM kind_runs")
        .fetch_one(w.app.pool())
        .await
        .unwrap();
    assert_eq!(
        rows, 0,
        "a job without a kind, or a failed run, leaves none"
    );

    finish("done", Some("import"), false).await;
    runs_recorded(&w, "import", 1).await;
    let kinds: Vec<(String, String)> = sqlx::query_as("SELECT kind, job_id FROM kind_runs")
        .fetch_all(w.app.pool())
        .await
        .unwrap();
    assert_eq!(kinds, [("import".to_owned(), "done".to_owned())]);
}

/// One run of 100 targets through the writer, of kind `import`: how far
/// its estimate after [`EARLY`] chunks was from its true end.
async fn writer_run(writer: &ProgressWriter, id: &str) -> f64 {
    let spec = JobSpec::new(100)
        .chunked(10, Duration::ZERO)
        .kind(kind("import"));
    let handle = writer.start(job(id), spec);
    let start = Instant::now();
    let mut early = None;
    for n in 1..=10 {
        sleep_until(start + chunk_end(n)).await;
        handle.record(10, 0).unwrap();
        if n == EARLY {
            let record = handle.progress();
            early = Some((record.estimated_end_at, record.updated_at.unwrap()));
        }
    }
    let end = Utc::now();
    handle.complete().await.unwrap();
    let (estimated, at) = early.unwrap();
    error(estimated.expect("an estimate"), end, at)
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_kinds_history_brings_a_writer_jobs_early_estimate_closer(pool: sqlx::PgPool) {
    let app = support::spawn_app(pool).await;
    let writer = app.writer(eager());
    let first = writer_run(&writer, "import-0").await;
    for n in 1..4 {
        // The run joins the history once both stores hold its end.
        let archive = app.archive.clone();
        eventually(Duration::from_secs(5), "the run is recorded", || {
            let archive = archive.clone();
            async move {
                archive
                    .kind_history(&kind("import"))
                    .await
                    .is_ok_and(|runs| runs.len() == n)
            }
        })
        .await;
        let err = writer_run(&writer, &format!("import-{n}")).await;
        if n == 3 {
            assert!(first > 0.4, "alone: {first:.2}");
            assert!(
                err < 0.25,
                "with its kind's history: {err:.2} (alone {first:.2})"
            );
        }
    }
}
