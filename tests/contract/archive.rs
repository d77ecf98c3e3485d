//! The archive contract: every `Archive` keeps these promises.
//!
//! Each promise is written once, as `async fn <promise>(db: &Db)` against
//! `db.archive`, and [`contract!`] runs it against each database:
//! `archive::<file>::postgres::<promise>` on a fresh PostgreSQL database
//! (`#[sqlx::test]`), `archive::<file>::sqlite::<promise>` on a SQLite file
//! in a temporary folder of its own. What a promise must arrange beyond the
//! trait (a schedule registered beforehand, a checkpoint aged, a row the
//! database refuses) goes through [`Db`]'s helpers: one statement per
//! database, side by side.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use job_progress::{
    domain::{JobId, JobStatus, ProgressRecord, ScheduleId, WantedEvents},
    store::{Archive, Outbox, PgArchive, SqliteArchive},
};
use sqlx::{PgPool, SqlitePool};

/// Runs each named promise against PostgreSQL and against SQLite.
macro_rules! contract {
    ($($promise:ident),* $(,)?) => {
        mod postgres {
            $(
                #[sqlx::test(migrations = "migrations/postgres")]
                async fn $promise(pool: sqlx::PgPool) {
                    super::$promise(&crate::archive::Db::postgres(pool)).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $promise() {
                    super::$promise(&crate::archive::Db::sqlite().await).await;
                }
            )*
        }
    };
}

mod checkpoints;
mod children;
mod filters;
mod lists;
mod outbox;
mod retention;
mod runs;
mod schedules;
mod tails;

/// Every call's limit: far above what a healthy database needs.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The active list's TTL in every test: an active job not updated for an
/// hour is left out.
pub const ACTIVE_TTL: Duration = Duration::from_secs(3600);

/// One archive under test, and the way to reach its database directly.
pub struct Db {
    /// The archive, as the server sees it.
    pub archive: Arc<dyn Archive>,
    /// The webhook outbox on the same database.
    pub outbox: Arc<dyn Outbox>,
    /// The webhook events the archive's checkpoints write: none, unless a
    /// promise says otherwise.
    pub wanted: WantedEvents,
    database: Database,
}

enum Database {
    Postgres(PgPool),
    Sqlite {
        pool: SqlitePool,
        /// Deleted when the test ends.
        _folder: tempfile::TempDir,
    },
}

impl Db {
    /// PostgreSQL, on the migrated database `#[sqlx::test]` made.
    pub fn postgres(pool: PgPool) -> Self {
        let wanted = WantedEvents::default();
        let archive = PgArchive::from_pool(pool.clone(), TIMEOUT)
            .with_active_ttl(ACTIVE_TTL)
            .with_webhook_events(wanted.clone());
        Self {
            outbox: Arc::new(archive.clone()),
            archive: Arc::new(archive),
            wanted,
            database: Database::Postgres(pool),
        }
    }

    /// SQLite, in a new file of a new folder, migrated.
    pub async fn sqlite() -> Self {
        let folder = tempfile::tempdir().expect("a temporary folder");
        // A folder that does not exist yet: `open` creates it.
        let path = folder.path().join("data").join("archive.db");
        let wanted = WantedEvents::default();
        let archive = SqliteArchive::open(&path, TIMEOUT)
            .expect("the file opens")
            .with_active_ttl(ACTIVE_TTL)
            .with_webhook_events(wanted.clone());
        archive.migrate().await.expect("the migrations apply");
        Self {
            outbox: Arc::new(archive.clone()),
            wanted,
            database: Database::Sqlite {
                pool: archive.pool().clone(),
                _folder: folder,
            },
            archive: Arc::new(archive),
        }
    }

    /// Backdates the last write of `job`'s checkpoint (the database's own
    /// clock, which retention goes by) by `age`.
    pub async fn age(&self, job: &str, age: Duration) {
        match &self.database {
            Database::Postgres(pool) => sqlx::query(
                "UPDATE job_progress \
                     SET checkpointed_at = checkpointed_at - $1 * interval '1 second' \
                     WHERE job_id = $2",
            )
            .bind(age.as_secs_f64())
            .bind(job)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()),
            Database::Sqlite { pool, .. } => sqlx::query(
                "UPDATE job_progress SET checkpointed_at = checkpointed_at - ?1 \
                     WHERE job_id = ?2",
            )
            .bind(i64::try_from(age.as_micros()).unwrap())
            .bind(job)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()),
        }
        .map(|rows| assert_eq!(rows, 1, "{job} has a checkpoint"))
        .expect("the checkpoint is aged");
    }

    /// Registers a schedule, as whatever schedules sends does before its
    /// job starts.
    pub async fn register_schedule(&self, id: &str, name: &str, scheduled_at: DateTime<Utc>) {
        match &self.database {
            Database::Postgres(pool) => {
                sqlx::query("INSERT INTO schedules (id, name, scheduled_at) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(name)
                    .bind(scheduled_at)
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected())
            }
            Database::Sqlite { pool, .. } => {
                sqlx::query("INSERT INTO schedules (id, name, scheduled_at) VALUES (?1, ?2, ?3)")
                    .bind(id)
                    .bind(name)
                    .bind(scheduled_at.timestamp_micros())
                    .execute(pool)
                    .await
                    .map(|done| done.rows_affected())
            }
        }
        .expect("the schedule is registered");
    }

    /// Makes the database refuse any checkpoint of `job` (a trigger), so a
    /// batch can fail midway.
    pub async fn refuse_writes_of(&self, job: &str) {
        match &self.database {
            Database::Postgres(pool) => {
                sqlx::query(
                    "CREATE FUNCTION refuse_checkpoint() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
                )
                .execute(pool)
                .await
                .expect("the function is created");
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON job_progress \
                     FOR EACH ROW WHEN (NEW.job_id = '{job}') EXECUTE FUNCTION refuse_checkpoint()"
                )))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
            }
            Database::Sqlite { pool, .. } => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE TRIGGER refuse BEFORE INSERT ON job_progress \
                     WHEN NEW.job_id = '{job}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
            }
        }
        .expect("the trigger is created");
    }
}

/// A job id the tests know to be valid.
pub fn job(id: &str) -> JobId {
    JobId::parse(id).unwrap()
}

/// A schedule id the tests know to be valid.
pub fn schedule(id: &str) -> ScheduleId {
    ScheduleId::parse(id).unwrap()
}

/// Now, to the microsecond: what both databases keep, so a time written
/// reads back equal.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap()
}

/// `minutes` before [`now`].
pub fn minutes_ago(minutes: i64) -> DateTime<Utc> {
    now() - chrono::Duration::minutes(minutes)
}

/// A checkpoint of `id`: `status`, `sent` of 100 processed (all
/// successes), updated now; finished ones completed now.
pub fn record(id: &str, status: JobStatus, sent: u64) -> ProgressRecord {
    let mut record = ProgressRecord::new(job(id), status, Some(100));
    record.current_sent_count = sent;
    record.success_count = sent;
    record.updated_at = Some(now());
    if status.is_terminal() {
        record.completed_at = record.updated_at;
    }
    record.normalized()
}

/// The ids of `records`, in order.
pub fn ids(records: &[ProgressRecord]) -> Vec<String> {
    records.iter().map(|r| r.job_id.to_string()).collect()
}
