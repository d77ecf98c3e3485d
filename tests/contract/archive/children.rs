//! Parents and children in the archive: a parent's children are paged by
//! id through the parent index, the active list leaves them out when asked
//! for top-level jobs, and a parent's roll-up and plan read back as stored.

use job_progress::domain::{ChildrenSummary, FailurePolicy, JobFilter, JobId, JobStatus};

use super::{Db, ids, record};

contract! {
    children_are_paged_by_id_after_a_cursor,
    a_parents_roll_up_and_plan_read_back,
}

async fn children_are_paged_by_id_after_a_cursor(db: &Db) {
    let parent = JobId::parse("parent").unwrap();
    db.archive
        .checkpoint(&record("parent", JobStatus::InProgress, 1))
        .await
        .unwrap();
    for id in ["kid-c", "kid-a", "kid-b", "other-kid"] {
        let mut child = record(id, JobStatus::InProgress, 1);
        if id != "other-kid" {
            child.parent_job_id = Some(parent.clone());
        } else {
            child.parent_job_id = Some(JobId::parse("someone-else").unwrap());
        }
        db.archive.checkpoint(&child).await.unwrap();
    }
    let first = db.archive.children(&parent, None, 2).await.unwrap();
    assert_eq!(ids(&first), ["kid-a", "kid-b"]);
    let rest = db
        .archive
        .children(&parent, Some(&first[1].job_id), 2)
        .await
        .unwrap();
    assert_eq!(ids(&rest), ["kid-c"]);
    let none = db
        .archive
        .children(&JobId::parse("kid-a").unwrap(), None, 10)
        .await
        .unwrap();
    assert!(none.is_empty());

    let top = JobFilter::default().top_level_unless(false);
    let (listed, total) = db.archive.active(&top, 10, 0).await.unwrap();
    assert_eq!(ids(&listed), ["parent"]);
    assert_eq!(total, 1);
    let (all, total) = db
        .archive
        .active(&JobFilter::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!(total, 5, "{:?}", ids(&all));
}

async fn a_parents_roll_up_and_plan_read_back(db: &Db) {
    let mut parent = record("planned", JobStatus::Completed, 100);
    parent.children = Some(ChildrenSummary {
        total: 3,
        running: 0,
        completed: 2,
        failed: 1,
        cancelled: 0,
    });
    parent.complete_with_children = true;
    parent.expected_children = Some(3);
    parent.failure_policy = Some(FailurePolicy::Continue);
    db.archive.checkpoint(&parent).await.unwrap();
    let back = db
        .archive
        .read(&JobId::parse("planned").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.children, parent.children);
    assert!(back.complete_with_children);
    assert_eq!(back.expected_children, Some(3));
    assert_eq!(back.failure_policy, Some(FailurePolicy::Continue));
}
