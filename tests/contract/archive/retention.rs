//! Deleting old finished checkpoints, and only them.

use std::time::Duration;

use job_progress::{
    domain::{JobStatus, ProgressRecord},
    store::Retention,
};

use super::{Db, ids, job, record};

contract! {
    only_finished_checkpoints_older_than_keep_are_deleted,
    a_delete_takes_at_most_its_batch,
    a_retention_pass_deletes_batch_after_batch,
}

const DAY: Duration = Duration::from_secs(86_400);

/// Checkpoints `records`, then ages each by its number of days.
async fn seed(db: &Db, records: &[(ProgressRecord, u64)]) {
    let plain: Vec<ProgressRecord> = records.iter().map(|(r, _)| r.clone()).collect();
    db.archive.checkpoint_many(&plain).await.unwrap();
    for (record, days) in records {
        if *days > 0 {
            db.age(record.job_id.as_str(), DAY * *days as u32).await;
        }
    }
}

/// Which of `names` the archive still holds.
async fn left(db: &Db, names: &[&str]) -> Vec<String> {
    let mut kept = Vec::new();
    for name in names {
        if let Some(record) = db.archive.read(&job(name)).await.unwrap() {
            kept.push(record);
        }
    }
    ids(&kept)
}

async fn only_finished_checkpoints_older_than_keep_are_deleted(db: &Db) {
    let seeded = [
        (record("old-done", JobStatus::Completed, 100), 40),
        (record("old-failed", JobStatus::Failed, 10), 31),
        (record("recent-done", JobStatus::Completed, 100), 29),
        (record("today-failed", JobStatus::Failed, 10), 0),
        (record("old-running", JobStatus::InProgress, 50), 90),
        (record("old-preparing", JobStatus::Preparing, 0), 90),
    ];
    seed(db, &seeded).await;
    let names: Vec<&str> = seeded.iter().map(|(r, _)| r.job_id.as_str()).collect();

    let deleted = db.archive.delete_finished(30 * DAY, 100).await.unwrap();

    assert_eq!(deleted, 2);
    assert_eq!(
        left(db, &names).await,
        [
            "recent-done",
            "today-failed",
            "old-running",
            "old-preparing"
        ],
        "recent finished jobs and active jobs, however old, stay"
    );
    assert_eq!(db.archive.delete_finished(30 * DAY, 100).await.unwrap(), 0);
}

async fn a_delete_takes_at_most_its_batch(db: &Db) {
    let seeded: Vec<_> = (0..5)
        .map(|i| (record(&format!("old-{i}"), JobStatus::Completed, 100), 40))
        .collect();
    seed(db, &seeded).await;

    let mut deleted = Vec::new();
    for _ in 0..4 {
        deleted.push(db.archive.delete_finished(30 * DAY, 2).await.unwrap());
    }

    assert_eq!(deleted, [2, 2, 1, 0]);
}

async fn a_retention_pass_deletes_batch_after_batch(db: &Db) {
    let seeded: Vec<_> = (0..7)
        .map(|i| (record(&format!("old-{i}"), JobStatus::Failed, 1), 40))
        .chain([(record("kept", JobStatus::Failed, 1), 1)])
        .collect();
    seed(db, &seeded).await;
    let retention = Retention {
        batch: 3,
        pause: Duration::from_millis(1),
        ..Retention::keeping(30 * DAY)
    };

    let deleted = retention.prune(db.archive.as_ref()).await.unwrap();

    assert_eq!(
        deleted, 7,
        "3 + 3 + 1: a pass goes on until a batch comes back short"
    );
    assert_eq!(left(db, &["old-0", "old-6", "kept"]).await, ["kept"]);
}
