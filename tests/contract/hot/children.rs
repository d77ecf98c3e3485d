//! The hot-store contract for parents and children: a child's writes roll
//! up into its parent's counters, each child counted once whatever its
//! writes repeat, and the active list's top-level filter leaves children
//! out (on one Redis, on a cluster, where parent and children fall in
//! different buckets, and in memory).

use std::sync::Arc;

use job_progress::{
    domain::{ChildrenSummary, JobFilter, JobStatus, ProgressRecord},
    store::{HotStore, Ttls},
};

use super::{Make, cluster, described, id, memory, redis, running, with_status};

/// A child of `parent` at `sent` of 10, moving at two targets a second.
fn child(job: &str, parent: &str, sent: u64, started: i64) -> ProgressRecord {
    let mut record = running(job, sent, started);
    record.total_target_count = Some(10);
    record.parent_job_id = Some(id(parent));
    record.rate_per_second = Some(2.0);
    record.normalized()
}

async fn top_level(store: &Arc<dyn HotStore>, kind: Option<&str>, q: Option<&str>) -> Vec<String> {
    let filter = JobFilter::parse(kind, q).unwrap().top_level_unless(false);
    let (page, total) = store.active(&filter, 100, 0).await.unwrap();
    assert_eq!(total, page.len() as u64, "{kind:?} {q:?}");
    page.iter().map(|r| r.job_id.to_string()).collect()
}

/// Fifty children's writes, repeated and ending, give their parent's
/// counters; the parent's read carries them.
async fn children_roll_up_into_their_parent(make: Make) {
    let store = make(Ttls::default()).await;
    let mut parent = ProgressRecord::new(id("parent"), JobStatus::InProgress, None);
    parent.started_at = Some(chrono::Utc::now());
    store.write(&parent).await.unwrap();
    for n in 0..50 {
        let job = format!("child-{n:02}");
        store
            .write(&child(&job, "parent", 2, 100 + n))
            .await
            .unwrap();
        // A repeated write counts the child once.
        store
            .write(&child(&job, "parent", 4, 100 + n))
            .await
            .unwrap();
    }
    for n in 0..10 {
        let mut done = child(&format!("child-{n:02}"), "parent", 10, 100 + n);
        done.success_count = 8;
        done.failure_count = 2;
        let status = if n == 0 {
            JobStatus::Failed
        } else {
            JobStatus::Completed
        };
        store.write(&with_status(done, status)).await.unwrap();
    }
    let rollup = store
        .rollup(&id("parent"))
        .await
        .unwrap()
        .expect("a roll-up");
    assert_eq!(
        rollup.children,
        ChildrenSummary {
            total: 50,
            running: 40,
            completed: 9,
            failed: 1,
            cancelled: 0
        }
    );
    assert_eq!(rollup.processed, 10 * 10 + 40 * 4);
    assert_eq!(rollup.failed, 20);
    assert_eq!(rollup.targets, 500);
    assert_eq!(rollup.rate_milli, 40 * 2000, "running children only");

    let read = store.read(&id("parent")).await.unwrap().unwrap();
    assert_eq!(read.children, Some(rollup.children));
    assert_eq!(read.current_sent_count, 260);
    assert_eq!(read.total_target_count, Some(500));
    // 240 left at 80 a second.
    assert!(
        read.estimated_remaining_seconds.is_some_and(|s| s <= 3),
        "{read:?}"
    );
    let entries = store.child_entries(&id("parent")).await.unwrap();
    assert_eq!(entries.len(), 50);
    assert_eq!(entries.iter().filter(|(_, e)| e.is_running()).count(), 40);
    assert!(store.rollup(&id("child-01")).await.unwrap().is_none());
}

/// The top-level filter leaves children out of every list: plain, by kind
/// and by text.
async fn the_top_level_list_leaves_children_out(make: Make) {
    let store = make(Ttls::default()).await;
    store
        .write(&described("root-a", 1, 100, "import", "Orders"))
        .await
        .unwrap();
    let mut kid = described("root-a-1", 1, 50, "import", "Orders part");
    kid.parent_job_id = Some(id("root-a"));
    store.write(&kid).await.unwrap();
    store
        .write(&described("root-b", 1, 200, "", ""))
        .await
        .unwrap();
    assert_eq!(top_level(&store, None, None).await, ["root-a", "root-b"]);
    assert_eq!(top_level(&store, Some("import"), None).await, ["root-a"]);
    assert_eq!(top_level(&store, None, Some("orders")).await, ["root-a"]);
    let (all, total) = store.active(&JobFilter::default(), 10, 0).await.unwrap();
    assert_eq!(total, 3, "{all:?}");
    // Ended, the child leaves every index.
    store
        .write(&with_status(kid, JobStatus::Completed))
        .await
        .unwrap();
    assert_eq!(
        store.active(&JobFilter::default(), 10, 0).await.unwrap().1,
        2
    );
}

contract!(
    children_roll_up_into_their_parent,
    the_top_level_list_leaves_children_out,
);
