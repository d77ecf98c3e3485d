//! The webhook outbox: events written with the status change that makes
//! them, once; deliveries routed, claimed by one caller at a time,
//! settled, retried and pruned.

use std::{collections::HashSet, time::Duration};

use chrono::Utc;
use job_progress::{
    domain::{EventSet, EventType, JobStatus},
    store::{Attempt, Claimed, OutboxEvent, Verdict},
};

use super::{Db, record};

contract! {
    a_status_change_writes_its_event_once,
    no_event_is_written_when_none_is_wanted,
    a_claimed_delivery_waits_for_its_settlement,
    a_stall_is_written_once_per_episode,
    dead_deliveries_can_be_retried_and_a_disabled_subscription_gets_none,
    old_attempts_and_deliveries_are_pruned,
    two_claims_at_once_never_take_the_same_delivery,
}

/// Routes every new event to the subscription `to`; returns how many.
async fn route_all(db: &Db, to: &str) -> usize {
    let to = to.to_owned();
    db.outbox
        .route(1000, &move |_| vec![to.clone()])
        .await
        .unwrap()
}

/// Claims every due delivery, with a lease of a minute.
async fn claim(db: &Db) -> Vec<Claimed> {
    db.outbox.claim(100, Duration::from_secs(60)).await.unwrap()
}

/// The attempt `claimed` got, answered with `status`.
fn attempt(claimed: &Claimed, status: u16, outcome: &str) -> Attempt {
    Attempt {
        id: 0,
        message_id: claimed.message_id.clone(),
        subscription: claimed.subscription.clone(),
        event_type: String::new(),
        job_id: String::new(),
        at: Utc::now(),
        status_code: Some(status),
        duration_ms: 12,
        outcome: outcome.to_owned(),
        response: "ok".to_owned(),
        state: String::new(),
    }
}

async fn a_status_change_writes_its_event_once(db: &Db) {
    db.wanted.set(EventSet::ALL);
    let steps = [
        (JobStatus::Preparing, 0),
        (JobStatus::InProgress, 10),
        (JobStatus::InProgress, 20),
        (JobStatus::Completed, 100),
        // A retried completion: written again, announced once.
        (JobStatus::Completed, 100),
    ];
    for (status, sent) in steps {
        db.archive
            .checkpoint(&record("job-1", status, sent))
            .await
            .unwrap();
    }
    // A stale write announces nothing: the job stays completed.
    db.archive
        .checkpoint(&record("job-1", JobStatus::Failed, 100))
        .await
        .unwrap();

    assert_eq!(route_all(db, "ops").await, 2);
    let mut claimed = claim(db).await;
    claimed.sort_by(|a, b| a.event_type.cmp(&b.event_type));
    let events: Vec<&str> = claimed.iter().map(|c| c.event_type.as_str()).collect();
    assert_eq!(events, ["job.completed", "job.started"]);
    let completed: serde_json::Value = serde_json::from_str(&claimed[0].payload).unwrap();
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["jobId"], "job-1");
    assert!(claimed.iter().all(|c| c.message_id.starts_with("msg_")));
    assert_ne!(claimed[0].message_id, claimed[1].message_id);

    // A new attempt of the job announces its start and end again.
    let mut rerun = record("job-1", JobStatus::InProgress, 1);
    rerun.attempt = Some(2);
    db.archive.checkpoint(&rerun).await.unwrap();
    assert_eq!(route_all(db, "ops").await, 1);
}

async fn no_event_is_written_when_none_is_wanted(db: &Db) {
    db.archive
        .checkpoint(&record("job-1", JobStatus::Completed, 100))
        .await
        .unwrap();
    assert_eq!(route_all(db, "ops").await, 0);

    // Only the wanted kinds.
    db.wanted.set(EventSet::NONE.with(EventType::Failed));
    db.archive
        .checkpoint_many(&[
            record("job-2", JobStatus::Completed, 100),
            record("job-3", JobStatus::Failed, 10),
        ])
        .await
        .unwrap();
    assert_eq!(route_all(db, "ops").await, 1);
    assert_eq!(claim(db).await[0].job_id, "job-3");
}

async fn a_claimed_delivery_waits_for_its_settlement(db: &Db) {
    db.wanted.set(EventSet::ALL);
    db.archive
        .checkpoint(&record("job-1", JobStatus::Failed, 5))
        .await
        .unwrap();
    route_all(db, "ops").await;
    let first = claim(db).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempts, 0);
    assert!(claim(db).await.is_empty(), "leased to its claimer");

    let due_now = Verdict::RetryAt(Utc::now() - chrono::Duration::seconds(1));
    db.outbox
        .settle(&attempt(&first[0], 503, "retry"), due_now)
        .await
        .unwrap();
    let again = claim(db).await;
    assert_eq!(again.len(), 1, "due again");
    assert_eq!(
        again[0].message_id, first[0].message_id,
        "the same webhook-id"
    );
    assert_eq!(again[0].attempts, 1);
    db.outbox
        .settle(&attempt(&again[0], 200, "delivered"), Verdict::Delivered)
        .await
        .unwrap();
    assert!(claim(db).await.is_empty(), "delivered");

    let attempts = db.outbox.attempts("ops", None, 10).await.unwrap();
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(statuses, [Some(200), Some(503)], "newest first");
    assert_eq!(attempts[0].event_type, "job.failed");
    assert_eq!(attempts[0].state, "delivered");
    let older = db
        .outbox
        .attempts("ops", Some(attempts[0].id), 10)
        .await
        .unwrap();
    assert_eq!(older.len(), 1, "the page after the cursor");
    let stats = db.outbox.stats(&["ops".to_owned()]).await.unwrap();
    assert_eq!((stats[0].pending, stats[0].dead), (0, 0));
    assert_eq!(stats[0].last.as_ref().unwrap().status_code, Some(200));
}

async fn a_stall_is_written_once_per_episode(db: &Db) {
    let stalled = record("job-1", JobStatus::InProgress, 40);
    let event = |episode| OutboxEvent::of(&stalled, EventType::Stalled, episode).unwrap();
    // Two instances saw the same stall: each made its own message id.
    assert_eq!(db.outbox.enqueue(&[event(7)]).await.unwrap(), 1);
    assert_eq!(db.outbox.enqueue(&[event(7)]).await.unwrap(), 0);
    assert_eq!(
        db.outbox.enqueue(&[event(9)]).await.unwrap(),
        1,
        "a later stall"
    );
    assert_eq!(route_all(db, "ops").await, 2);
}

async fn dead_deliveries_can_be_retried_and_a_disabled_subscription_gets_none(db: &Db) {
    db.wanted.set(EventSet::ALL);
    db.archive
        .checkpoint_many(&[
            record("job-1", JobStatus::Completed, 100),
            record("job-2", JobStatus::Completed, 100),
        ])
        .await
        .unwrap();
    route_all(db, "ops").await;
    let claimed = claim(db).await;
    db.outbox
        .settle(&attempt(&claimed[0], 400, "dead"), Verdict::Dead)
        .await
        .unwrap();
    let stats = db.outbox.stats(&["ops".to_owned()]).await.unwrap();
    assert_eq!((stats[0].dead, stats[0].pending), (1, 1));

    assert!(
        db.outbox
            .retry("ops", &claimed[0].message_id)
            .await
            .unwrap()
    );
    assert!(
        !db.outbox
            .retry("ops", &claimed[0].message_id)
            .await
            .unwrap(),
        "no longer dead"
    );
    assert!(
        !db.outbox
            .retry("other", &claimed[0].message_id)
            .await
            .unwrap()
    );

    db.outbox.disable("ops").await.unwrap();
    assert_eq!(db.outbox.disabled().await.unwrap(), ["ops"]);
    let stats = db.outbox.stats(&["ops".to_owned()]).await.unwrap();
    assert_eq!(
        (stats[0].dead, stats[0].pending),
        (2, 0),
        "pending ones given up"
    );
}

async fn old_attempts_and_deliveries_are_pruned(db: &Db) {
    db.wanted.set(EventSet::ALL);
    db.archive
        .checkpoint(&record("job-1", JobStatus::Completed, 100))
        .await
        .unwrap();
    route_all(db, "ops").await;
    let claimed = claim(db).await;
    db.outbox
        .settle(&attempt(&claimed[0], 200, "delivered"), Verdict::Delivered)
        .await
        .unwrap();
    assert_eq!(
        db.outbox
            .prune(Duration::from_secs(3600), 100)
            .await
            .unwrap(),
        0,
        "young"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(db.outbox.prune(Duration::ZERO, 100).await.unwrap(), 3);
    assert!(
        db.outbox
            .attempts("ops", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(db.outbox.oldest_waiting().await.unwrap(), None);
}

async fn two_claims_at_once_never_take_the_same_delivery(db: &Db) {
    db.wanted.set(EventSet::ALL);
    let records: Vec<_> = (0..40)
        .map(|i| record(&format!("job-{i}"), JobStatus::Completed, 100))
        .collect();
    db.archive.checkpoint_many(&records).await.unwrap();
    route_all(db, "ops").await;
    assert!(db.outbox.oldest_waiting().await.unwrap().is_some());
    let lease = Duration::from_secs(60);
    let (a, b) = tokio::join!(db.outbox.claim(25, lease), db.outbox.claim(25, lease));
    let (a, b) = (a.unwrap(), b.unwrap());
    let ids: HashSet<&str> = a.iter().chain(&b).map(|c| c.message_id.as_str()).collect();
    assert_eq!(ids.len(), a.len() + b.len(), "no delivery claimed twice");
    assert_eq!(ids.len(), 40, "between them, all");
}
