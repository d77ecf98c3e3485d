//! `job_progress` stops growing: old checkpoints of finished jobs are
//! deleted in small batches (`RETENTION_DAYS`), and a job whose worker
//! vanished long ago leaves the PostgreSQL active list.

use std::time::Duration;

use job_progress::{
    config::ServeSettings,
    domain::{JobStatus, ProgressRecord},
    startup::Application,
    store::{Archive, PgArchive, Retention},
};
use sqlx::PgPool;

use support::{DEAD_REDIS, database_url_for, envelope, eventually, job, job_ids, spawn_app_with};

const DAY: Duration = Duration::from_secs(86_400);

fn checkpoint(id: &str, status: JobStatus) -> ProgressRecord {
    let mut record = ProgressRecord::new(job(id), status, Some(10));
    record.updated_at = Some(chrono::Utc::now());
    if status.is_terminal() {
        record.completed_at = record.updated_at;
    }
    record
}

/// Checkpoints `ids` (all of `status`) and backdates their last write by
/// `age`, as if written then.
async fn seed(archive: &PgArchive, prefix: &str, n: usize, status: JobStatus, age: Duration) {
    let records: Vec<_> = (0..n)
        .map(|i| checkpoint(&format!("{prefix}{i}"), status))
        .collect();
    archive.checkpoint_many(&records).await.unwrap();
    sqlx::query(
        "UPDATE job_progress SET checkpointed_at = now() - $1 * interval '1 second' \
         WHERE job_id LIKE $2 || '%'",
    )
    .bind(age.as_secs_f64())
    .bind(prefix)
    .execute(archive.pool())
    .await
    .unwrap();
}

async fn ids_left(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT job_id FROM job_progress ORDER BY job_id")
        .fetch_all(pool)
        .await
        .unwrap()
}

fn thirty_days(batch: u32) -> Retention {
    Retention {
        batch,
        pause: Duration::from_millis(1),
        ..Retention::keeping(30 * DAY)
    }
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn old_finished_checkpoints_are_deleted_in_batches_and_nothing_else(pool: PgPool) {
    let archive = PgArchive::from_pool(pool.clone(), Duration::from_secs(5));
    seed(&archive, "old-done-", 150, JobStatus::Completed, 40 * DAY).await;
    seed(&archive, "old-failed-", 100, JobStatus::Failed, 31 * DAY).await;
    seed(&archive, "recent-done-", 3, JobStatus::Completed, 29 * DAY).await;
    seed(&archive, "old-active-", 2, JobStatus::InProgress, 90 * DAY).await;

    let one = archive.delete_finished(30 * DAY, 100).await.unwrap();
    assert_eq!(one, 100, "one statement deletes at most its batch");
    let rest = thirty_days(100).prune(&archive).await.unwrap();
    assert_eq!(rest, 150, "a pass goes on until a batch comes back short");

    assert_eq!(
        ids_left(&pool).await,
        [
            "old-active-0",
            "old-active-1",
            "recent-done-0",
            "recent-done-1",
            "recent-done-2"
        ],
        "recent finished jobs and active jobs, however old, stay"
    );
    assert_eq!(thirty_days(100).prune(&archive).await.unwrap(), 0);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_row_being_written_is_skipped_not_waited_for(pool: PgPool) {
    let archive = PgArchive::from_pool(pool.clone(), Duration::from_secs(5));
    seed(&archive, "old-", 5, JobStatus::Completed, 40 * DAY).await;
    // Another transaction holds one row (a checkpoint being rewritten).
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM job_progress WHERE job_id = 'old-2' FOR UPDATE")
        .execute(&mut *holder)
        .await
        .unwrap();

    let deleted = tokio::time::timeout(Duration::from_secs(2), thirty_days(2).prune(&archive))
        .await
        .expect("the pass does not wait for the lock")
        .unwrap();

    assert_eq!(deleted, 4);
    assert_eq!(ids_left(&pool).await, ["old-2"]);
    holder.rollback().await.unwrap();
    assert_eq!(
        thirty_days(2).prune(&archive).await.unwrap(),
        1,
        "next pass"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_server_runs_retention_from_its_start(pool: PgPool) {
    let archive = PgArchive::from_pool(pool.clone(), Duration::from_secs(5));
    seed(&archive, "ancient-", 3, JobStatus::Failed, 31 * DAY).await;
    seed(&archive, "kept-", 1, JobStatus::Failed, 29 * DAY).await;
    let mut settings = ServeSettings::defaults();
    settings.listen_addr = "127.0.0.1:0".parse().unwrap();
    settings.database.database_url = Some(database_url_for(&pool));
    settings.redis.redis_url = Some(DEAD_REDIS.into());
    settings.skip_migrations = true;
    assert_eq!(settings.retention_days, 30, "the default");

    let _app = Application::build(settings).await.expect("the app builds");

    eventually(Duration::from_secs(10), "the first pass ran", || async {
        ids_left(&pool).await == ["kept-0"]
    })
    .await;
}

#[test]
fn retention_days_zero_keeps_everything() {
    let mut settings = ServeSettings::defaults();
    assert_eq!(settings.retention(), Some(Retention::keeping(30 * DAY)));
    settings.retention_days = 0;
    assert_eq!(settings.retention(), None);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_job_whose_worker_vanished_long_ago_leaves_the_fallback_active_list(pool: PgPool) {
    let archive = PgArchive::from_pool(pool.clone(), Duration::from_secs(2))
        .with_active_ttl(Duration::from_secs(3600));
    let alive = checkpoint("alive", JobStatus::InProgress);
    let mut vanished = checkpoint("vanished", JobStatus::InProgress);
    vanished.updated_at = Some(chrono::Utc::now() - chrono::Duration::hours(2));
    let mut recent_but_quiet = checkpoint("quiet", JobStatus::Preparing);
    recent_but_quiet.updated_at = Some(chrono::Utc::now() - chrono::Duration::minutes(50));
    archive
        .checkpoint_many(&[alive, vanished, recent_but_quiet])
        .await
        .unwrap();
    let app = spawn_app_with(pool, |o| {
        o.redis_url = DEAD_REDIS.into();
        o.archive = Some(archive);
        o.cache_ttl = Duration::ZERO;
    })
    .await;

    let response = app.get_active("").await;
    assert_eq!(response.headers()["x-progress-source"], "database");
    assert_eq!(response.headers()["x-total-count"], "2");
    let body = envelope(response).await;
    let mut ids = job_ids(&body);
    ids.sort();
    assert_eq!(ids, ["alive", "quiet"], "older than the TTL: gone");

    // Still served by id, and marked for what it is.
    let single = envelope(app.get_progress("vanished").await).await;
    assert_eq!(single["data"]["stalled"], true);
}
