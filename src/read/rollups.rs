//! [`with_rollups`]: the active list's parents with their children's
//! roll-up folded in, read from the hot store beside the list's page.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{domain::ProgressRecord, store::HotStore};

/// `records` with their children's roll-up folded into those that
/// declared children (`expectedChildren`): one hot-store read each, at
/// once. Other parents show their children on their own read only: a
/// list does not read a roll-up for every job it holds. A roll-up that
/// cannot be read leaves its record as it is.
pub(super) async fn with_rollups(
    hot: &Arc<dyn HotStore>,
    mut records: Vec<ProgressRecord>,
    now: DateTime<Utc>,
) -> Vec<ProgressRecord> {
    let parents: Vec<usize> = (0..records.len())
        .filter(|&at| records[at].expected_children.is_some())
        .collect();
    if parents.is_empty() {
        return records;
    }
    let reads = parents.iter().map(|&at| hot.rollup(&records[at].job_id));
    let rollups = futures_util::future::join_all(reads).await;
    for (at, rollup) in parents.into_iter().zip(rollups) {
        if let Ok(Some(rollup)) = rollup {
            records[at].roll_up(&rollup, now);
        }
    }
    records
}
