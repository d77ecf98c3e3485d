//! Writing checkpoints: what is kept, the never-backwards rule (each of its
//! clauses), and batches.

use chrono::{DateTime, Utc};
use job_progress::{
    domain::{EndRange, JobStatus, ProgressRecord},
    store::{StoreError, WriteOutcome},
};

use super::{Db, job, minutes_ago, record, schedule};

contract! {
    a_full_record_reads_back_as_postgresql_gives_it,
    a_lower_status_never_overwrites,
    a_lower_processed_count_never_overwrites,
    a_finished_job_is_never_overwritten_by_another_status,
    the_start_is_kept_once_set,
    a_batch_says_what_became_of_each_record_in_order,
    a_batch_is_written_whole_or_not_at_all,
    a_batch_naming_a_job_twice_is_refused_whole,
    several_jobs_read_back_in_one_call_in_order,
    ping_answers,
}

/// `time` with nanoseconds the databases cannot keep.
fn with_nanos(time: DateTime<Utc>) -> DateTime<Utc> {
    time + chrono::Duration::nanoseconds(789)
}

async fn a_full_record_reads_back_as_postgresql_gives_it(db: &Db) {
    let started = minutes_ago(10);
    let updated = minutes_ago(1);
    let mut full = ProgressRecord::new(job("full-1"), JobStatus::InProgress, Some(5_000));
    full.version = 1_795_865_165_794;
    full.current_sent_count = 1_500;
    full.success_count = 1_475;
    full.failure_count = 25;
    full.total_chunks = Some(10);
    full.current_chunk = Some(4);
    full.started_at = Some(with_nanos(started));
    full.updated_at = Some(with_nanos(updated));
    full.estimated_end_at = Some(with_nanos(updated + chrono::Duration::seconds(300)));
    full.estimated_end_range = Some(EndRange {
        earliest: with_nanos(updated + chrono::Duration::seconds(250)),
        latest: with_nanos(updated + chrono::Duration::seconds(400)),
    });
    full.estimated_remaining_seconds = Some(300);
    full.rate_per_second = Some(516.171_875_3);
    full.error_message = Some("3 of 25 failures: \"quota\" (é, ✓)".into());
    full.schedule_id = Some(schedule("black-friday"));
    full.refresh_interval_ms = Some(15_000);
    let full = full.normalized();

    let outcome = db.archive.checkpoint(&full).await.unwrap();
    let read = db.archive.read(&job("full-1")).await.unwrap();

    assert_eq!(outcome, WriteOutcome::Written);
    // What PostgreSQL keeps: microseconds (cut, not rounded), no version.
    let mut expected = full.clone();
    expected.version = 0;
    expected.started_at = Some(started);
    expected.updated_at = Some(updated);
    expected.estimated_end_at = Some(updated + chrono::Duration::seconds(300));
    expected.estimated_end_range = Some(EndRange {
        earliest: updated + chrono::Duration::seconds(250),
        latest: updated + chrono::Duration::seconds(400),
    });
    assert_eq!(read, Some(expected));
    assert_eq!(db.archive.read(&job("unknown")).await.unwrap(), None);

    // And a finished one: its end, its failure.
    let mut failed = record("full-2", JobStatus::Failed, 40);
    failed.error_message = Some("SMTP relay refused".into());
    db.archive.checkpoint(&failed).await.unwrap();
    assert_eq!(db.archive.read(&job("full-2")).await.unwrap(), Some(failed));
}

/// Writes `first`, then `second`; asserts that `second` was stale and that
/// `first` is what stays.
async fn assert_stale_after(db: &Db, first: &ProgressRecord, second: &ProgressRecord) {
    assert_eq!(
        db.archive.checkpoint(first).await.unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(
        db.archive.checkpoint(second).await.unwrap(),
        WriteOutcome::Stale,
        "{second:?} after {first:?}"
    );
    assert_eq!(
        db.archive.read(&first.job_id).await.unwrap().as_ref(),
        Some(first)
    );
}

async fn a_lower_status_never_overwrites(db: &Db) {
    let running = record("rank", JobStatus::InProgress, 10);
    // More processed, so only the status can make it stale.
    let preparing = record("rank", JobStatus::Preparing, 20);
    assert_stale_after(db, &running, &preparing).await;
}

async fn a_lower_processed_count_never_overwrites(db: &Db) {
    let ahead = record("count", JobStatus::InProgress, 50);
    let behind = record("count", JobStatus::InProgress, 40);
    assert_stale_after(db, &ahead, &behind).await;
}

async fn a_finished_job_is_never_overwritten_by_another_status(db: &Db) {
    let completed = record("final", JobStatus::Completed, 100);
    // Same rank, same count: only the finished status can make it stale.
    let failed = record("final", JobStatus::Failed, 100);
    assert_stale_after(db, &completed, &failed).await;

    // A retried final write of the same status is taken.
    let mut retried = completed.clone();
    retried.updated_at = Some(super::now());
    assert_eq!(
        db.archive.checkpoint(&retried).await.unwrap(),
        WriteOutcome::Written
    );
    assert_eq!(db.archive.read(&job("final")).await.unwrap(), Some(retried));
}

async fn the_start_is_kept_once_set(db: &Db) {
    let unstarted = record("start", JobStatus::Preparing, 0);
    let mut started = record("start", JobStatus::InProgress, 10);
    started.started_at = Some(minutes_ago(5));
    let mut restarted = record("start", JobStatus::InProgress, 20);
    restarted.started_at = Some(minutes_ago(1));

    for step in [&unstarted, &started, &restarted] {
        db.archive.checkpoint(step).await.unwrap();
    }

    let read = db.archive.read(&job("start")).await.unwrap().unwrap();
    assert_eq!(read.current_sent_count, 20, "the last write was taken");
    assert_eq!(read.started_at, started.started_at, "the first start stays");
}

async fn a_batch_says_what_became_of_each_record_in_order(db: &Db) {
    let ahead = record("b-ahead", JobStatus::InProgress, 50);
    let done = record("b-done", JobStatus::Completed, 100);
    db.archive
        .checkpoint_many(&[ahead.clone(), done.clone()])
        .await
        .unwrap();

    let batch = [
        record("b-ahead", JobStatus::InProgress, 10),
        record("b-new-1", JobStatus::Preparing, 0),
        record("b-done", JobStatus::Failed, 100),
        record("b-new-2", JobStatus::InProgress, 5),
    ];
    let outcomes = db.archive.checkpoint_many(&batch).await.unwrap();

    use WriteOutcome::{Stale, Written};
    assert_eq!(outcomes, [Stale, Written, Stale, Written]);
    assert_eq!(db.archive.read(&job("b-ahead")).await.unwrap(), Some(ahead));
    assert_eq!(db.archive.read(&job("b-done")).await.unwrap(), Some(done));
    for written in [&batch[1], &batch[3]] {
        let read = db.archive.read(&written.job_id).await.unwrap();
        assert_eq!(read.as_ref(), Some(written));
    }
    assert_eq!(db.archive.checkpoint_many(&[]).await.unwrap(), []);
}

async fn a_batch_is_written_whole_or_not_at_all(db: &Db) {
    db.refuse_writes_of("poison").await;
    // Long enough to take more than one statement where a database splits
    // a batch (SQLite: 64 rows a statement), the refused job near the end.
    let mut batch: Vec<_> = (0..200)
        .map(|i| record(&format!("w-{i:03}"), JobStatus::InProgress, 1))
        .collect();
    batch[180] = record("poison", JobStatus::InProgress, 1);

    let err = db.archive.checkpoint_many(&batch).await.unwrap_err();

    assert!(matches!(err, StoreError::Refused { .. }), "{err:?}");
    for id in ["w-000", "w-100", "poison", "w-199"] {
        assert_eq!(db.archive.read(&job(id)).await.unwrap(), None, "{id}");
    }
    // The archive is not left inside the failed batch.
    let next = [record("w-000", JobStatus::InProgress, 1)];
    assert_eq!(
        db.archive.checkpoint_many(&next).await.unwrap(),
        [WriteOutcome::Written]
    );
}

async fn a_batch_naming_a_job_twice_is_refused_whole(db: &Db) {
    let batch = [
        record("twice-other", JobStatus::InProgress, 1),
        record("twice", JobStatus::InProgress, 1),
        record("twice", JobStatus::InProgress, 2),
    ];

    let err = db.archive.checkpoint_many(&batch).await.unwrap_err();

    assert!(matches!(err, StoreError::Refused { .. }), "{err:?}");
    assert_eq!(db.archive.read(&job("twice")).await.unwrap(), None);
    assert_eq!(db.archive.read(&job("twice-other")).await.unwrap(), None);
}

async fn ping_answers(db: &Db) {
    db.archive.ping().await.unwrap();
}

/// `read_many` gives each job what `read` gives it, in the order asked,
/// `None` for a job without a checkpoint, and a job asked twice twice.
async fn several_jobs_read_back_in_one_call_in_order(db: &Db) {
    for (name, sent) in [("many-a", 10), ("many-b", 20), ("many-c", 30)] {
        db.archive
            .checkpoint(&record(name, JobStatus::InProgress, sent))
            .await
            .unwrap();
    }
    let ids = [job("many-c"), job("many-x"), job("many-a"), job("many-c")];

    let each = db.archive.read_many(&ids).await.unwrap();

    let sent: Vec<Option<u64>> = each
        .into_iter()
        .map(|one| one.unwrap().map(|r| r.current_sent_count))
        .collect();
    assert_eq!(sent, [Some(30), None, Some(10), Some(30)]);
}
