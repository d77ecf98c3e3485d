//! The lists: active jobs (order, total, pages, the TTL) and finished jobs
//! (newest first, filters, keyset pages).

use chrono::{DateTime, Utc};
use job_progress::domain::{
    Finished, FinishedCursor, FinishedQuery, JobFilter, JobStatus, ProgressRecord,
};

use super::{ACTIVE_TTL, Db, ids, minutes_ago, record};

contract! {
    active_lists_live_jobs_oldest_start_first_and_unstarted_ones_last,
    active_pages_come_with_the_total,
    finished_pages_follow_each_other_without_duplicates_or_gaps,
    finished_filters_by_status_and_since,
}

/// An active checkpoint of `id` started at `start`.
fn running(id: &str, start: Option<DateTime<Utc>>) -> ProgressRecord {
    let mut record = record(id, JobStatus::InProgress, 1);
    record.started_at = start;
    record
}

async fn active_lists_live_jobs_oldest_start_first_and_unstarted_ones_last(db: &Db) {
    let mut quiet = running("quiet", Some(minutes_ago(120)));
    // Older than the TTL: its worker vanished long ago.
    quiet.updated_at = Some(minutes_ago(61));
    let mut preparing = record("preparing", JobStatus::Preparing, 0);
    preparing.started_at = Some(minutes_ago(7));
    // Same start: the id decides.
    let early = Some(minutes_ago(10));
    let records = [
        running("late", Some(minutes_ago(3))),
        running("b-unstarted", None),
        running("early-b", early),
        running("a-unstarted", None),
        running("early-a", early),
        preparing,
        quiet,
        record("done", JobStatus::Completed, 100),
        record("broken", JobStatus::Failed, 3),
    ];
    db.archive.checkpoint_many(&records).await.unwrap();

    let (jobs, total) = db
        .archive
        .active(&JobFilter::default(), 100, 0)
        .await
        .unwrap();

    assert_eq!(
        ids(&jobs),
        [
            "early-a",
            "early-b",
            "preparing",
            "late",
            "a-unstarted",
            "b-unstarted"
        ],
        "by start, then id; no start last; finished and vanished left out"
    );
    assert_eq!(total, 6);
    assert!(ACTIVE_TTL < std::time::Duration::from_secs(61 * 60));
    // Left out of the list, still served by id.
    assert!(
        db.archive
            .read(&super::job("quiet"))
            .await
            .unwrap()
            .is_some()
    );
}

async fn active_pages_come_with_the_total(db: &Db) {
    let records: Vec<_> = (0..5)
        .map(|i| running(&format!("job-{i}"), Some(minutes_ago(10 - i))))
        .chain([running("unstarted", None)])
        .collect();
    db.archive.checkpoint_many(&records).await.unwrap();

    let mut pages = Vec::new();
    for offset in [0, 2, 4, 6] {
        let (jobs, total) = db
            .archive
            .active(&JobFilter::default(), 2, offset)
            .await
            .unwrap();
        assert_eq!(total, 6, "the total of all pages, at offset {offset}");
        pages.push(ids(&jobs));
    }

    assert_eq!(
        pages,
        [
            vec!["job-0", "job-1"],
            vec!["job-2", "job-3"],
            vec!["job-4", "unstarted"],
            vec![],
        ]
    );
}

/// A finished checkpoint of `id` whose final record was written `ago`
/// minutes ago.
fn finished(id: &str, status: JobStatus, ago: i64) -> ProgressRecord {
    let mut record = record(id, status, 100);
    record.updated_at = Some(minutes_ago(ago));
    record.completed_at = record.updated_at;
    record
}

fn query(which: Finished, since: DateTime<Utc>, limit: u32) -> FinishedQuery {
    FinishedQuery {
        which,
        since,
        limit,
        after: None,
        filter: JobFilter::default(),
    }
}

async fn finished_pages_follow_each_other_without_duplicates_or_gaps(db: &Db) {
    // Two pairs share their time: ties go by id, descending.
    let records = [
        finished("f-1", JobStatus::Completed, 1),
        finished("f-2b", JobStatus::Failed, 2),
        finished("f-2a", JobStatus::Completed, 2),
        finished("f-3", JobStatus::Completed, 3),
        finished("f-4", JobStatus::Failed, 4),
        finished("f-5a", JobStatus::Completed, 5),
        finished("f-5b", JobStatus::Completed, 5),
        record("running", JobStatus::InProgress, 50),
    ];
    // Same minute → same time, whatever the clock did between the calls.
    let mut records = records.to_vec();
    records[2].updated_at = records[1].updated_at;
    records[6].updated_at = records[5].updated_at;
    db.archive.checkpoint_many(&records).await.unwrap();

    let mut seen = Vec::new();
    let mut cursors: Vec<Option<FinishedCursor>> = Vec::new();
    // Pages of two: the first ends inside a tie.
    let mut next = query(Finished::Either, minutes_ago(60), 2);
    loop {
        let page = db.archive.finished(&next).await.unwrap();
        assert!(page.jobs.len() <= 2);
        seen.extend(ids(&page.jobs));
        cursors.push(page.next_cursor.clone());
        match page.next_cursor {
            Some(cursor) => next.after = Some(cursor),
            None => break,
        }
        assert!(cursors.len() < 10, "the pages end");
    }

    assert_eq!(
        seen,
        ["f-1", "f-2b", "f-2a", "f-3", "f-4", "f-5b", "f-5a"],
        "newest first, ties by id descending, each once"
    );
    assert_eq!(cursors.len(), 4, "2 + 2 + 2 + 1");
    assert_eq!(cursors[3], None, "the last page says it is the last");
    let first = cursors[0].as_ref().unwrap();
    assert_eq!(first.job_id.as_str(), "f-2b");
    assert_eq!(Some(first.updated_at), records[1].updated_at);
}

async fn finished_filters_by_status_and_since(db: &Db) {
    let records = [
        finished("c-new", JobStatus::Completed, 1),
        finished("f-new", JobStatus::Failed, 2),
        finished("c-old", JobStatus::Completed, 90),
        finished("f-old", JobStatus::Failed, 95),
        record("running", JobStatus::InProgress, 50),
        record("preparing", JobStatus::Preparing, 0),
    ];
    db.archive.checkpoint_many(&records).await.unwrap();
    let list = |which, since| async move {
        let page = db
            .archive
            .finished(&query(which, since, 100))
            .await
            .unwrap();
        assert_eq!(page.next_cursor, None);
        ids(&page.jobs)
    };

    let hour_ago = minutes_ago(60);
    let day_ago = minutes_ago(24 * 60);
    assert_eq!(list(Finished::Completed, day_ago).await, ["c-new", "c-old"]);
    assert_eq!(list(Finished::Failed, day_ago).await, ["f-new", "f-old"]);
    assert_eq!(
        list(Finished::Either, day_ago).await,
        ["c-new", "f-new", "c-old", "f-old"]
    );
    assert_eq!(list(Finished::Either, hour_ago).await, ["c-new", "f-new"]);
    assert_eq!(list(Finished::Completed, hour_ago).await, ["c-new"]);
    // `since` includes a job finished exactly then.
    let exactly = records[2].updated_at.unwrap();
    assert_eq!(list(Finished::Completed, exactly).await, ["c-new", "c-old"]);
}
