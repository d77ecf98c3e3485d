//! Schedules: made or completed by the checkpoints of the jobs that name
//! them, listed while they run.

use job_progress::domain::{JobStatus, ProgressRecord};

use super::{Db, ids, job, minutes_ago, record, schedule};

contract! {
    a_checkpoint_naming_a_schedule_makes_it_and_its_end_finishes_it,
    a_registered_schedule_keeps_its_name_and_time,
    active_schedules_are_the_started_unended_ones_oldest_start_first,
    two_jobs_of_one_batch_naming_one_schedule_the_later_update_wins,
}

/// A checkpoint of `id`, carrying out `schedule_id`, started `started`
/// minutes ago (never, if `None`).
fn scheduled(
    id: &str,
    schedule_id: &str,
    status: JobStatus,
    started: Option<i64>,
) -> ProgressRecord {
    let mut record = record(id, status, 10);
    record.schedule_id = Some(schedule(schedule_id));
    record.started_at = started.map(minutes_ago);
    record
}

async fn a_checkpoint_naming_a_schedule_makes_it_and_its_end_finishes_it(db: &Db) {
    let running = scheduled("s-job", "s-1", JobStatus::InProgress, Some(5));
    db.archive.checkpoint(&running).await.unwrap();

    let made = db
        .archive
        .schedule(&schedule("s-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(made.job_id, Some(job("s-job")));
    assert_eq!(made.actual_start_at, running.started_at);
    assert_eq!(made.actual_end_at, None);
    assert_eq!(made.total_target_count, Some(100));
    assert_eq!((made.name, made.scheduled_at), (None, None));
    assert_eq!(made.checkpoint, Some(running.clone()));

    let mut done = scheduled("s-job", "s-1", JobStatus::Completed, Some(1));
    done.current_sent_count = 100;
    done.success_count = 100;
    done.completed_at = Some(minutes_ago(0));
    let done = done.normalized();
    db.archive.checkpoint(&done).await.unwrap();

    let ended = db
        .archive
        .schedule(&schedule("s-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ended.actual_start_at, running.started_at,
        "the first start stays"
    );
    assert_eq!(ended.actual_end_at, done.completed_at);
    assert_eq!(
        ended.checkpoint.map(|c| c.status),
        Some(JobStatus::Completed)
    );
    assert_eq!(
        db.archive.schedule(&schedule("s-none")).await.unwrap(),
        None
    );
}

async fn a_registered_schedule_keeps_its_name_and_time(db: &Db) {
    let planned = minutes_ago(30);
    db.register_schedule("s-2", "Black Friday push", planned)
        .await;
    let unstarted = db
        .archive
        .schedule(&schedule("s-2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((unstarted.job_id, unstarted.actual_start_at), (None, None));

    // A job that names it, without a start of its own: the schedule
    // starts at the job's first record.
    let job_record = scheduled("s-2-job", "s-2", JobStatus::Preparing, None);
    db.archive.checkpoint(&job_record).await.unwrap();

    let known = db
        .archive
        .schedule(&schedule("s-2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(known.name.as_deref(), Some("Black Friday push"));
    assert_eq!(known.scheduled_at, Some(planned));
    assert_eq!(known.job_id, Some(job("s-2-job")));
    assert_eq!(known.actual_start_at, job_record.updated_at);
}

async fn active_schedules_are_the_started_unended_ones_oldest_start_first(db: &Db) {
    db.register_schedule("s-waiting", "not started", minutes_ago(-60))
        .await;
    let records = [
        scheduled("j-late", "s-late", JobStatus::InProgress, Some(5)),
        scheduled("j-early-b", "s-early-b", JobStatus::InProgress, Some(10)),
        scheduled("j-ended", "s-ended", JobStatus::Failed, Some(20)),
        scheduled("j-early-a", "s-early-a", JobStatus::InProgress, Some(10)),
    ];
    let mut records = records.to_vec();
    records[3].started_at = records[1].started_at;
    db.archive.checkpoint_many(&records).await.unwrap();

    let running = db.archive.active_schedules().await.unwrap();

    let ids: Vec<&str> = running.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s-early-a", "s-early-b", "s-late"]);
    let late = &running[2];
    assert_eq!(late.checkpoint.as_ref(), Some(&records[0]));
}

async fn two_jobs_of_one_batch_naming_one_schedule_the_later_update_wins(db: &Db) {
    let mut earlier = scheduled("j-earlier", "s-shared", JobStatus::InProgress, Some(10));
    earlier.updated_at = Some(minutes_ago(2));
    let later = scheduled("j-later", "s-shared", JobStatus::InProgress, Some(3));

    for batch in [
        [earlier.clone(), later.clone()],
        [later.clone(), earlier.clone()],
    ] {
        db.archive.checkpoint_many(&batch).await.unwrap();

        let shared = db
            .archive
            .schedule(&schedule("s-shared"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            shared.job_id,
            Some(job("j-later")),
            "batch order {:?}",
            ids(&batch)
        );
        assert_eq!(shared.actual_start_at, later.started_at);
    }
}
