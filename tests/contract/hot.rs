//! The hot-store contract: every `HotStore` keeps these promises. Each is
//! written once, as a function of a store maker, and run against Redis
//! (its own key prefix per test), a local Redis Cluster of three masters
//! (the same, in 16 buckets) and the in-process store by the `contract!`
//! macro at the bottom.

use std::{num::NonZeroU16, sync::Arc, time::Duration};

use futures_util::future::BoxFuture;

use chrono::{DateTime, TimeZone as _, Utc};
use job_progress::{
    domain::{
        CancelRequest, EndRange, HISTORY_SAMPLES, JobFilter, JobId, JobKind, JobName, JobStatus,
        KEPT_BYTES, KEPT_LINES, LogCap, LogLevel, MAX_LINE_BYTES, MAX_LINES_PER_CALL, NewLogLine,
        ProgressRecord, ScheduleId,
    },
    store::{HotStore, HotWrite, Keys, MemoryStore, RedisStore, Replaced, Ttls},
};

/// Makes a fresh, empty store whose values live as `Ttls` says.
type Make = fn(Ttls) -> BoxFuture<'static, Arc<dyn HotStore>>;

fn fresh_keys() -> Keys {
    Keys::new(format!("contract-{}:", uuid::Uuid::new_v4()))
}

fn redis(ttls: Ttls) -> BoxFuture<'static, Arc<dyn HotStore>> {
    Box::pin(async move {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let store = RedisStore::new(&url, fresh_keys(), ttls, Duration::from_secs(2));
        Arc::new(store.expect("a Redis store")) as Arc<dyn HotStore>
    })
}

fn cluster(ttls: Ttls) -> BoxFuture<'static, Arc<dyn HotStore>> {
    Box::pin(async move {
        let url = support::cluster_harness::shared().await.url();
        let buckets = NonZeroU16::new(16).unwrap();
        let keys = fresh_keys().bucketed(buckets);
        let store = RedisStore::cluster(&url, keys, ttls, Duration::from_secs(2));
        Arc::new(store.expect("a cluster store")) as Arc<dyn HotStore>
    })
}

fn memory(ttls: Ttls) -> BoxFuture<'static, Arc<dyn HotStore>> {
    Box::pin(async move {
        Arc::new(MemoryStore::new(ttls, job_progress::push::FEED_CAPACITY)) as Arc<dyn HotStore>
    })
}

fn id(raw: &str) -> JobId {
    JobId::parse(raw).expect("a valid job id")
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().expect("a valid time")
}

/// A running job at `sent` of 1,000, started at `started` ms (none if 0),
/// last updated now.
fn running(job: &str, sent: u64, started: i64) -> ProgressRecord {
    let mut record = ProgressRecord::new(id(job), JobStatus::InProgress, Some(1_000));
    record.current_sent_count = sent;
    record.success_count = sent;
    record.started_at = (started > 0).then(|| at(started));
    record.updated_at = Some(Utc::now());
    record.normalized()
}

fn with_status(mut record: ProgressRecord, status: JobStatus) -> ProgressRecord {
    record.status = status;
    record
}

fn version(written: HotWrite) -> u64 {
    match written {
        HotWrite::Written { version, .. } => version,
        HotWrite::Stale => panic!("the write was refused as stale"),
    }
}

/// Every field comes back as written (derived ones re-derived), with the
/// version the store gave it, which grows with every write and is at
/// least the update's time in ms.
async fn a_record_reads_back_as_written(make: Make) {
    let store = make(Ttls::default()).await;
    let mut record = running("full", 400, 1_700_000_000_000);
    record.failure_count = 10;
    record.success_count = 390;
    record.total_chunks = Some(20);
    record.current_chunk = Some(8);
    record.estimated_end_at = Some(Utc::now() + chrono::Duration::seconds(90));
    record.estimated_end_range = Some(EndRange {
        earliest: Utc::now() + chrono::Duration::seconds(60),
        latest: Utc::now() + chrono::Duration::seconds(150),
    });
    record.rate_per_second = Some(12.5);
    record.schedule_id = Some(ScheduleId::parse("sched-1").unwrap());
    record.refresh_interval_ms = Some(2_000);
    let record = record.normalized();

    let first = version(store.write(&record).await.unwrap());
    let read = store.read(&record.job_id).await.unwrap().expect("stored");
    assert!(first >= u64::try_from(record.updated_at.unwrap().timestamp_millis()).unwrap());
    let mut expected = record.clone();
    expected.version = first;
    assert_eq!(read, expected);

    let second = version(store.write(&record).await.unwrap());
    assert!(second > first, "{second} after {first}");
    assert_eq!(store.read(&id("unknown")).await.unwrap(), None);
    store.ping().await.unwrap();
}

/// A write that would move the job backwards changes nothing: a lower
/// processed count, a lower status rank, a finished job turned into
/// another status.
async fn a_job_never_moves_backwards(make: Make) {
    let store = make(Ttls::default()).await;
    store.write(&running("back", 500, 1)).await.unwrap();

    assert_eq!(
        store.write(&running("back", 499, 1)).await.unwrap(),
        HotWrite::Stale
    );
    let preparing = with_status(running("back", 600, 1), JobStatus::Preparing);
    assert_eq!(store.write(&preparing).await.unwrap(), HotWrite::Stale);
    let stored = store.read(&id("back")).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.current_sent_count),
        (JobStatus::InProgress, 500)
    );

    let failed = with_status(running("back", 700, 1), JobStatus::Failed);
    version(store.write(&failed).await.unwrap());
    let completed = with_status(running("back", 1_000, 1), JobStatus::Completed);
    assert_eq!(store.write(&completed).await.unwrap(), HotWrite::Stale);
    // The same final status may still be written again (a late count).
    version(
        store
            .write(&with_status(running("back", 710, 1), JobStatus::Failed))
            .await
            .unwrap(),
    );
    let stored = store.read(&id("back")).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.current_sent_count),
        (JobStatus::Failed, 710)
    );
}

/// `replace` stores the state beside the record only from the version it
/// expects; `load` returns both; a plain write keeps the state.
async fn replace_compares_the_version_and_keeps_the_state(make: Make) {
    let store = make(Ttls::default()).await;
    let job = id("held");
    assert!(store.load(&job).await.unwrap().is_none());
    assert_eq!(
        store
            .replace(&running("held", 10, 1), b"s1", 5)
            .await
            .unwrap(),
        Replaced::Moved,
        "a new job has version 0"
    );
    let Replaced::Written { version: v1 } = store
        .replace(&running("held", 10, 1), b"s1", 0)
        .await
        .unwrap()
    else {
        panic!("the first replace is written");
    };
    assert_eq!(
        store
            .replace(&running("held", 20, 1), b"s2", 0)
            .await
            .unwrap(),
        Replaced::Moved,
        "another update came first"
    );
    assert_eq!(
        store
            .replace(&running("held", 5, 1), b"s2", v1)
            .await
            .unwrap(),
        Replaced::Stale
    );
    let held = store.load(&job).await.unwrap().unwrap();
    assert_eq!(
        (held.record.version, held.record.current_sent_count),
        (v1, 10)
    );
    assert_eq!(held.state.as_deref(), Some(&b"s1"[..]));

    let v2 = version(store.write(&running("held", 30, 1)).await.unwrap());
    let held = store.load(&job).await.unwrap().unwrap();
    assert_eq!(held.record.version, v2);
    assert_eq!(held.state.as_deref(), Some(&b"s1"[..]));
}

/// Several jobs in one call, in the order asked; unknown ones are `None`.
async fn read_many_answers_in_order(make: Make) {
    let store = make(Ttls::default()).await;
    store.write(&running("a", 1, 1)).await.unwrap();
    store.write(&running("c", 3, 1)).await.unwrap();
    let read = store.read_many(&[id("c"), id("b"), id("a")]).await.unwrap();
    let sent: Vec<Option<u64>> = read
        .iter()
        .map(|r| r.as_ref().map(|r| r.current_sent_count))
        .collect();
    assert_eq!(sent, [Some(3), None, Some(1)]);
}

/// Several jobs in one call as `read` gives each (a parent's with its
/// children's roll-up), in the order asked; unknown ones are `None`.
async fn read_each_answers_as_read_does(make: Make) {
    let store = make(Ttls::default()).await;
    store.write(&running("a", 1, 1)).await.unwrap();
    let mut parent = running("p", 0, 2);
    parent.total_target_count = None;
    store.write(&parent.normalized()).await.unwrap();
    let mut child = running("p-child", 4, 3);
    child.parent_job_id = Some(id("p"));
    store.write(&child.normalized()).await.unwrap();

    let ids = [id("p"), id("b"), id("a"), id("p-child")];
    let each = store.read_each(&ids).await.unwrap();

    assert_eq!(each.len(), ids.len());
    for (id, one) in ids.iter().zip(each) {
        let alone = store.read(id).await.unwrap();
        let one = one.unwrap();
        assert_eq!(one.is_some(), alone.is_some(), "{id}");
        if let (Some(one), Some(alone)) = (one, alone) {
            assert_eq!(one.job_id, alone.job_id);
            assert_eq!(one.current_sent_count, alone.current_sent_count);
            assert_eq!(one.children, alone.children, "{id}'s roll-up");
        }
    }
    let parent = store.read(&id("p")).await.unwrap().unwrap();
    assert!(parent.children.is_some(), "the parent carries its child");
}

/// The active list: active jobs only, oldest start first, ties by id, jobs
/// without a start last, paged by offset and limit with the total.
async fn the_active_list_is_in_start_order_and_paged(make: Make) {
    let store = make(Ttls::default()).await;
    for (job, started) in [
        ("late", 3_000),
        ("none", 0),
        ("early-b", 1_000),
        ("early-a", 1_000),
        ("middle", 2_000),
    ] {
        store.write(&running(job, 1, started)).await.unwrap();
    }
    let done = with_status(running("done", 1_000, 500), JobStatus::Completed);
    store.write(&done).await.unwrap();
    // A job that finishes leaves the list.
    store.write(&running("leaves", 1, 100)).await.unwrap();
    store
        .write(&with_status(running("leaves", 2, 100), JobStatus::Failed))
        .await
        .unwrap();

    let names = |page: &[ProgressRecord]| -> Vec<String> {
        page.iter().map(|r| r.job_id.to_string()).collect()
    };
    let (all, total) = store.active(&JobFilter::default(), 100, 0).await.unwrap();
    assert_eq!(
        names(&all),
        ["early-a", "early-b", "middle", "late", "none"]
    );
    assert_eq!(total, 5);
    let (page, total) = store.active(&JobFilter::default(), 2, 2).await.unwrap();
    assert_eq!(names(&page), ["middle", "late"]);
    assert_eq!(total, 5);
    let (page, total) = store.active(&JobFilter::default(), 2, 10).await.unwrap();
    assert!(page.is_empty());
    assert_eq!(total, 5);
}

/// Values live as long as their status's TTL: an expired one is gone for
/// every reader and leaves the active list.
async fn expired_records_leave(make: Make) {
    let ttl = Duration::from_secs(1);
    let store = make(Ttls {
        in_progress: ttl,
        completed: ttl,
    })
    .await;
    store.write(&running("brief", 1, 1)).await.unwrap();
    assert_eq!(
        store.active(&JobFilter::default(), 10, 0).await.unwrap().1,
        1
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.read(&id("brief")).await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still there after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(store.load(&id("brief")).await.unwrap().is_none());
    let (page, total) = store.active(&JobFilter::default(), 10, 0).await.unwrap();
    assert!(page.is_empty());
    assert_eq!(total, 0);
    // After expiry a job starts afresh, with a version that still grows.
    let again = version(store.write(&running("brief", 0, 1)).await.unwrap());
    assert!(again >= u64::try_from(Utc::now().timestamp_millis()).unwrap() - 10_000);
}

/// A running job of `kind` named `name` (either left out when empty).
fn described(job: &str, sent: u64, started: i64, kind: &str, name: &str) -> ProgressRecord {
    let mut record = running(job, sent, started);
    record.kind = (!kind.is_empty()).then(|| JobKind::parse(kind).unwrap());
    record.name = (!name.is_empty()).then(|| JobName::parse(name).unwrap());
    record
}

/// The ids of the page of `store`'s active list `kind` and `q` ask for,
/// and its total.
async fn filtered(
    store: &Arc<dyn HotStore>,
    kind: Option<&str>,
    q: Option<&str>,
    limit: u32,
    offset: u64,
) -> (Vec<String>, u64) {
    let filter = JobFilter::parse(kind, q).unwrap();
    let (page, total) = store.active(&filter, limit, offset).await.unwrap();
    (page.iter().map(|r| r.job_id.to_string()).collect(), total)
}

/// `kind` reads its own index and `q` finds the text in the id or the
/// name, ignoring case; both page in list order with their own total, and
/// follow a job whose kind or name a later write changes.
async fn the_active_list_filters_by_kind_and_text(make: Make) {
    let store = make(Ttls::default()).await;
    for record in [
        described("job-a", 1, 100, "import", "Orders"),
        described("job-b", 1, 200, "mail", "Orders digest"),
        described("job-c", 1, 300, "import", "Customers"),
        described("job-d", 1, 400, "import", ""),
        described("job-e", 1, 500, "", "order lines"),
        described("job-f", 1, 0, "import", "Late orders"),
    ] {
        store.write(&record).await.unwrap();
    }
    let list = |ids: &[&str], total: u64| (ids.iter().map(|id| id.to_string()).collect(), total);

    let all_imports = list(&["job-a", "job-c", "job-d", "job-f"], 4);
    assert_eq!(
        filtered(&store, Some("import"), None, 10, 0).await,
        all_imports
    );
    assert_eq!(
        filtered(&store, Some("import"), None, 2, 1).await,
        list(&["job-c", "job-d"], 4)
    );
    let orders = list(&["job-a", "job-b", "job-e", "job-f"], 4);
    assert_eq!(filtered(&store, None, Some("ORDER"), 10, 0).await, orders);
    assert_eq!(
        filtered(&store, None, Some("order"), 1, 3).await,
        list(&["job-f"], 4)
    );
    assert_eq!(
        filtered(&store, None, Some("JOB-D"), 10, 0).await,
        list(&["job-d"], 1)
    );
    assert_eq!(
        filtered(&store, Some("import"), Some("order"), 10, 0).await,
        list(&["job-a", "job-f"], 2)
    );
    assert_eq!(
        filtered(&store, Some("none"), None, 10, 0).await,
        list(&[], 0)
    );

    // A new name is found, the old one no longer; a new kind moves the job.
    store
        .write(&described("job-c", 2, 300, "import", "Big orders"))
        .await
        .unwrap();
    store
        .write(&described("job-d", 2, 400, "mail", ""))
        .await
        .unwrap();
    assert_eq!(
        filtered(&store, None, Some("customers"), 10, 0).await,
        list(&[], 0)
    );
    assert_eq!(
        filtered(&store, None, Some("big ORDERS"), 10, 0).await,
        list(&["job-c"], 1)
    );
    assert_eq!(
        filtered(&store, Some("import"), None, 10, 0).await,
        list(&["job-a", "job-c", "job-f"], 3)
    );
    assert_eq!(
        filtered(&store, Some("mail"), None, 10, 0).await,
        list(&["job-b", "job-d"], 2)
    );
}

/// A job that finishes, or whose value expires, leaves its kind's index
/// and its name entry with the active list.
async fn a_job_leaving_the_list_leaves_its_filters(make: Make) {
    let ttl = Duration::from_secs(1);
    let store = make(Ttls {
        in_progress: ttl,
        completed: Duration::from_secs(60),
    })
    .await;
    store
        .write(&described("ends", 1, 100, "import", "Nightly"))
        .await
        .unwrap();
    store
        .write(&described("expires", 1, 200, "import", "Nightly too"))
        .await
        .unwrap();
    assert_eq!(filtered(&store, Some("import"), None, 10, 0).await.1, 2);
    assert_eq!(filtered(&store, None, Some("nightly"), 10, 0).await.1, 2);

    let done = with_status(
        described("ends", 2, 100, "import", "Nightly"),
        JobStatus::Completed,
    );
    store.write(&done).await.unwrap();
    let expected = (vec!["expires".to_owned()], 1);
    assert_eq!(
        filtered(&store, Some("import"), None, 10, 0).await,
        expected
    );
    assert_eq!(
        filtered(&store, None, Some("nightly"), 10, 0).await,
        expected
    );

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.read(&id("expires")).await.unwrap().is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still there after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Twice: the first listing may be the one that finds the entries gone.
    for _ in 0..2 {
        assert_eq!(
            filtered(&store, Some("import"), None, 10, 0).await,
            (vec![], 0)
        );
        assert_eq!(
            filtered(&store, None, Some("nightly"), 10, 0).await,
            (vec![], 0)
        );
    }
}

/// A request to stop stored by one writer survives a write of the same
/// attempt that does not carry it, and is told to that writer; a later
/// attempt starts without it.
async fn a_request_to_stop_is_kept_and_told_to_the_writer(make: Make) {
    let store = make(Ttls::default()).await;
    let mut asked = running("stop-1", 10, 1_000);
    let cancel = CancelRequest {
        at: at(2_000),
        by: "ops".into(),
        reason: Some("wrong audience".into()),
    };
    store.write(&running("stop-1", 5, 1_000)).await.unwrap();
    asked.cancel_requested = Some(cancel.clone());
    store.write(&asked).await.unwrap();

    let written = store.write(&running("stop-1", 20, 1_000)).await.unwrap();
    assert!(
        matches!(&written, HotWrite::Written { cancel: Some(told), .. } if *told == cancel),
        "{written:?}"
    );
    let read = store.read(&id("stop-1")).await.unwrap().unwrap();
    assert_eq!(read.cancel_requested, Some(cancel.clone()));
    assert_eq!(read.success_count, 20, "the write itself was taken");

    let mut again = running("stop-1", 0, 3_000);
    again.attempt = Some(2);
    let written = store.write(&again).await.unwrap();
    assert!(
        matches!(written, HotWrite::Written { cancel: None, .. }),
        "{written:?}"
    );
    assert_eq!(
        store
            .read(&id("stop-1"))
            .await
            .unwrap()
            .unwrap()
            .cancel_requested,
        None
    );
}

/// A later attempt replaces whatever the earlier left (a failed job, higher
/// counts) and keeps its summary; an earlier attempt never comes back.
async fn a_later_attempt_starts_over_and_keeps_the_earlier_ones_summary(make: Make) {
    let store = make(Ttls::default()).await;
    let mut failed = with_status(running("retry-1", 700, 1_000), JobStatus::Failed);
    failed.error_message = Some("provider down".into());
    failed.completed_at = Some(at(5_000));
    store.write(&failed).await.unwrap();

    let mut second = running("retry-1", 3, 6_000);
    second.attempt = Some(2);
    version(store.write(&second).await.unwrap());
    let read = store.read(&id("retry-1")).await.unwrap().unwrap();
    assert_eq!(
        (read.attempt(), read.status, read.success_count),
        (2, JobStatus::InProgress, 3)
    );
    assert_eq!(read.attempts.len(), 1, "{read:?}");
    let first = &read.attempts[0];
    assert_eq!((first.attempt, first.status), (1, JobStatus::Failed));
    assert_eq!(first.error_message.as_deref(), Some("provider down"));
    assert_eq!(
        (first.success_count, first.ended_at),
        (700, Some(at(5_000)))
    );

    let late = running("retry-1", 900, 1_000);
    assert_eq!(
        store.write(&late).await.unwrap(),
        HotWrite::Stale,
        "attempt 1 is over"
    );
    assert_eq!(
        store.read(&id("retry-1")).await.unwrap().unwrap().attempt(),
        2
    );
}

fn line(level: LogLevel, message: impl Into<String>) -> NewLogLine {
    NewLogLine::new(Utc::now(), level, message).expect("a valid line")
}

/// A job's log: numbered from 1 in order, paged after a sequence number,
/// refused (nothing stored) for a job without a record.
async fn a_log_is_numbered_and_paged(make: Make) {
    let store = make(Ttls::default()).await;
    let lines = [
        line(LogLevel::Info, "one"),
        line(LogLevel::Warn, "<b>two</b>"),
    ];
    assert_eq!(store.append_log(&id("nobody"), &lines).await.unwrap(), None);
    assert!(
        store
            .read_log(&id("nobody"), 0, 10)
            .await
            .unwrap()
            .lines
            .is_empty()
    );

    store.write(&running("logged", 1, 1)).await.unwrap();
    assert_eq!(
        store.append_log(&id("logged"), &lines).await.unwrap(),
        Some(2)
    );
    let more = [line(LogLevel::Error, "three")];
    assert_eq!(
        store.append_log(&id("logged"), &more).await.unwrap(),
        Some(3)
    );

    let page = store.read_log(&id("logged"), 0, 2).await.unwrap();
    let seqs: Vec<u64> = page.lines.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, [1, 2]);
    assert_eq!(page.lines[1].message, "<b>two</b>", "kept as text");
    assert_eq!(page.lines[1].level, LogLevel::Warn);
    assert_eq!(page.lines[0].at, lines[0].at);
    assert_eq!(page.next, Some(2));
    let tail = store.log_tail(&id("logged"), 2).await.unwrap();
    let seqs: Vec<u64> = tail.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, [2, 3], "the last two");
    assert_eq!(store.log_tail(&id("logged"), 10).await.unwrap().len(), 3);
    assert!(store.log_tail(&id("nobody"), 10).await.unwrap().is_empty());
    let page = store.read_log(&id("logged"), 2, 100).await.unwrap();
    assert_eq!(page.lines.len(), 1);
    assert_eq!(page.lines[0].message, "three");
    assert_eq!(page.next, None);
    assert!(
        store
            .read_log(&id("logged"), 3, 100)
            .await
            .unwrap()
            .lines
            .is_empty()
    );
    // A write of the record leaves the log as it is.
    store.write(&running("logged", 2, 1)).await.unwrap();
    assert_eq!(
        store
            .read_log(&id("logged"), 0, 100)
            .await
            .unwrap()
            .lines
            .len(),
        3
    );
}

/// A flood of lines from one job keeps only the last 1,000 lines or
/// 256 KiB, whichever is fewer; numbering goes on.
async fn a_log_flood_keeps_its_bound(make: Make) {
    let store = make(Ttls::default()).await;
    store.write(&running("flood", 1, 1)).await.unwrap();
    let short: Vec<NewLogLine> = (0..MAX_LINES_PER_CALL)
        .map(|n| line(LogLevel::Info, format!("line {n}")))
        .collect();
    for _ in 0..1_000 {
        store.append_log(&id("flood"), &short).await.unwrap();
    }
    let page = store.read_log(&id("flood"), 0, 1_000).await.unwrap();
    assert_eq!(
        page.lines.len(),
        KEPT_LINES,
        "100,000 short lines: the count bounds"
    );
    assert_eq!(page.lines[0].seq, 100_000 - KEPT_LINES as u64 + 1);
    assert_eq!(page.lines.last().unwrap().seq, 100_000);
    assert_eq!(page.next, None);

    let long: Vec<NewLogLine> = (0..MAX_LINES_PER_CALL)
        .map(|_| line(LogLevel::Error, "x".repeat(MAX_LINE_BYTES)))
        .collect();
    store.append_log(&id("flood"), &long).await.unwrap();
    store.append_log(&id("flood"), &long).await.unwrap();
    let page = store.read_log(&id("flood"), 0, 1_000).await.unwrap();
    let bytes: usize = page
        .lines
        .iter()
        .map(|l| serde_json::to_string(l).unwrap().len())
        .sum();
    assert!(bytes <= KEPT_BYTES, "{bytes} bytes kept");
    let one = bytes / page.lines.len();
    assert!(
        bytes + one > KEPT_BYTES,
        "no more dropped than needed: {bytes}"
    );
    assert!(
        page.lines.len() < 200,
        "the bytes bound: {}",
        page.lines.len()
    );
    assert_eq!(page.lines.last().unwrap().seq, 100_200);
}

/// A log lives as long as its record: it expires with it, and a job
/// written again starts a fresh log.
async fn a_log_expires_with_its_record(make: Make) {
    let ttl = Duration::from_secs(1);
    let store = make(Ttls {
        in_progress: ttl,
        completed: ttl,
    })
    .await;
    store.write(&running("brief", 1, 1)).await.unwrap();
    store
        .append_log(&id("brief"), &[line(LogLevel::Info, "hello")])
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.read(&id("brief")).await.unwrap().is_some()
        || !store
            .read_log(&id("brief"), 0, 10)
            .await
            .unwrap()
            .lines
            .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still there after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.write(&running("brief", 0, 1)).await.unwrap();
    let last = store
        .append_log(&id("brief"), &[line(LogLevel::Info, "again")])
        .await
        .unwrap();
    assert_eq!(last, Some(1));
}

/// Every write appends a sample at most once per 5 s (a final state
/// always), and a full history is thinned evenly, the newest kept.
async fn the_history_is_sampled_and_thinned(make: Make) {
    let store = make(Ttls::default()).await;
    assert!(store.history(&id("sampled")).await.unwrap().is_empty());
    let start = Utc::now().timestamp_millis() - 10_000_000;
    let write = |n: i64, status: JobStatus| {
        let mut record = running("sampled", n as u64, 1);
        record.updated_at = Some(at(start + n * 2_500));
        with_status(record, status)
    };
    for n in 0..4 {
        store.write(&write(n, JobStatus::InProgress)).await.unwrap();
    }
    let samples = store.history(&id("sampled")).await.unwrap();
    let processed: Vec<u64> = samples.iter().map(|s| s.processed).collect();
    assert_eq!(processed, [0, 2], "one per 5 s");
    assert_eq!(samples[1].at, at(start + 5_000));

    for n in 4..=(2 * HISTORY_SAMPLES as i64 + 2) {
        store.write(&write(n, JobStatus::InProgress)).await.unwrap();
    }
    let samples = store.history(&id("sampled")).await.unwrap();
    assert!(samples.len() <= HISTORY_SAMPLES, "{}", samples.len());
    assert!(samples.len() > HISTORY_SAMPLES / 2, "{}", samples.len());
    assert!(samples.windows(2).all(|w| w[0].at < w[1].at));
    let last = 2 * HISTORY_SAMPLES as u64 + 2;
    let newest = samples.last().unwrap().processed;
    assert!(
        last - newest < 4,
        "within one doubled spacing (4 writes): {newest}"
    );

    store
        .write(&write(last as i64 + 1, JobStatus::Completed))
        .await
        .unwrap();
    let samples = store.history(&id("sampled")).await.unwrap();
    assert_eq!(
        samples.last().unwrap().processed,
        last + 1,
        "a final state is kept"
    );

    // Run again: the new attempt's chart starts from its own start.
    let mut again = write(last as i64 + 10, JobStatus::InProgress);
    again.success_count = 1;
    again.current_sent_count = 1;
    again.attempt = Some(2);
    store.write(&again).await.unwrap();
    let samples = store.history(&id("sampled")).await.unwrap();
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert_eq!(samples[0].processed, 1);
}

/// The stores with all logs together capped at 1 MiB. One Redis and the
/// in-process store: on a cluster each bucket holds its share, by the
/// same script.
type MakeCapped = fn() -> BoxFuture<'static, Arc<dyn HotStore>>;

fn redis_capped() -> BoxFuture<'static, Arc<dyn HotStore>> {
    Box::pin(async move {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let store = RedisStore::new(&url, fresh_keys(), Ttls::default(), Duration::from_secs(2))
            .expect("a Redis store")
            .with_log_cap(LogCap::megabytes(1));
        Arc::new(store) as Arc<dyn HotStore>
    })
}

fn memory_capped() -> BoxFuture<'static, Arc<dyn HotStore>> {
    Box::pin(async move {
        let store = MemoryStore::new(Ttls::default(), job_progress::push::FEED_CAPACITY)
            .with_log_cap(LogCap::megabytes(1));
        Arc::new(store) as Arc<dyn HotStore>
    })
}

/// Past the cap on all logs together, whole logs of finished jobs go, the
/// longest finished first; an active job's log is never cut for it, and
/// the newest finished jobs keep theirs.
async fn past_the_cap_the_oldest_finished_jobs_logs_go_first(make: MakeCapped) {
    let store = make().await;
    let message = "x".repeat(1_000);
    let log = |job: &'static str, lines: usize| {
        let store = Arc::clone(&store);
        let message = message.clone();
        async move {
            let batch: Vec<NewLogLine> = (0..100)
                .map(|_| line(LogLevel::Info, message.clone()))
                .collect();
            for _ in 0..lines / 100 {
                store.append_log(&id(job), &batch).await.unwrap();
            }
        }
    };
    let kept = |job: &'static str| {
        let store = Arc::clone(&store);
        async move {
            store
                .read_log(&id(job), 0, 1_000)
                .await
                .unwrap()
                .lines
                .len()
        }
    };
    store.write(&running("live", 1, 1)).await.unwrap();
    log("live", 100).await;
    // Eight jobs of about 210 KiB of log each, finishing one after another:
    // about 1.7 MiB in all against a 1 MiB cap.
    const DONE: [&str; 8] = ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"];
    for job in DONE {
        store.write(&running(job, 1, 1)).await.unwrap();
        log(job, 200).await;
        store
            .write(&with_status(running(job, 2, 1), JobStatus::Completed))
            .await
            .unwrap();
    }
    assert_eq!(kept("live").await, 100, "an active job's log is never cut");
    let kept_by_job: Vec<usize> = futures_util::future::join_all(DONE.map(kept)).await;
    assert_eq!(
        kept_by_job,
        [0, 0, 0, 0, 200, 200, 200, 200],
        "the longest finished went first"
    );
    // A finished job that runs again is no finished job: its log stays.
    let mut again = running("d4", 1, 1);
    again.attempt = Some(2);
    store.write(&again).await.unwrap();
    store.write(&running("d8", 1, 1)).await.unwrap();
    log("d8", 200).await;
    assert_eq!(kept("d4").await, 200, "running again");
    assert_eq!(kept("d5").await, 0, "the longest finished of the rest");
}

mod capped {
    #[tokio::test]
    async fn on_redis() {
        super::past_the_cap_the_oldest_finished_jobs_logs_go_first(super::redis_capped).await
    }
    #[tokio::test]
    async fn on_memory() {
        super::past_the_cap_the_oldest_finished_jobs_logs_go_first(super::memory_capped).await
    }
}

/// Runs each promise against each store, as `#[tokio::test]`s named
/// `<store>::<promise>`.
macro_rules! contract {
    ($($promise:ident),* $(,)?) => {
        mod on_redis {
            $(#[tokio::test] async fn $promise() { super::$promise(super::redis).await })*
        }
        mod on_redis_cluster {
            $(#[tokio::test] async fn $promise() { super::$promise(super::cluster).await })*
        }
        mod on_memory {
            $(#[tokio::test] async fn $promise() { super::$promise(super::memory).await })*
        }
    };
}

contract!(
    a_record_reads_back_as_written,
    a_job_never_moves_backwards,
    replace_compares_the_version_and_keeps_the_state,
    read_many_answers_in_order,
    read_each_answers_as_read_does,
    the_active_list_is_in_start_order_and_paged,
    expired_records_leave,
    the_active_list_filters_by_kind_and_text,
    a_job_leaving_the_list_leaves_its_filters,
    a_request_to_stop_is_kept_and_told_to_the_writer,
    a_later_attempt_starts_over_and_keeps_the_earlier_ones_summary,
    a_log_is_numbered_and_paged,
    a_log_flood_keeps_its_bound,
    a_log_expires_with_its_record,
    the_history_is_sampled_and_thinned,
);

// The parent-and-child promises, and the state replaced alone, run by the
// same macro.
mod children;
mod state;
