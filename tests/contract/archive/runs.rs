//! Each kind's last finished runs: recorded once, the newest 50 kept,
//! out of retention's reach.

use std::time::Duration;

use job_progress::{
    domain::{JobKind, JobStatus},
    store::{KIND_RUNS_KEPT, KindRun},
};
use serde_json::{Value, json};

use super::{Db, job, record};

contract! {
    a_kind_keeps_its_newest_runs_oldest_first,
    a_run_recorded_again_changes_nothing,
    retention_leaves_the_runs_alone,
}

fn kind(name: &str) -> JobKind {
    JobKind::parse(name).unwrap()
}

/// Run `n` of `id`'s first attempt, its summary naming `n`.
fn run(id: &str, n: u64) -> KindRun {
    KindRun {
        job_id: job(id),
        attempt: 1,
        summary: json!({ "n": n }).to_string(),
    }
}

/// The `n` of each run of `kind`'s history, in the order given.
async fn history(db: &Db, name: &str) -> Vec<u64> {
    let summaries = db.archive.kind_history(&kind(name)).await.unwrap();
    summaries
        .iter()
        .map(|json| {
            let value: Value = serde_json::from_str(json).expect("a summary is JSON");
            value["n"].as_u64().expect("the summary written")
        })
        .collect()
}

async fn a_kind_keeps_its_newest_runs_oldest_first(db: &Db) {
    let kept = u64::from(KIND_RUNS_KEPT);
    for n in 0..kept + 5 {
        let id = format!("import-{n}");
        db.archive
            .record_run(&kind("import"), &run(&id, n))
            .await
            .unwrap();
    }
    for n in 0..2 {
        let id = format!("export-{n}");
        db.archive
            .record_run(&kind("export"), &run(&id, n))
            .await
            .unwrap();
    }

    let import = history(db, "import").await;
    assert_eq!(import, (5..kept + 5).collect::<Vec<_>>(), "the newest 50");
    assert_eq!(history(db, "export").await, [0, 1], "other kinds untouched");
    assert!(history(db, "never-ran").await.is_empty());
}

async fn a_run_recorded_again_changes_nothing(db: &Db) {
    let import = kind("import");
    db.archive.record_run(&import, &run("j", 1)).await.unwrap();
    db.archive.record_run(&import, &run("j", 2)).await.unwrap();
    assert_eq!(history(db, "import").await, [1], "the same run, once");

    let again = KindRun {
        attempt: 2,
        ..run("j", 3)
    };
    db.archive.record_run(&import, &again).await.unwrap();
    assert_eq!(
        history(db, "import").await,
        [1, 3],
        "a later attempt is a run"
    );
}

async fn retention_leaves_the_runs_alone(db: &Db) {
    db.archive
        .checkpoint(&record("old", JobStatus::Completed, 100))
        .await
        .unwrap();
    db.archive
        .record_run(&kind("import"), &run("old", 7))
        .await
        .unwrap();
    db.age("old", Duration::from_secs(40 * 86_400)).await;

    let deleted = db
        .archive
        .delete_finished(Duration::from_secs(30 * 86_400), 100)
        .await
        .unwrap();

    assert_eq!(deleted, 1, "the checkpoint is gone");
    assert_eq!(history(db, "import").await, [7], "its run stays");
}
