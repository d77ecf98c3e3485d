//! A parent's children, a page at a time (`GET /api/v1/jobs/{jobId}/children`),
//! and the parent a job names (for its parent's read token).
//!
//! The archive says who the children are: every child's declaration is
//! committed there before it is answered, and it keeps them past the hot
//! store's TTL, by the parent index (`parent_job_id, job_id`), so a page is
//! a range scan from the cursor on. The hot store, where it still holds a
//! child, gives its live record. When the archive cannot answer, the
//! parent's roll-up in the hot store lists the children instead.
//!
//! The active list folds the roll-up into the parents on its page that
//! declared how many children they expect (`rollups.rs`).

use std::sync::Arc;

use chrono::Utc;
use serde::Serialize;

use super::{
    ReadError,
    cache::{CacheKey, Served},
    envelope::Rendered,
    error::warn_fallback,
    reader::{ProgressReader, mark_stalled},
};
use crate::{
    domain::{JobId, ProgressRecord, Source},
    store::{Archive, HotStore},
};

/// The largest page of children.
pub const MAX_CHILDREN_PAGE: u32 = 1_000;

/// A page of a parent's children, by id, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildrenPage {
    /// The children, by id.
    pub jobs: Vec<ProgressRecord>,
    /// The last child's id when more follow (pass it as `cursor`);
    /// `None` on the last page.
    pub next_cursor: Option<JobId>,
}

impl ProgressReader {
    /// Up to `limit` children of `parent` after the child `after`, by id:
    /// their live records where the hot store holds them, else their
    /// checkpoints. A 404 for a parent neither store knows.
    pub async fn children(
        &self,
        parent: JobId,
        after: Option<JobId>,
        limit: u32,
        request_id: &str,
    ) -> Served {
        let key = CacheKey::Children {
            parent: parent.clone(),
            after: after.clone(),
            limit,
        };
        self.serve(key, request_id, move |stores| async move {
            let now = Utc::now();
            // One more than asked: whether it exists says if more follow.
            let asked = limit.saturating_add(1);
            let (mut jobs, source) = match stores
                .archive
                .children(&parent, after.as_ref(), asked)
                .await
            {
                Ok(jobs) => (jobs, Source::Archive),
                Err(err) => {
                    warn_fallback("archive children", &err);
                    let ids: Vec<JobId> = stores
                        .hot
                        .child_entries(&parent)
                        .await
                        .map_err(|err| ReadError::unavailable("hot store children", &err))?
                        .into_iter()
                        .map(|(id, _)| id)
                        .filter(|id| after.as_ref().is_none_or(|after| id > after))
                        .take(asked as usize)
                        .collect();
                    let live = stores
                        .hot
                        .read_many(&ids)
                        .await
                        .map_err(|err| ReadError::unavailable("hot store children", &err))?;
                    (live.into_iter().flatten().collect(), Source::Hot)
                }
            };
            let more = jobs.len() > limit as usize;
            jobs.truncate(limit as usize);
            if source == Source::Archive && !jobs.is_empty() {
                let ids: Vec<JobId> = jobs.iter().map(|job| job.job_id.clone()).collect();
                match stores.hot.read_many(&ids).await {
                    Ok(live) => {
                        for (job, live) in jobs.iter_mut().zip(live) {
                            if let Some(live) = live {
                                *job = live;
                            }
                        }
                    }
                    Err(err) => warn_fallback("hot store children", &err),
                }
            }
            if jobs.is_empty()
                && after.is_none()
                && !known(&stores.hot, &stores.archive, &parent).await
            {
                return Err(ReadError::JobNotFound(parent));
            }
            let next_cursor = more
                .then(|| jobs.last().map(|job| job.job_id.clone()))
                .flatten();
            let jobs = mark_stalled(jobs, now, &stores.stall);
            Ok(Rendered::ok(&ChildrenPage { jobs, next_cursor }, source))
        })
        .await
    }

    /// The parent `id`'s record names, from the hot store or the archive;
    /// `None` when it names none, is unknown, or neither store answers.
    /// Asked only for a read token of another job than the one requested.
    pub async fn parent_of(&self, id: &JobId) -> Option<JobId> {
        if let Ok(Some(record)) = self.hot.read(id).await {
            return record.parent_job_id;
        }
        self.archive.read(id).await.ok().flatten()?.parent_job_id
    }
}

/// Whether either store knows the job (a store that fails counts as not
/// knowing it).
async fn known(hot: &Arc<dyn HotStore>, archive: &Arc<dyn Archive>, id: &JobId) -> bool {
    matches!(hot.read(id).await, Ok(Some(_))) || matches!(archive.read(id).await, Ok(Some(_)))
}
