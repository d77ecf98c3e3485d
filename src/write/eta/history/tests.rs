use super::{HISTORY_LEN, KindHistory, PROFILE_MARKS, StepTime};
use crate::write::eta::testkit::{Job, noise};

/// A finished steady run: `chunks` chunks of about `work_ms`.
fn steady_run(seed: u64, chunks: u64, work_ms: f64) -> super::RunSummary {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut job = Job::new(chunks * 100, 100, 200);
    for _ in 0..chunks {
        job.chunk(work_ms * noise(&mut rng, 0.2), 0.0);
    }
    job.est.run_summary().expect("a finished run has a summary")
}

#[test]
fn a_finished_run_is_summed_up_with_its_profile() {
    let mut job = Job::new(10_000, 100, 200);
    for _ in 0..50 {
        job.chunk(1000.0, 0.0);
    }
    assert!(job.est.run_summary().is_none(), "not finished yet");
    for _ in 0..50 {
        job.chunk(1000.0, 0.0);
    }
    let run = job.est.run_summary().unwrap();
    assert_eq!((run.total, run.pauses, run.pause_ms), (10_000, 99, 19_800));
    assert_eq!(run.duration_ms, 100 * 1000 + 99 * 200);
    assert!((run.work_ms_per_item - 10.0).abs() < 1e-9, "{run:?}");
    assert_eq!(run.marks_ms.len(), PROFILE_MARKS.len());
    // A steady run reaches each share of its total at about that
    // share of its duration (within one chunk).
    for (&mark, &at) in PROFILE_MARKS.iter().zip(&run.marks_ms) {
        let want = mark * run.duration_ms as f64;
        assert!((at as f64 - want).abs() <= 1200.0, "{mark}: {at} vs {want}");
    }
    assert!(run.has_profile());
}

#[test]
fn the_history_keeps_the_last_runs_and_survives_a_round_trip() {
    let mut history = KindHistory::new();
    for k in 0..HISTORY_LEN as u64 + 5 {
        history.push(steady_run(k, 20 + k, 500.0));
    }
    assert_eq!(history.len(), HISTORY_LEN);
    assert_eq!(
        history.runs().next().unwrap().total,
        25 * 100,
        "oldest dropped"
    );
    let json = serde_json::to_string(&history).unwrap();
    let back: KindHistory = serde_json::from_str(&json).unwrap();
    assert_eq!(back.len(), history.len());
    let bytes = postcard::to_allocvec(&history).unwrap();
    assert_eq!(
        postcard::from_bytes::<KindHistory>(&bytes).unwrap(),
        history
    );
}

#[test]
fn a_staged_job_is_estimated_from_its_kinds_step_times() {
    let steps = |prepare: u64, copy: u64, index: u64| {
        [("prepare", prepare), ("copy", copy), ("index", index)]
            .map(|(name, ms)| StepTime {
                name: name.to_owned(),
                ms,
            })
            .to_vec()
    };
    let mut history = KindHistory::new();
    for k in 0..10 {
        let run = steady_run(k, 10, 100.0).with_steps(steps(
            60_000 + 1000 * k,
            300_000 + 5000 * k,
            120_000,
        ));
        history.push(run);
    }
    let names = ["prepare", "copy", "index"];
    assert_eq!(history.staged(&names, "upload", 0), None, "not a step");
    assert_eq!(
        history.staged(&["prepare"], "prepare", 0),
        None,
        "other steps"
    );
    // 100 s into copying: about 225 s of copying and 120 s of indexing left.
    let e = history.staged(&names, "copy", 100_000).unwrap();
    assert!((335_000..=355_000).contains(&e.remaining_ms), "{e:?}");
    assert!(
        e.earliest_ms < e.remaining_ms && e.remaining_ms < e.latest_ms,
        "{e:?}"
    );
    assert!(
        e.latest_ms - e.earliest_ms < 60_000,
        "ten runs that agree: {e:?}"
    );
    // Overdue in the last step: it is taken to go on a while, not to be over.
    let e = history.staged(&names, "index", 200_000).unwrap();
    assert_eq!(e.remaining_ms, 50_000);
}

#[test]
fn a_staged_job_carries_its_kinds_newest_step_times_within_200_bytes() {
    let step = |name: &str, ms: u64| StepTime {
        name: name.to_owned(),
        ms,
    };
    let mut history = KindHistory::new();
    for k in 0..HISTORY_LEN as u64 {
        let steps = vec![
            step("fetch", 90_000 + k),
            step("load", 600_000),
            step("index", 30_000),
        ];
        history.push(steps_run(k).with_steps(steps));
    }
    history.push(steps_run(99).with_steps(vec![step("other", 1)]));
    let runs = history
        .step_runs(&["fetch", "load", "index"], super::STEP_RUNS_BYTES)
        .expect("runs with these steps");
    let bytes = postcard::to_allocvec(&Some(runs.clone())).unwrap().len();
    assert!(bytes <= super::STEP_RUNS_BYTES, "{bytes} bytes");
    assert!(runs.len() >= 15, "{} runs of three times", runs.len());
    // The newest first: 100 s into fetching, the newest run's 90,049 ms
    // of it are over (a quarter more is taken), load and index left.
    let e = runs.staged(0, 100_000).unwrap();
    assert_eq!(e.remaining_ms, 25_000 + 630_000);
    assert_eq!(history.step_runs(&["fetch"], 200), None);
}

fn steps_run(seed: u64) -> super::RunSummary {
    steady_run(seed, 5, 100.0)
}
