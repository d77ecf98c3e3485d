//! The lists' filters: `kind` and `q` (the id or the name, ignoring case)
//! on the finished list with its keyset pages, and on the active list with
//! its total.

use job_progress::domain::{
    Finished, FinishedQuery, JobFilter, JobKind, JobName, JobStatus, ProgressRecord,
};

use super::{Db, ids, minutes_ago, record};

contract! {
    finished_jobs_are_found_by_kind_and_by_text_in_the_id_or_the_name,
    filtered_finished_pages_follow_each_other,
    a_renamed_job_is_found_by_its_new_name_only,
    the_active_list_filters_and_counts_what_it_admits,
}

/// A job `ago` minutes finished, of `kind` and `name` when given.
fn finished(id: &str, ago: i64, kind: Option<&str>, name: Option<&str>) -> ProgressRecord {
    let mut record = record(id, JobStatus::Completed, 100);
    record.updated_at = Some(minutes_ago(ago));
    record.completed_at = record.updated_at;
    record.kind = kind.map(|kind| JobKind::parse(kind).unwrap());
    record.name = name.map(|name| JobName::parse(name).unwrap());
    record
}

fn filtered(kind: Option<&str>, q: Option<&str>, limit: u32) -> FinishedQuery {
    FinishedQuery {
        which: Finished::Either,
        since: minutes_ago(24 * 60),
        limit,
        after: None,
        filter: JobFilter::parse(kind, q).unwrap(),
    }
}

async fn list(db: &Db, kind: Option<&str>, q: Option<&str>) -> Vec<String> {
    let page = db.archive.finished(&filtered(kind, q, 100)).await.unwrap();
    ids(&page.jobs)
}

async fn finished_jobs_are_found_by_kind_and_by_text_in_the_id_or_the_name(db: &Db) {
    let records = [
        finished("import-1", 1, Some("import"), Some("Nightly CSV import")),
        finished("import-2", 2, Some("import"), None),
        finished("mail-1", 3, Some("mail"), Some("März Newsletter")),
        finished("sale", 4, None, Some("50%_off Sale")),
        finished("plain", 5, None, None),
    ];
    db.archive.checkpoint_many(&records).await.unwrap();
    let mut running = record("import-live", JobStatus::InProgress, 1);
    running.kind = Some(JobKind::parse("import").unwrap());
    db.archive.checkpoint(&running).await.unwrap();

    assert_eq!(
        list(db, Some("import"), None).await,
        ["import-1", "import-2"]
    );
    assert_eq!(list(db, Some("nope"), None).await, Vec::<String>::new());
    // In the id, in the name, ignoring case; 3 or more characters and
    // fewer (which trigram indexes cannot hold) alike.
    assert_eq!(
        list(db, None, Some("IMPORT")).await,
        ["import-1", "import-2"]
    );
    assert_eq!(list(db, None, Some("csv")).await, ["import-1"]);
    assert_eq!(list(db, None, Some("newsletter")).await, ["mail-1"]);
    assert_eq!(list(db, None, Some("Sv")).await, ["import-1"]);
    assert_eq!(list(db, None, Some("-1")).await, ["import-1", "mail-1"]);
    // Wildcards are plain characters.
    assert_eq!(list(db, None, Some("50%_")).await, ["sale"]);
    assert_eq!(list(db, None, Some("%")).await, ["sale"]);
    assert_eq!(list(db, None, Some("_")).await, ["sale"]);
    // Both at once.
    assert_eq!(
        list(db, Some("import"), Some("nightly")).await,
        ["import-1"]
    );
    assert_eq!(
        list(db, Some("mail"), Some("nightly")).await,
        Vec::<String>::new()
    );
}

async fn filtered_finished_pages_follow_each_other(db: &Db) {
    let records: Vec<ProgressRecord> = (0..7)
        .map(|i| {
            let kind = if i % 2 == 0 { "even" } else { "odd" };
            finished(
                &format!("job-{i}"),
                i,
                Some(kind),
                Some(&format!("Batch {kind}")),
            )
        })
        .collect();
    db.archive.checkpoint_many(&records).await.unwrap();

    for (kind, q) in [(Some("even"), None), (None, Some("batch EVEN"))] {
        let mut next = filtered(kind, q, 2);
        let mut seen = Vec::new();
        loop {
            let page = db.archive.finished(&next).await.unwrap();
            seen.extend(ids(&page.jobs));
            match page.next_cursor {
                Some(cursor) => next.after = Some(cursor),
                None => break,
            }
            assert!(seen.len() < 10, "the pages end");
        }
        assert_eq!(seen, ["job-0", "job-2", "job-4", "job-6"], "{kind:?} {q:?}");
    }
}

async fn a_renamed_job_is_found_by_its_new_name_only(db: &Db) {
    let mut job = record("renamed", JobStatus::InProgress, 1);
    job.name = Some(JobName::parse("Old title").unwrap());
    db.archive.checkpoint(&job).await.unwrap();
    let mut done = finished("renamed", 1, None, Some("Fresh title"));
    done.current_sent_count = 100;
    db.archive.checkpoint(&done).await.unwrap();

    assert_eq!(list(db, None, Some("fresh")).await, ["renamed"]);
    assert_eq!(list(db, None, Some("old")).await, Vec::<String>::new());
}

async fn the_active_list_filters_and_counts_what_it_admits(db: &Db) {
    let running = |id: &str, kind: &str, name: &str, start: i64| {
        let mut record = record(id, JobStatus::InProgress, 1);
        record.started_at = Some(minutes_ago(start));
        record.kind = Some(JobKind::parse(kind).unwrap());
        record.name = Some(JobName::parse(name).unwrap());
        record
    };
    let records = [
        running("a", "import", "Orders", 9),
        running("b", "mail", "Orders digest", 8),
        running("c", "import", "Customers", 7),
        running("d", "import", "Order lines", 6),
        finished("e", 1, Some("import"), Some("Orders")),
    ];
    db.archive.checkpoint_many(&records).await.unwrap();
    let active = |kind: Option<&'static str>, q: Option<&'static str>, limit, offset| async move {
        let filter = JobFilter::parse(kind, q).unwrap();
        let (jobs, total) = db.archive.active(&filter, limit, offset).await.unwrap();
        (ids(&jobs), total)
    };

    assert_eq!(
        active(Some("import"), None, 10, 0).await,
        (vec!["a".into(), "c".into(), "d".into()], 3)
    );
    assert_eq!(
        active(None, Some("ORDER"), 10, 0).await,
        (vec!["a".into(), "b".into(), "d".into()], 3)
    );
    assert_eq!(
        active(Some("import"), Some("order"), 1, 1).await,
        (vec!["d".into()], 2)
    );
}
