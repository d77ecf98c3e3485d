//! Faults: Redis hung, killed and restarted; PostgreSQL cut off; a worker
//! killed in the middle of a job.

use std::{
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use job_progress::{
    store::{Archive, HotStore, Keys, PgArchive, RedisStore, Ttls},
    write::{COMMIT_WAIT, FinishError, JobSpec, ProgressWriter, WriterConfig},
};

use support::{
    TestApp, database_url_for, eager, envelope, eventually, example_binary, job,
    local_server::RedisServer, pool_via, postgres_addr, spawn_app, spawn_app_with,
    tcp_proxy::TcpProxy,
};

async fn source_of(app: &TestApp, id: &str) -> String {
    let response = app.get_progress(id).await;
    assert_eq!(response.status(), 200);
    response.headers()["x-progress-source"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_hung_redis_is_skipped_after_a_few_timeouts_and_used_again_when_it_answers(
    pool: sqlx::PgPool,
) {
    let redis = RedisServer::redis().await;
    let app = spawn_app_with(pool, |o| {
        o.redis_url = redis.url();
        o.cache_ttl = Duration::ZERO;
    })
    .await;
    let handle = app.writer(eager()).start(job("steady"), JobSpec::new(100));
    handle.record(10, 0).unwrap();
    handle.flush().await;
    assert_eq!(source_of(&app, "steady").await, "redis");

    redis.pause();
    let mut took = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        assert_eq!(
            source_of(&app, "steady").await,
            "database",
            "the checkpoint answers"
        );
        took.push(started.elapsed());
    }
    // Without the breaker every read would wait the 200 ms Redis timeout;
    // with it, only the first few do (probes run in the background).
    took.sort();
    let median = took[took.len() / 2];
    assert!(
        median < Duration::from_millis(150),
        "median {median:?} of {took:?}"
    );
    let ready = envelope(app.get("/readyz").await).await;
    assert_eq!(
        ready["data"]["hot"],
        serde_json::json!({"store": "redis", "state": "down"})
    );
    assert_eq!(
        ready["data"]["archive"],
        serde_json::json!({"store": "postgres", "state": "up"})
    );

    redis.resume();
    eventually(
        Duration::from_secs(5),
        "reads come from Redis again",
        || async { source_of(&app, "steady").await == "redis" },
    )
    .await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_restarted_empty_redis_gets_every_live_job_back(pool: sqlx::PgPool) {
    let mut redis = RedisServer::redis().await;
    let app = spawn_app_with(pool, |o| {
        o.redis_url = redis.url();
        o.cache_ttl = Duration::ZERO;
    })
    .await;
    // An hour-long heartbeat: only the "Redis is back" rewrite can restore
    // the idle job in time.
    let writer = app.writer(WriterConfig {
        flush_interval: Duration::ZERO,
        heartbeat_interval: Duration::from_secs(3600),
        ..WriterConfig::default()
    });
    let idle = writer.start(job("idle"), JobSpec::new(100));
    idle.record(5, 0).unwrap();
    idle.flush().await;
    let busy = writer.start(job("busy"), JobSpec::new(100));
    busy.flush().await;

    redis.kill();
    busy.record(7, 0).unwrap(); // fails, and is retried
    redis.restart().await;

    eventually(
        Duration::from_secs(10),
        "both jobs are back in Redis",
        || async {
            let idle = app.redis().read(&job("idle")).await.ok().flatten();
            let busy = app.redis().read(&job("busy")).await.ok().flatten();
            idle.is_some_and(|r| r.current_sent_count == 5)
                && busy.is_some_and(|r| r.current_sent_count == 7)
        },
    )
    .await;
    let mut members = app.index_members_at(&redis.url()).await;
    members.sort();
    assert_eq!(members, ["busy", "idle"], "the index is rebuilt too");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn with_postgres_cut_off_redis_reads_are_unaffected_and_the_checkpoint_lands_later(
    pool: sqlx::PgPool,
) {
    let proxy = TcpProxy::start(postgres_addr(&pool).await).await;
    let archive = PgArchive::from_pool(pool_via(&pool, proxy.port), Duration::from_millis(500));
    let app = spawn_app_with(pool.clone(), |o| {
        o.archive = Some(archive.clone());
        o.cache_ttl = Duration::ZERO;
    })
    .await;
    let handle = app.writer(eager()).start(job("pg-blip"), JobSpec::new(10));
    handle.flush().await;

    proxy.cut();
    handle.record(10, 0).unwrap();
    let started = Instant::now();
    let finished = handle.complete().await;
    assert_eq!(
        finished,
        Err(FinishError::NotDurable { hot: true }),
        "complete() says the end is not yet durable"
    );
    assert!(started.elapsed() < COMMIT_WAIT + Duration::from_secs(2));
    assert_eq!(
        source_of(&app, "pg-blip").await,
        "redis",
        "reads of live jobs don't need PostgreSQL"
    );
    let ready = envelope(app.get("/readyz").await).await;
    assert_eq!(
        ready["data"]["archive"],
        serde_json::json!({"store": "postgres", "state": "down"})
    );

    proxy.restore();
    let direct = PgArchive::from_pool(pool, Duration::from_secs(2));
    eventually(
        Duration::from_secs(10),
        "the final checkpoint is written",
        || async {
            direct
                .read(&job("pg-blip"))
                .await
                .ok()
                .flatten()
                .is_some_and(|r| r.status.is_terminal() && r.current_sent_count == 10)
        },
    )
    .await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_worker_killed_mid_job_shows_as_stalled_in_redis_and_in_the_checkpoint(
    pool: sqlx::PgPool,
) {
    let app = spawn_app_with(pool.clone(), |o| {
        o.cache_ttl = Duration::ZERO;
        o.settings.stall_floor_secs = 1;
    })
    .await;
    let mut worker = Command::new(example_binary("send_campaign"))
        .args([
            "--job-id",
            "doomed",
            "--total",
            "1000000",
            "--chunk-size",
            "100",
        ])
        .args(["--pause-ms", "20", "--work-ms", "20", "--failure-rate", "0"])
        .env("REDIS_URL", support::redis_url())
        .env("KEY_PREFIX", app.keys.prefix())
        .env("DATABASE_URL", database_url_for(&pool))
        .env("FLUSH_INTERVAL_MS", "100")
        .env("HEARTBEAT_MS", "200")
        .env("CHECKPOINT_INTERVAL_SECS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    eventually(
        Duration::from_secs(30),
        "the worker reports progress",
        || async {
            let response = app.get_progress("doomed").await;
            response.status() == 200
                && envelope(response).await["data"]["currentSentCount"].as_u64() > Some(0)
        },
    )
    .await;
    let alive = envelope(app.get_progress("doomed").await).await;
    assert_eq!(alive["data"]["stalled"], false);
    assert_eq!(alive["data"]["refreshIntervalMs"], 200);

    worker.kill().unwrap(); // SIGKILL
    worker.wait().unwrap();

    eventually(
        Duration::from_secs(10),
        "the job shows as stalled",
        || async { envelope(app.get_progress("doomed").await).await["data"]["stalled"] == true },
    )
    .await;
    let list = envelope(app.get_active("").await).await;
    assert_eq!(list["data"][0]["jobId"], "doomed");
    assert_eq!(list["data"][0]["stalled"], true, "the active list says so");

    app.delete_key("doomed").await;
    eventually(
        Duration::from_secs(10),
        "the checkpoint says so too",
        || async {
            let response = app.get_progress("doomed").await;
            let from_db = response.headers()["x-progress-source"] == "database";
            from_db && envelope(response).await["data"]["stalled"] == true
        },
    )
    .await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_second_writer_with_stale_counts_cannot_move_a_job_back(pool: sqlx::PgPool) {
    // Blue-green: the old instance still holds an older state of the job.
    let app = spawn_app(pool).await;
    let new = app.writer(eager());
    let old = ProgressWriter::new(
        Arc::new(
            RedisStore::new(
                &support::redis_url(),
                Keys::new(app.keys.prefix()),
                Ttls::default(),
                Duration::from_millis(200),
            )
            .unwrap(),
        ) as Arc<dyn HotStore>,
        Arc::clone(&app.archive),
        eager(),
    );
    let current = new.start(job("deploy"), JobSpec::new(100));
    current.record(80, 0).unwrap();
    current.flush().await;
    let stale = old.start(job("deploy"), JobSpec::new(100));
    stale.record(20, 0).unwrap();
    stale.flush().await;

    let body = envelope(app.get_progress("deploy").await).await;
    assert_eq!(body["data"]["currentSentCount"], 80);
    assert_eq!(
        app.archive
            .read(&job("deploy"))
            .await
            .unwrap()
            .unwrap()
            .current_sent_count,
        80
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn fallback_answers_leave_the_cache_early_once_redis_is_back(pool: sqlx::PgPool) {
    let mut redis = RedisServer::redis().await;
    // A long cache period: only the short life of fallback answers can let
    // Redis's answer through within the test's limit.
    let app = spawn_app_with(pool, |o| {
        o.redis_url = redis.url();
        o.cache_ttl = Duration::from_secs(60);
    })
    .await;
    let handle = app.writer(eager()).start(job("blip"), JobSpec::new(10));
    handle.record(4, 0).unwrap();
    handle.flush().await;

    redis.kill();
    assert_eq!(source_of(&app, "blip").await, "database");
    redis.restart().await;
    handle.record(1, 0).unwrap();
    handle.flush().await; // retried until the new Redis has it

    eventually(
        Duration::from_secs(10),
        "reads come from Redis again",
        || async { source_of(&app, "blip").await == "redis" },
    )
    .await;
    let body = envelope(app.get_progress("blip").await).await;
    assert_eq!(body["data"]["currentSentCount"], 5);
}
