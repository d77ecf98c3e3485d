//! Batched checkpoints: many jobs per statement, counted by PostgreSQL
//! itself; the never-backwards rule inside and across batches; a failing
//! archive retried with the latest state; `flush()` still reporting
//! delivery; a status change written over HTTP confirmed in place once
//! committed.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::future::join_all;
use job_progress::{
    domain::{JobStatus, ProgressRecord},
    store::{Archive, HotStore, PgArchive, WriteOutcome},
    write::{BatchStats, COMMIT_WAIT, CheckpointBatching, Checkpoints, JobSpec, ProgressWriter},
};
use serde_json::json;
use sqlx::PgPool;

use support::{
    app_with_tokens, counts, eager, eventually, job, pool_via, postgres_addr, spawn_app,
    tcp_proxy::TcpProxy,
};

/// Logs every statement that inserts into `job_progress` (an upsert is an
/// insert, whatever it ends up doing), from inside PostgreSQL: a
/// statement-level trigger fires once per statement, however many rows it
/// carries.
async fn count_statements(pool: &PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE checkpoint_statements (at timestamptz NOT NULL DEFAULT clock_timestamp());
         CREATE FUNCTION log_checkpoint_statement() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO checkpoint_statements DEFAULT VALUES; RETURN NULL; END $$;
         CREATE TRIGGER count_checkpoint_statements AFTER INSERT ON job_progress
         FOR EACH STATEMENT EXECUTE FUNCTION log_checkpoint_statement();",
    )
    .execute(pool)
    .await
    .expect("the statement counter is installed");
}

async fn statements(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM checkpoint_statements")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM job_progress")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn record(id: &str, status: JobStatus, sent: u64) -> ProgressRecord {
    let mut record = ProgressRecord::new(job(id), status, Some(100));
    record.current_sent_count = sent;
    record.success_count = sent;
    record.updated_at = Some(chrono::Utc::now());
    record
}

/// A queue that waits long enough for every record a test submits at once
/// to land in one batch.
fn patient(archive: &PgArchive) -> Checkpoints {
    Checkpoints::new(
        Arc::new(archive.clone()),
        CheckpointBatching {
            linger: Duration::from_millis(300),
            ..CheckpointBatching::default()
        },
    )
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn checkpoints_of_many_jobs_share_one_statement(pool: PgPool) {
    count_statements(&pool).await;
    let archive = PgArchive::from_pool(pool.clone(), Duration::from_secs(5));
    let checkpoints = patient(&archive);

    let submitted = (0..500).map(|i| {
        let checkpoints = checkpoints.clone();
        async move {
            checkpoints
                .submit(record(&format!("many-{i}"), JobStatus::InProgress, i))
                .await
        }
    });
    let outcomes = join_all(submitted).await;

    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(WriteOutcome::Written))),
        "every record is written: {:?}",
        outcomes.iter().find(|o| o.is_err())
    );
    assert_eq!(rows(&pool).await, 500);
    assert_eq!(statements(&pool).await, 1, "PostgreSQL saw one statement");
    assert_eq!(
        checkpoints.stats(),
        BatchStats {
            submitted: 500,
            statements: 1,
            rows: 500,
            failed: 0
        }
    );
    let last = archive.read(&job("many-499")).await.unwrap().unwrap();
    assert_eq!(
        last.current_sent_count, 499,
        "each row holds its own record"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_writers_jobs_checkpoint_together_and_flush_reports_each(pool: PgPool) {
    count_statements(&pool).await;
    let app = spawn_app(pool.clone()).await;
    let writer = app.writer(eager());

    let handles: Vec<_> = (0..300)
        .map(|i| writer.start(job(&format!("w-{i}")), JobSpec::new(10)))
        .collect();
    let flushed = join_all(handles.iter().map(|h| h.flush())).await;

    assert!(
        flushed.iter().all(|f| f.archive),
        "every start is checkpointed"
    );
    // flush() returned only after each job's checkpoint was tried: the rows
    // are there now, without waiting.
    assert_eq!(rows(&pool).await, 300);
    let statements = statements(&pool).await;
    assert!(
        statements <= 30,
        "300 jobs starting together take a few statements, not 300: {statements}"
    );
    let stats = writer.checkpoints().stats();
    assert_eq!(stats.rows, 300);
    assert_eq!(stats.statements, u64::try_from(statements).unwrap());
    for handle in handles {
        handle.complete().await.unwrap();
    }
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn never_backwards_holds_inside_and_across_batches(pool: PgPool) {
    let archive = PgArchive::from_pool(pool.clone(), Duration::from_secs(5));
    // Rows already ahead of what the batch brings.
    let mut done = record("done", JobStatus::Completed, 100);
    done.completed_at = done.updated_at;
    archive
        .checkpoint_many(&[record("ahead", JobStatus::InProgress, 50), done.clone()])
        .await
        .unwrap();
    let checkpoints = patient(&archive);

    let first = join_all([
        checkpoints.submit(record("ahead", JobStatus::InProgress, 10)),
        checkpoints.submit(record("done", JobStatus::InProgress, 60)),
        checkpoints.submit(record("fresh", JobStatus::InProgress, 5)),
        checkpoints.submit(record("twice", JobStatus::InProgress, 5)),
        checkpoints.submit(record("twice", JobStatus::InProgress, 7)),
    ])
    .await;
    let first: Vec<WriteOutcome> = first.into_iter().map(Result::unwrap).collect();

    use WriteOutcome::{Stale, Written};
    assert_eq!(first, [Stale, Stale, Written, Written, Written]);
    assert_eq!(
        checkpoints.stats().statements,
        1,
        "one batch, the duplicate collapsed into it"
    );
    let sent = |id: &'static str| {
        let archive = archive.clone();
        async move {
            let r = archive.read(&job(id)).await.unwrap().unwrap();
            (r.status, r.current_sent_count)
        }
    };
    assert_eq!(sent("ahead").await, (JobStatus::InProgress, 50));
    assert_eq!(sent("done").await, (JobStatus::Completed, 100));
    assert_eq!(sent("twice").await, (JobStatus::InProgress, 7), "the newer");

    // A later batch cannot undo the first; a retried final write is fine.
    let second = join_all([
        checkpoints.submit(record("fresh", JobStatus::Preparing, 5)),
        checkpoints.submit(record("twice", JobStatus::InProgress, 6)),
        checkpoints.submit(done),
    ])
    .await;
    let second: Vec<WriteOutcome> = second.into_iter().map(Result::unwrap).collect();
    assert_eq!(second, [Stale, Stale, Written]);
    assert_eq!(sent("fresh").await, (JobStatus::InProgress, 5));
    assert_eq!(sent("twice").await, (JobStatus::InProgress, 7));
    assert_eq!(checkpoints.stats().statements, 2);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_cut_archive_is_retried_and_the_latest_state_wins(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let proxy = TcpProxy::start(postgres_addr(&pool).await).await;
    let cut_off = PgArchive::from_pool(pool_via(&pool, proxy.port), Duration::from_millis(500));
    let writer = ProgressWriter::new(
        Arc::clone(&app.hot) as Arc<dyn HotStore>,
        Arc::new(cut_off) as Arc<dyn Archive>,
        eager(),
    );
    let handle = writer.start(job("blip"), JobSpec::new(100));
    handle.record(10, 0).unwrap();
    assert!(handle.flush().await.archive, "written while connected");

    proxy.cut();
    handle.record(10, 0).unwrap();
    let flushed = handle.flush().await;
    assert!(
        flushed.hot && !flushed.archive,
        "flush() says the checkpoint failed: {flushed:?}"
    );
    handle.record(10, 0).unwrap();
    let held = app.archive.read(&job("blip")).await.unwrap().unwrap();
    assert_eq!(held.current_sent_count, 10, "nothing reached it while cut");

    proxy.restore();
    eventually(
        Duration::from_secs(10),
        "the latest counts are checkpointed once the archive is back",
        || async {
            app.archive
                .read(&job("blip"))
                .await
                .ok()
                .flatten()
                .is_some_and(|r| r.current_sent_count == 30)
        },
    )
    .await;
    let stats = writer.checkpoints().stats();
    assert!(stats.failed >= 1, "the cut was felt: {stats:?}");
    let flushed = handle.complete().await.unwrap();
    assert!(flushed.archive, "{flushed:?}");
    let last = app.archive.read(&job("blip")).await.unwrap().unwrap();
    assert_eq!(
        (last.status, last.current_sent_count),
        (JobStatus::Completed, 30)
    );
}

/// A status change, once committed, is confirmed in the hot store in
/// place: the record keeps the version its answer gave (it is not written
/// again, so no stream hears of it twice), and the job's next report is
/// answered at once, without waiting for the archive, which is cut off by
/// then.
#[sqlx::test(migrations = "migrations/postgres")]
async fn a_committed_status_change_is_confirmed_in_place_and_the_next_report_does_not_wait(
    pool: PgPool,
) {
    let proxy = TcpProxy::start(postgres_addr(&pool).await).await;
    let archive = PgArchive::from_pool(pool_via(&pool, proxy.port), Duration::from_millis(500));
    let app = app_with_tokens(pool.clone(), |o| o.archive = Some(archive)).await;
    let (code, body) = app
        .declare("started", json!({"total": 10, "status": "in_progress"}))
        .await;
    assert_eq!(code, 201, "{body}");
    let stored = app.app.hot.read(&job("started")).await.unwrap().unwrap();
    assert_eq!(
        json!(stored.version),
        body["data"]["version"],
        "not rewritten"
    );

    proxy.cut();
    let started = Instant::now();
    let (code, body) = app.report("started", counts(3, 0)).await;
    assert_eq!(code, 200, "{body}");
    assert!(started.elapsed() < COMMIT_WAIT, "{:?}", started.elapsed());
}
