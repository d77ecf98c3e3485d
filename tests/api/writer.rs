//! The writer: throttling, final flush, checkpoints, never backwards,
//! and Redis trouble never blocking the job.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use job_progress::{
    domain::{JobStatus, ProgressRecord},
    store::{HotStore, Keys, RedisStore, Ttls, WriteOutcome},
    write::{JobSpec, ProgressWriter, WriteError, WriterConfig},
};

use support::{DEAD_REDIS, eager, envelope, eventually, job, spawn_app, spawn_app_with};

#[sqlx::test(migrations = "migrations/postgres")]
async fn progress_is_throttled_and_completion_flushes_the_latest_counts(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |o| o.cache_ttl = Duration::ZERO).await;
    let writer = app.writer(WriterConfig {
        flush_interval: Duration::from_secs(3600),
        ..WriterConfig::default()
    });
    let handle = writer.start(job("throttled"), JobSpec::new(1000));
    handle.flush().await;
    assert_eq!(app.hot.writes(), 1, "the start is written at once");

    for _ in 0..100 {
        handle.record(5, 0).unwrap();
        tokio::task::yield_now().await;
    }
    // Give an over-eager flusher every chance to write.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.hot.writes(), 1, "no write within the interval");
    let shown = envelope(app.get_progress("throttled").await).await;
    assert_eq!(shown["data"]["currentSentCount"], 0);

    let started = Instant::now();
    let flushed = handle.complete().await.unwrap();
    assert!(flushed.hot && flushed.archive);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "completion does not wait for the interval"
    );
    assert_eq!(app.hot.writes(), 2);
    let shown = envelope(app.get_progress("throttled").await).await;
    assert_eq!(shown["data"]["status"], "completed");
    assert_eq!(shown["data"]["currentSentCount"], 500);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn status_changes_are_written_at_once(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(WriterConfig {
        flush_interval: Duration::from_secs(3600),
        checkpoint_interval: Duration::from_secs(3600),
        ..WriterConfig::default()
    });
    let handle = writer.prepare(job("prep"), JobSpec::new(10));
    handle.flush().await;
    let before = app.hot.writes();

    handle.begin().unwrap();
    // The status change must land without a flush() and despite the hour
    // long interval; wait for it as a poller would.
    eventually(
        Duration::from_secs(2),
        "the status change is written",
        || async {
            app.redis()
                .read(&job("prep"))
                .await
                .unwrap()
                .is_some_and(|record| record.status == JobStatus::InProgress)
        },
    )
    .await;
    assert_eq!(app.hot.writes(), before + 1);
    let checkpoint = app.archive.read(&job("prep")).await.unwrap().unwrap();
    assert_eq!(
        checkpoint.status,
        JobStatus::InProgress,
        "status changes are checkpointed too"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn counts_are_checkpointed_at_most_every_interval(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(WriterConfig {
        flush_interval: Duration::ZERO,
        checkpoint_interval: Duration::from_secs(3600),
        ..WriterConfig::default()
    });
    let handle = writer.start(job("ckpt"), JobSpec::new(10));
    handle.flush().await;
    handle.record(3, 0).unwrap();

    // Redis gets the counts (interval zero)...
    eventually(Duration::from_secs(2), "the counts reach Redis", || async {
        app.redis()
            .read(&job("ckpt"))
            .await
            .unwrap()
            .is_some_and(|record| record.current_sent_count == 3)
    })
    .await;
    // ...the archive keeps the start until the interval or a status change.
    let checkpoint = app.archive.read(&job("ckpt")).await.unwrap().unwrap();
    assert_eq!(checkpoint.current_sent_count, 0);

    handle.complete().await.unwrap();
    let checkpoint = app.archive.read(&job("ckpt")).await.unwrap().unwrap();
    assert_eq!(checkpoint.status, JobStatus::Completed);
    assert_eq!(checkpoint.current_sent_count, 3);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn redis_down_never_blocks_or_fails_the_job(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let dead = RedisStore::new(
        DEAD_REDIS,
        Keys::new("x:"),
        Ttls::default(),
        Duration::from_millis(100),
    )
    .unwrap();
    let writer = ProgressWriter::new(
        Arc::new(dead) as Arc<dyn HotStore>,
        Arc::clone(&app.archive),
        eager(),
    );

    let started = Instant::now();
    let handle = writer.start(job("unlucky"), JobSpec::new(100));
    for _ in 0..100 {
        handle.record(1, 0).unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "recording is a memory operation"
    );
    let flushed = handle.complete().await.unwrap();

    assert!(!flushed.hot, "Redis could not be written");
    assert!(flushed.archive, "the checkpoint still was");
    let checkpoint = app.archive.read(&job("unlucky")).await.unwrap().unwrap();
    assert_eq!(checkpoint.current_sent_count, 100);
    assert_eq!(checkpoint.status, JobStatus::Completed);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn impossible_input_is_refused_and_changes_nothing(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let handle = writer.start(job("strict"), JobSpec::new(10).chunked(5, Duration::ZERO));
    handle.record(4, 1).unwrap();

    assert!(matches!(
        handle.record(5, 1),
        Err(WriteError::ExceedsTotal {
            processed: 11,
            total: 10
        })
    ));
    assert!(matches!(
        handle.set_counts(3, 1),
        Err(WriteError::CountsDecreased { .. })
    ));
    assert!(matches!(
        handle.set_chunk(3),
        Err(WriteError::ChunkOutOfRange { chunk: 3, total: 2 })
    ));
    assert!(matches!(
        handle.set_total(4),
        Err(WriteError::ExceedsTotal { .. })
    ));
    assert!(matches!(
        handle.record(u64::MAX, 0),
        Err(WriteError::ExceedsTotal { .. })
    ));
    let progress = handle.progress();
    assert_eq!((progress.success_count, progress.failure_count), (4, 1));
    assert_eq!(progress.current_chunk, None);

    handle.complete().await.unwrap();
}

fn record(id: &str, status: JobStatus, sent: u64) -> ProgressRecord {
    let mut record = ProgressRecord::new(job(id), status, Some(100));
    record.current_sent_count = sent;
    record.success_count = sent;
    record.updated_at = Some(chrono::Utc::now());
    record
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn stale_writes_never_move_a_job_backwards(pool: sqlx::PgPool) {
    let app = spawn_app(pool).await;
    for (name, hot) in [("redis", true), ("postgres", false)] {
        let write = |r: ProgressRecord| {
            let app = &app;
            async move {
                if hot {
                    app.redis().write(&r).await.unwrap().outcome()
                } else {
                    app.archive.checkpoint(&r).await.unwrap()
                }
            }
        };
        let id = format!("order-{name}");
        assert_eq!(
            write(record(&id, JobStatus::InProgress, 50)).await,
            WriteOutcome::Written
        );
        assert_eq!(
            write(record(&id, JobStatus::InProgress, 40)).await,
            WriteOutcome::Stale,
            "{name}: counts never go down"
        );
        assert_eq!(
            write(record(&id, JobStatus::Preparing, 60)).await,
            WriteOutcome::Stale,
            "{name}: status never goes back"
        );
        assert_eq!(
            write(record(&id, JobStatus::Completed, 100)).await,
            WriteOutcome::Written
        );
        assert_eq!(
            write(record(&id, JobStatus::InProgress, 100)).await,
            WriteOutcome::Stale,
            "{name}: a finished job is not reopened"
        );
        assert_eq!(
            write(record(&id, JobStatus::Failed, 100)).await,
            WriteOutcome::Stale,
            "{name}: nor finished differently"
        );
        assert_eq!(
            write(record(&id, JobStatus::Completed, 100)).await,
            WriteOutcome::Written,
            "{name}: a retried final write is fine"
        );
    }
    let redis_value = app
        .redis()
        .read(&job("order-redis"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(redis_value.status, JobStatus::Completed);
    let row = app
        .archive
        .read(&job("order-postgres"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, JobStatus::Completed);
}

/// The job's log lines as `GET .../logs` serves them (up to 1,000).
async fn logged(app: &support::TestApp, id: &str) -> Vec<String> {
    let body = envelope(app.get(&format!("/api/v1/jobs/{id}/logs?limit=1000")).await).await;
    body["data"]["lines"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|line| line["message"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn log_lines_follow_the_next_flush_and_a_flood_keeps_the_newest(pool: sqlx::PgPool) {
    use job_progress::domain::LogLevel;

    let app = spawn_app(pool).await;
    let writer = app.writer(eager());
    let handle = writer.start(job("chatty"), JobSpec::new(10));
    handle.log(LogLevel::Info, "first").unwrap();
    handle.log(LogLevel::Warn, "second").unwrap();
    eventually(
        Duration::from_secs(10),
        "the lines reach the store",
        || async { logged(&app, "chatty").await == ["first", "second"] },
    )
    .await;

    let too_long = "x".repeat(2049);
    assert!(handle.log(LogLevel::Error, too_long).is_err());

    // Far more than the store keeps, faster than any flush: the queue
    // never holds more than 1,000, and the newest are the ones kept.
    for i in 0..5_000 {
        handle.log(LogLevel::Info, format!("line {i}")).unwrap();
    }
    handle.complete().await.unwrap();
    eventually(
        Duration::from_secs(10),
        "the flood's tail is stored",
        || async { logged(&app, "chatty").await.last().map(String::as_str) == Some("line 4999") },
    )
    .await;
    let kept = logged(&app, "chatty").await;
    assert!(kept.len() <= 1_000, "{} lines kept", kept.len());
    let numbers: Vec<u32> = kept
        .iter()
        .filter_map(|m| m.strip_prefix("line ")?.parse().ok())
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "in order");
    assert!(!kept.iter().any(|m| m.len() > 2048));

    // The finished job's last lines are kept in the archive too.
    eventually(
        Duration::from_secs(10),
        "the archive keeps the tail",
        || async {
            let tail = app.archive.tail(&job("chatty")).await.unwrap();
            tail.and_then(|t| t.lines.last().map(|l| l.message.clone()))
                == Some("line 4999".to_owned())
        },
    )
    .await;
}
