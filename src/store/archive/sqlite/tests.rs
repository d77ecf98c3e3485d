//! What the SQLite archive promises beyond the contract suite
//! (`tests/contract/`): how the file is opened and named, what a lock held
//! by another process becomes, and that each list reads its index.

use std::time::Duration;

use sqlx::{Connection as _, SqliteConnection, sqlite::SqliteConnectOptions};

use super::{SqliteArchive, reads, retention};
use crate::{
    domain::{Finished, JobFilter, JobId, JobStatus, ProgressRecord},
    store::{Archive as _, StoreError, WriteOutcome},
};

async fn migrated(timeout: Duration) -> (SqliteArchive, tempfile::TempDir) {
    let folder = tempfile::tempdir().unwrap();
    let archive = SqliteArchive::open(&folder.path().join("archive.db"), timeout).unwrap();
    archive.migrate().await.unwrap();
    (archive, folder)
}

#[tokio::test]
async fn open_creates_the_folder_and_a_wal_file() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("not").join("yet").join("archive.db");

    let archive = SqliteArchive::open(&path, Duration::from_secs(5)).unwrap();

    assert!(path.is_file(), "created before any connection");
    archive.migrate().await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&archive.readers)
        .await
        .unwrap();
    assert_eq!(mode, "wal", "kept in the file for every connection");
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&archive.readers)
        .await
        .unwrap();
    assert_eq!(synchronous, 1, "NORMAL");
}

#[tokio::test]
async fn a_url_names_a_file_and_memory_or_options_are_refused() {
    let folder = tempfile::tempdir().unwrap();
    let base = folder.path().display();
    let timeout = Duration::from_secs(5);

    SqliteArchive::from_url(&format!("sqlite://{base}/plain.db"), timeout).unwrap();
    SqliteArchive::from_url(&format!("sqlite://{base}/with%20space.db"), timeout).unwrap();
    assert!(folder.path().join("plain.db").is_file());
    assert!(folder.path().join("with space.db").is_file());

    for memory in [
        "sqlite::memory:",
        "sqlite://:memory:",
        "sqlite://?mode=memory",
    ] {
        let err = SqliteArchive::from_url(memory, timeout).unwrap_err();
        assert!(err.to_string().contains("in-memory"), "{memory}: {err}");
    }
    for bad in [
        format!("sqlite://{base}/ro.db?mode=ro"),
        "sqlite://".to_owned(),
        "postgres://postgres@127.0.0.1/postgres".to_owned(),
    ] {
        assert!(SqliteArchive::from_url(&bad, timeout).is_err(), "{bad}");
    }
    assert!(!folder.path().join("ro.db").exists());
}

#[tokio::test]
async fn a_lock_held_elsewhere_past_the_timeout_is_a_timeout_and_reads_go_on() {
    let (archive, folder) = migrated(Duration::from_millis(300)).await;
    let options = SqliteConnectOptions::new().filename(folder.path().join("archive.db"));
    let mut other = SqliteConnection::connect_with(&options).await.unwrap();
    let mut record = ProgressRecord::new(
        JobId::parse("locked").unwrap(),
        JobStatus::Preparing,
        Some(1),
    );
    record.updated_at = Some(chrono::Utc::now());
    archive.checkpoint(&record).await.unwrap();
    // Another process takes the write lock and keeps it.
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();

    let err = archive.checkpoint(&record).await.unwrap_err();

    assert!(matches!(err, StoreError::Timeout { .. }), "{err:?}");
    assert!(err.is_outage());
    let read = archive.read(&record.job_id).await.unwrap();
    assert_eq!(
        read.map(|r| r.job_id),
        Some(record.job_id.clone()),
        "WAL: reads go on"
    );
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    assert_eq!(
        archive.checkpoint(&record).await.unwrap(),
        WriteOutcome::Written
    );
}

/// What SQLite plans for `sql`, one step a line.
async fn plan(archive: &SqliteArchive, sql: &str) -> String {
    let steps: Vec<(i64, i64, i64, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
            .fetch_all(&archive.readers)
            .await
            .unwrap();
    let details: Vec<String> = steps.into_iter().map(|step| step.3).collect();
    details.join("\n")
}

#[tokio::test]
async fn each_list_reads_its_partial_index() {
    let (archive, _folder) = migrated(Duration::from_secs(5)).await;
    let uses = |plan: &str, index: &str| {
        assert!(
            plan.contains(&format!("USING INDEX {index}")) && !plan.contains("TEMP B-TREE"),
            "{plan}"
        );
    };

    for which in [
        Finished::Completed,
        Finished::Failed,
        Finished::Cancelled,
        Finished::Either,
    ] {
        for after in [false, true] {
            let none = JobFilter::default();
            let finished = plan(&archive, &reads::finished_sql(which, after, &none, None).0).await;
            uses(&finished, "job_progress_finished_idx");
            let kind = JobFilter::parse(Some("import"), None).unwrap();
            let of_kind = plan(&archive, &reads::finished_sql(which, after, &kind, None).0).await;
            uses(&of_kind, "job_progress_kind_finished_idx");
            // q of 3 characters or more: the trigram table finds the
            // candidates, never a scan of job_progress.
            let q = JobFilter::parse(None, Some("news")).unwrap();
            let searched = plan(&archive, &reads::finished_sql(which, after, &q, None).0).await;
            assert!(
                searched.contains("VIRTUAL TABLE INDEX") && !searched.contains("SCAN job_progress"),
                "{searched}"
            );
            // Its first try: the newest rows through the list's index.
            let newest = plan(
                &archive,
                &reads::finished_sql(which, after, &q, Some(2_000)).0,
            )
            .await;
            assert!(
                newest.contains("USING INDEX job_progress_finished_idx")
                    && !newest.contains("SCAN job_progress"),
                "{newest}"
            );
        }
    }
    let ((page, count), _) = reads::active_sql(&JobFilter::default());
    uses(&plan(&archive, &page).await, "job_progress_active_idx");
    uses(&plan(&archive, &count).await, "job_progress_active_idx");
    let delete = plan(&archive, &retention::delete_sql()).await;
    uses(&delete, "job_progress_retention_idx");
}
