//! What the archive keeps of a finished job's log and history: kept,
//! replaced, read back as written, and gone with its checkpoint.

use std::time::Duration;

use chrono::{TimeZone as _, Utc};
use job_progress::domain::{JobStatus, JobTail, LogLevel, LogLine, Sample};

use super::{Db, job, record};

contract! {
    a_tail_reads_back_as_kept_and_is_replaced,
    a_tail_goes_with_its_checkpoint,
}

const DAY: Duration = Duration::from_secs(86_400);

fn tail(lines: u64) -> JobTail {
    let at = |ms| Utc.timestamp_millis_opt(ms).unwrap();
    let lines = (1..=lines)
        .map(|seq| LogLine {
            seq,
            at: at(1_700_000_000_000 + seq as i64),
            level: if seq % 2 == 0 {
                LogLevel::Error
            } else {
                LogLevel::Info
            },
            message: format!("line {seq} <b>\"quoted\"</b>"),
        })
        .collect();
    let samples: Vec<Sample> = (0..500)
        .map(|n| Sample {
            at: at(1_700_000_000_000 + n * 5_000),
            processed: n as u64,
            failed: 0,
        })
        .collect();
    JobTail::of(lines, &samples)
}

async fn a_tail_reads_back_as_kept_and_is_replaced(db: &Db) {
    let done = record("tailed", JobStatus::Failed, 10);
    db.archive.checkpoint(&done).await.unwrap();
    assert_eq!(db.archive.tail(&job("tailed")).await.unwrap(), None);

    let kept = tail(250);
    assert_eq!(kept.lines.len(), 100);
    assert_eq!(kept.samples.len(), 200);
    db.archive.keep_tail(&job("tailed"), &kept).await.unwrap();
    assert_eq!(db.archive.tail(&job("tailed")).await.unwrap(), Some(kept));

    let again = tail(3);
    db.archive.keep_tail(&job("tailed"), &again).await.unwrap();
    assert_eq!(db.archive.tail(&job("tailed")).await.unwrap(), Some(again));
}

async fn a_tail_goes_with_its_checkpoint(db: &Db) {
    let done = record("pruned", JobStatus::Completed, 10);
    db.archive.checkpoint(&done).await.unwrap();
    db.archive
        .keep_tail(&job("pruned"), &tail(5))
        .await
        .unwrap();
    db.age("pruned", 40 * DAY).await;

    assert_eq!(db.archive.delete_finished(30 * DAY, 100).await.unwrap(), 1);
    assert_eq!(db.archive.tail(&job("pruned")).await.unwrap(), None);
}
