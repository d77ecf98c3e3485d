//! A 2xx for a status change means the archive has committed it: the real
//! server, SIGKILLed the moment its last answer arrives, restarted, and
//! asked for what it acknowledged; and a status change whose hot-store
//! write timed out is not acknowledged on retry before it is archived.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use futures_util::future::join_all;
use job_progress::{
    store::{Archive, MemoryStore, PgArchive, SqliteArchive, Ttls},
    write::{COMMIT_WAIT, FinishError, JobSpec, ProgressWriter, WriterConfig},
};
use serde_json::json;

use support::{
    Tokens, counts, database_url_for, eventually, job, redis_url, server_process::ServerProcess,
    tcp_proxy::TcpProxy,
};

/// Concurrent completions per round, and rounds.
const JOBS: usize = 50;
const ROUNDS: usize = 20;

/// Keeps `n` cores busy until dropped: the loss this file guards against
/// shows when the server competes for CPU, as it does on a loaded host.
struct BusyCores {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl BusyCores {
    fn start(n: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    // Bounded even if the guard is leaked: a minute at most.
                    let until = Instant::now() + Duration::from_secs(60);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for BusyCores {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Declares `ids`, then completes them all at once with
/// their own counts, and returns the moment the last answer is in: the
/// ids whose completion was acknowledged (200).
async fn complete_all(server: &ServerProcess, ids: &[String]) -> Vec<(String, u64)> {
    let declarations = ids
        .iter()
        .map(|id| async move { server.declare(id, json!({"total": 100})).await });
    for (status, body) in join_all(declarations).await {
        assert_eq!(status, 201, "{body}");
    }
    let completions = ids.iter().enumerate().map(|(n, id)| async move {
        let succeeded = 50 + n as u64;
        let (status, _) = server.complete(id, counts(succeeded, 0)).await;
        (status == 200).then(|| (id.clone(), succeeded))
    });
    join_all(completions).await.into_iter().flatten().collect()
}

/// Which of `acknowledged` the server does not serve as completed with
/// its counts.
async fn lost(server: &ServerProcess, acknowledged: &[(String, u64)]) -> Vec<String> {
    let mut lost = Vec::new();
    for (id, succeeded) in acknowledged {
        let (status, _, body) = server.get(&format!("/api/v1/jobs/{id}/progress")).await;
        let data = &body["data"];
        if status != 200 || data["status"] != "completed" || data["successCount"] != *succeeded {
            lost.push(format!("{id}: {status} {data}"));
        }
    }
    lost
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_acknowledged_just_before_a_sigkill_survive_it() {
    let data = tempfile::tempdir().unwrap();
    let tokens = Tokens::new();
    let _busy = BusyCores::start(2);

    let mut acknowledged = Vec::new();
    let mut lost_in_all = Vec::new();
    let mut previous: Vec<(String, u64)> = Vec::new();
    for round in 0..ROUNDS {
        let server =
            ServerProcess::start(crate::SERVER_BINARY.as_ref(), data.path(), &tokens).await;
        lost_in_all.extend(lost(&server, &previous).await);
        let ids: Vec<String> = (0..JOBS).map(|n| format!("r{round}-{n}")).collect();
        previous = complete_all(&server, &ids).await;
        server.kill().await;
        acknowledged.extend(previous.iter().cloned());
    }
    let server = ServerProcess::start(crate::SERVER_BINARY.as_ref(), data.path(), &tokens).await;
    lost_in_all.extend(lost(&server, &previous).await);
    server.stop().await;

    assert!(
        acknowledged.len() >= ROUNDS * JOBS * 9 / 10,
        "most completions are acknowledged: {} of {}",
        acknowledged.len(),
        ROUNDS * JOBS
    );
    assert!(
        lost_in_all.is_empty(),
        "{} of {} acknowledged completions lost to SIGKILL: {lost_in_all:?}",
        lost_in_all.len(),
        acknowledged.len()
    );
}

#[tokio::test]
async fn a_declaration_acknowledged_just_before_a_sigkill_survives_it() {
    let data = tempfile::tempdir().unwrap();
    let tokens = Tokens::new();
    let server = ServerProcess::start(crate::SERVER_BINARY.as_ref(), data.path(), &tokens).await;
    let ids: Vec<String> = (0..10).map(|n| format!("declared-{n}")).collect();
    let declarations = ids.iter().map(|id| {
        let server = &server;
        async move {
            let body = json!({"total": 40, "status": "preparing"});
            server.declare(id, body).await.0
        }
    });
    let statuses = join_all(declarations).await;
    server.kill().await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");

    let server = ServerProcess::start(crate::SERVER_BINARY.as_ref(), data.path(), &tokens).await;
    for id in &ids {
        let (status, _, body) = server.get(&format!("/api/v1/jobs/{id}/progress")).await;
        assert_eq!(status, 200, "{id} is not lost: {body}");
        assert_eq!(body["data"]["status"], "preparing", "{body}");
        assert_eq!(body["data"]["totalTargetCount"], 40, "{body}");
    }
    server.stop().await;
}

/// The same with Redis and PostgreSQL: the server dies the moment its last
/// completion is answered, and PostgreSQL (not only Redis, where the job
/// lives just until its TTL) holds every acknowledged one.
#[sqlx::test(migrations = "migrations/postgres")]
async fn on_redis_and_postgres_completions_acknowledged_before_a_sigkill_are_in_postgres(
    pool: sqlx::PgPool,
) {
    let data = tempfile::tempdir().unwrap();
    let tokens = Tokens::new();
    let env = [
        ("REDIS_URL", redis_url()),
        ("DATABASE_URL", database_url_for(&pool)),
        ("KEY_PREFIX", format!("test-{}:", uuid::Uuid::new_v4())),
        // Two cores shared with the other tests: Redis's 100 ms default
        // would turn a busy moment into a 503 before any checkpoint.
        ("REDIS_TIMEOUT_MS", "2000".to_owned()),
    ];
    let archive = PgArchive::from_pool(pool, Duration::from_secs(2));
    let mut acknowledged = Vec::new();
    let mut lost = Vec::new();
    for round in 0..3 {
        let server =
            ServerProcess::start_with(crate::SERVER_BINARY.as_ref(), data.path(), &tokens, &env)
                .await;
        let ids: Vec<String> = (0..JOBS).map(|n| format!("pg{round}-{n}")).collect();
        let done = complete_all(&server, &ids).await;
        server.kill().await;
        for (id, succeeded) in &done {
            let record = archive.read(&job(id)).await.unwrap();
            let kept = record
                .as_ref()
                .is_some_and(|r| r.status.as_str() == "completed" && r.success_count == *succeeded);
            if !kept {
                lost.push(format!("{id}: {record:?}"));
            }
        }
        acknowledged.extend(done);
    }
    assert!(
        acknowledged.len() >= 3 * JOBS * 9 / 10,
        "{}",
        acknowledged.len()
    );
    assert!(lost.is_empty(), "not in PostgreSQL: {lost:?}");
}

/// Holds SQLite's write lock on `file` from another connection (as a
/// second process or the `sqlite3` shell could) until released.
struct WriteLock(sqlx::SqliteConnection);

impl WriteLock {
    async fn take(file: &std::path::Path) -> Self {
        use sqlx::Connection as _;
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(file);
        let mut connection = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut connection)
            .await
            .unwrap();
        Self(connection)
    }

    async fn release(mut self) {
        sqlx::query("ROLLBACK").execute(&mut self.0).await.unwrap();
    }
}

#[tokio::test]
async fn a_status_change_the_archive_cannot_commit_is_a_503_and_its_retry_is_idempotent() {
    let data = tempfile::tempdir().unwrap();
    let tokens = Tokens::new();
    let server = ServerProcess::start(crate::SERVER_BINARY.as_ref(), data.path(), &tokens).await;
    for (id, status) in [
        ("ending", "in_progress"),
        ("starting", "preparing"),
        ("running", "in_progress"),
    ] {
        let body = json!({"total": 10, "status": status});
        let (code, body) = server.declare(id, body).await;
        assert_eq!(code, 201, "{body}");
    }
    let ending = counts(9, 1);
    let moving = json!({"updates": [{"jobId": "starting", "successCount": 2, "failureCount": 0}]});
    let plain = counts(3, 0);

    let lock = WriteLock::take(&data.path().join("job-progress.db")).await;
    let started = Instant::now();
    let refused = server
        .request("POST", "/api/v1/jobs/ending/complete", ending.clone())
        .await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(started.elapsed() >= COMMIT_WAIT, "{:?}", started.elapsed());
    // The change stays in the hot store; a retry while still locked is
    // refused again.
    let (_, _, held) = server.get("/api/v1/jobs/ending/progress").await;
    assert_eq!(held["data"]["status"], "completed", "{held}");
    let again = server
        .request("POST", "/api/v1/jobs/ending/complete", ending.clone())
        .await;
    assert_eq!(again.status(), 503);
    // A batch item that moves a job to `in_progress` waits as well ...
    let (code, batch) = server
        .send("POST", "/api/v1/progress", moving.clone())
        .await;
    assert_eq!(code, 200, "{batch}");
    assert_eq!(batch["data"][0]["statusCode"], 503, "{batch}");
    // ... and a plain report does not.
    let started = Instant::now();
    let (code, body) = server.report("running", plain).await;
    assert_eq!(code, 200, "{body}");
    assert!(started.elapsed() < COMMIT_WAIT, "{:?}", started.elapsed());

    lock.release().await;
    for _ in 0..2 {
        let (code, body) = server.complete("ending", ending.clone()).await;
        assert_eq!(code, 200, "a retried completion is idempotent: {body}");
        assert_eq!(body["data"]["successCount"], 9);
    }
    let other = counts(10, 0);
    let (code, _) = server.complete("ending", other).await;
    assert_eq!(code, 409, "a different ending is still refused");
    let (code, batch) = server.send("POST", "/api/v1/progress", moving).await;
    assert_eq!(
        (code, &batch["data"][0]["statusCode"]),
        (200, &json!(200)),
        "{batch}"
    );
    server.kill().await;

    let server = ServerProcess::start(crate::SERVER_BINARY.as_ref(), data.path(), &tokens).await;
    let (_, source, body) = server.get("/api/v1/jobs/ending/progress").await;
    assert_eq!(source, "database");
    let data = &body["data"];
    assert_eq!(
        (
            &data["status"],
            &data["successCount"],
            &data["failureCount"]
        ),
        (&json!("completed"), &json!(9), &json!(1)),
        "{body}"
    );
    let (_, _, body) = server.get("/api/v1/jobs/starting/progress").await;
    assert_eq!(body["data"]["status"], "in_progress", "{body}");
    server.stop().await;
}

#[tokio::test]
async fn the_writers_complete_returns_once_committed_or_says_it_is_not_durable() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("jobs.db");
    let archive = SqliteArchive::open(&file, Duration::from_secs(1)).unwrap();
    archive.migrate().await.unwrap();
    let hot = MemoryStore::new(Ttls::default(), job_progress::push::FEED_CAPACITY);
    let writer = ProgressWriter::new(
        Arc::new(hot),
        Arc::new(archive.clone()),
        WriterConfig::default(),
    );

    let first = writer.start(job("first"), JobSpec::new(4));
    first.record(4, 0).unwrap();
    assert!(first.complete().await.unwrap().archive);
    let kept = archive.read(&job("first")).await.unwrap().unwrap();
    assert_eq!(kept.status.as_str(), "completed", "committed on return");

    let second = writer.start(job("second"), JobSpec::new(4));
    second.flush().await;
    let lock = WriteLock::take(&file).await;
    second.record(3, 1).unwrap();
    let started = Instant::now();
    let finished = second.complete().await;
    assert_eq!(finished, Err(FinishError::NotDurable { hot: true }));
    assert!(started.elapsed() >= COMMIT_WAIT);
    lock.release().await;
    assert!(writer.shutdown(Duration::from_secs(10)).await);
    let kept = archive.read(&job("second")).await.unwrap().unwrap();
    assert_eq!(
        (kept.status.as_str(), kept.success_count, kept.failure_count),
        ("completed", 3, 1)
    );
}

/// A report that moves a job to `in_progress` while Redis applies its
/// write but the server hears nothing back in time (the proxy holds
/// Redis's replies past `REDIS_TIMEOUT_MS`): the report is refused (503),
/// yet Redis holds the new status. Its retry must not be answered 2xx
/// before PostgreSQL holds that status too: Redis keeps nothing on disk.
#[sqlx::test(migrations = "migrations/postgres")]
async fn a_report_whose_redis_write_timed_out_is_acknowledged_on_retry_only_once_in_postgres(
    pool: sqlx::PgPool,
) {
    let data = tempfile::tempdir().unwrap();
    let tokens = Tokens::new();
    let redis = redis_url();
    let target = redis.trim_start_matches("redis://");
    let target = tokio::net::lookup_host(target.split('/').next().unwrap())
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = TcpProxy::start(target).await;
    let env = [
        ("REDIS_URL", format!("redis://127.0.0.1:{}", proxy.port)),
        ("DATABASE_URL", database_url_for(&pool)),
        ("KEY_PREFIX", format!("test-{}:", uuid::Uuid::new_v4())),
        // Long enough for a loaded host, short enough to wait out.
        ("REDIS_TIMEOUT_MS", "1000".to_owned()),
        // No periodic checkpoint carries the status by chance.
        ("CHECKPOINT_INTERVAL_SECS", "3600".to_owned()),
    ];
    let archive = PgArchive::from_pool(pool, Duration::from_secs(2));
    let server =
        ServerProcess::start_with(crate::SERVER_BINARY.as_ref(), data.path(), &tokens, &env).await;
    let id = "moved-while-redis-was-slow";
    let (code, body) = server
        .declare(id, json!({"total": 10, "status": "preparing"}))
        .await;
    assert_eq!(code, 201, "{body}");

    // The report's write script reaches Redis; its answer does not reach
    // the server in time.
    proxy.hold_replies_after(&[b"EVALSHA", id.as_bytes()]);
    let (code, body) = server.report(id, counts(2, 0)).await;
    assert_eq!(code, 503, "{body}");
    assert!(proxy.holding(), "the write script went through the proxy");
    proxy.release();
    eventually(
        Duration::from_secs(10),
        "Redis holds the new status",
        || async {
            let (status, _, body) = server.get(&format!("/api/v1/jobs/{id}/progress")).await;
            status == 200 && body["data"]["status"] == "in_progress"
        },
    )
    .await;
    let before = archive.read(&job(id)).await.unwrap().unwrap();
    assert_eq!(before.status.as_str(), "preparing", "not checkpointed yet");

    // The worker retries until it gets a 2xx; by then PostgreSQL has it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, body) = server.report(id, counts(2, 0)).await;
        if code == 200 {
            break;
        }
        assert_eq!(code, 503, "{body}");
        assert!(
            Instant::now() < deadline,
            "the retry is never taken: {body}"
        );
    }
    let kept = archive.read(&job(id)).await.unwrap().unwrap();
    assert_eq!(
        (kept.status.as_str(), kept.success_count),
        ("in_progress", 2),
        "acknowledged, so in PostgreSQL"
    );
    server.kill().await;
}
