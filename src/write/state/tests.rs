use std::time::Duration;

use super::*;
use crate::{
    domain::{JobId, JobKind},
    write::eta::{KindHistory, RunSummary, StepTime},
};

/// A job of `total` targets in chunks of ten, started `ago`.
fn running_since(total: u64, ago: Duration) -> JobState {
    let record = ProgressRecord::new(
        JobId::parse("t").unwrap(),
        JobStatus::InProgress,
        Some(total),
    );
    let shape = JobShape {
        total,
        chunk_size: Some(10),
        pause: Some(Duration::ZERO),
    };
    JobState::started_at(record, shape, Instant::now() - ago)
}

fn running(total: u64) -> JobState {
    running_since(total, Duration::ZERO)
}

#[test]
fn the_eta_appears_with_progress_and_is_never_before_the_update() {
    // Started three seconds ago, so the first chunks took time: a rate
    // exists without the test waiting for one.
    let mut state = running_since(100, Duration::from_secs(3));
    assert_eq!(
        state.snapshot().estimated_end_at,
        None,
        "no data, no estimate"
    );
    for _ in 0..3 {
        state.add(10, 0).unwrap();
    }
    let record = state.snapshot();
    let end = record
        .estimated_end_at
        .expect("an estimate after three chunks");
    assert!(end >= record.updated_at.unwrap());
    let range = record
        .estimated_end_range
        .expect("a range with the estimate");
    assert!(
        range.earliest <= end && end <= range.latest,
        "{range:?} holds {end}"
    );
    assert!(record.rate_per_second.is_some_and(|rate| rate > 0.0));
    assert!(record.estimated_remaining_seconds.is_some());
}

#[test]
fn a_long_jobs_saved_state_is_compact_and_comes_back_exactly() {
    // 1,100 chunks of 500 (550,000 targets, more than the window
    // holds) with a little noise: the largest state a job reaches.
    let mut state = running(1_000_000);
    for chunk in 1..=1_100u64 {
        let elapsed = chunk * 2_150 + (chunk * 7919 % 97);
        state.estimator.observe(elapsed, chunk * 500);
    }
    state.last_observed = Some(now());
    let bytes = postcard::to_allocvec(&state.saved()).unwrap();
    assert!(
        bytes.len() < 17 * 1024,
        "{} bytes: about 16 a chunk, not 32",
        bytes.len()
    );
    let back: Saved = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back.estimator.estimate(), state.estimator.estimate());
    let mut resumed = JobState::resume(state.record.clone(), back);
    let end = state.snapshot().estimated_end_at;
    assert!(end.is_some());
    assert_eq!(resumed.snapshot().estimated_end_at, end);
}

#[test]
fn a_finished_job_ends_when_it_completed() {
    let mut state = running(10);
    state.add(10, 0).unwrap();
    state.set_status(JobStatus::Completed).unwrap();
    let record = state.snapshot();
    assert_eq!(record.estimated_end_at, record.completed_at);
    let at = record.completed_at.unwrap();
    assert_eq!(
        record.estimated_end_range,
        Some(EndRange {
            earliest: at,
            latest: at
        })
    );
    assert_eq!(record.estimated_remaining_seconds, Some(0));
    assert_eq!(record.progress_percentage, 100);
    assert!(matches!(state.add(1, 0), Err(WriteError::Finished { .. })));
}

/// A kind whose runs each spent 10 s, 20 s and 30 s in the steps
/// `a`, `b` and `c`.
fn staged_kind() -> KindHistory {
    let steps = [("a", 10_000), ("b", 20_000), ("c", 30_000)].map(|(name, ms)| StepTime {
        name: name.to_owned(),
        ms,
    });
    KindHistory::of((0..10).map(|_| RunSummary::staged(60_000, steps.to_vec())))
}

fn staged_job(kind: Option<&str>) -> JobState {
    let mut record = ProgressRecord::new(JobId::parse("s").unwrap(), JobStatus::InProgress, None);
    record.steps = steps::plan(&["a".into(), "b".into(), "c".into()]).unwrap();
    record.kind = kind.map(|kind| JobKind::parse(kind).unwrap());
    JobState::on_wall_clock(
        record,
        JobShape {
            total: 0,
            chunk_size: None,
            pause: None,
        },
    )
}

#[test]
fn a_staged_job_of_a_known_kind_is_estimated_from_its_steps() {
    let stage = |state: &mut JobState, name: &str| {
        let detail = crate::write::Detail {
            stage: Some(name.to_owned()),
            ..Default::default()
        };
        state.describe(&detail).unwrap();
    };
    let mut alone = staged_job(Some("transcode"));
    stage(&mut alone, "a");
    assert_eq!(alone.snapshot().estimated_end_at, None, "no step ended yet");
    let mut state = staged_job(Some("transcode"));
    state.lean_on(&staged_kind());
    stage(&mut state, "a");
    let left = state.snapshot().estimated_remaining_seconds;
    assert!(left.is_some_and(|s| (59..=60).contains(&s)), "{left:?} s");

    let mut state = staged_job(Some("transcode"));
    assert!(state.wants_history().is_some());
    state.lean_on(&staged_kind());
    assert!(state.wants_history().is_none(), "given once");
    stage(&mut state, "b");
    let record = state.snapshot();
    // Just in b: its 20 s and c's 30 s are left.
    let left = record
        .estimated_remaining_seconds
        .expect("an estimate from the kind");
    assert!((49..=50).contains(&left), "{left} s");
    let range = record.estimated_end_range.unwrap();
    assert!(range.earliest <= record.estimated_end_at.unwrap());
    // The stored form carries it to the next update.
    let back = JobState::resume(state.record.clone(), state.saved());
    assert_eq!(back.kind_steps, state.kind_steps);
}

#[test]
fn only_a_completed_job_of_a_kind_leaves_a_run() {
    let finish = |kind: Option<&str>, status: JobStatus| {
        let mut state = running_since(100, Duration::from_secs(5));
        state.record.kind = kind.map(|kind| JobKind::parse(kind).unwrap());
        for _ in 0..10 {
            state.add(10, 0).unwrap();
        }
        state.set_status(status).unwrap();
        state.finished_run()
    };
    let (kind, run) = finish(Some("import"), JobStatus::Completed).expect("a run");
    assert_eq!(
        (kind.as_str(), run.job_id.as_str(), run.attempt),
        ("import", "t", 1)
    );
    let summary: RunSummary = serde_json::from_str(&run.summary).unwrap();
    assert_eq!(summary.total, 100);
    assert!(finish(Some("import"), JobStatus::Failed).is_none());
    assert!(finish(Some("import"), JobStatus::Cancelled).is_none());
    assert!(
        finish(None, JobStatus::Completed).is_none(),
        "no kind, no history"
    );

    let mut staged = staged_job(Some("transcode"));
    staged.set_status(JobStatus::Completed).unwrap();
    let (_, run) = staged.finished_run().expect("a staged run");
    let summary: RunSummary = serde_json::from_str(&run.summary).unwrap();
    let names: Vec<&str> = summary.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn the_first_progress_moves_a_preparing_job_on() {
    let record = ProgressRecord::new(JobId::parse("p").unwrap(), JobStatus::Preparing, Some(10));
    let mut state = JobState::new(
        record,
        JobShape {
            total: 10,
            chunk_size: None,
            pause: None,
        },
    );
    state.add(1, 0).unwrap();
    assert_eq!(state.record.status, JobStatus::InProgress);
    assert!(matches!(
        state.set_status(JobStatus::Preparing),
        Err(WriteError::Backwards { .. })
    ));
}
