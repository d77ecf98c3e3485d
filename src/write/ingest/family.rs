//! Parents and children over HTTP: a child's declaration checks its parent,
//! a parent declared with `completeWithChildren` is ended by the update
//! that ends its last child, and cancelling a parent asks its running
//! children to stop.
//!
//! The counting itself is the stores' (each child's write sets its entry
//! in its parent's roll-up, see [`crate::domain::ChildEntry`]); what is here
//! acts on the counts, through the same [`Ingest::update`] as every other
//! change, so a parent ended for its children is durable before the
//! child's ending is answered, like any status change.

use futures_util::{FutureExt as _, StreamExt as _, future::BoxFuture, stream};

use super::{Accepted, CancelAsk, Finish, Ingest, IngestError, Outcome};
use crate::{
    domain::{JobId, MAX_DEPTH, ProgressRecord},
    error::error_chain,
    write::{Detail, WriteError},
};

/// How many children's cancellations are in flight at once.
const CASCADE_CONCURRENCY: usize = 16;

impl Ingest {
    /// The job as the hot store or, when it has expired there, the
    /// archive holds it.
    async fn find(&self, id: &JobId) -> Result<Option<ProgressRecord>, IngestError> {
        if let Some(record) = self.hot.read(id).await.map_err(IngestError::Unavailable)? {
            return Ok(Some(record));
        }
        self.archive
            .read(id)
            .await
            .map_err(IngestError::Unavailable)
    }

    /// Refuses a declaration of `id` as a child of `parent` when the
    /// parent is unknown or is the job itself (409), or is already a grandchild
    /// (jobs nest [`MAX_DEPTH`] deep).
    pub(super) async fn check_parent(&self, id: &JobId, parent: &JobId) -> Result<(), IngestError> {
        let refuse = |reason: String| IngestError::Parent {
            job_id: id.clone(),
            reason,
        };
        if parent == id {
            return Err(IngestError::OwnParent(id.clone()));
        }
        let Some(record) = self.find(parent).await? else {
            return Err(IngestError::UnknownParent {
                job_id: id.clone(),
                parent: parent.clone(),
            });
        };
        let mut depth = 1;
        let mut above = record.parent_job_id;
        while let Some(next) = above {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(refuse(format!(
                    "jobs nest at most {MAX_DEPTH} deep (children and grandchildren); {parent} is a grandchild already"
                )));
            }
            above = self.find(&next).await?.and_then(|r| r.parent_job_id);
        }
        Ok(())
    }

    /// What a stored update means for the job's family: a child that
    /// ended may end its parent, and a parent that learned how many
    /// children it expects may be due already.
    ///
    /// Settling runs in a future of its own, boxed only when it is due:
    /// it updates the parent, so it holds an update's whole future (several
    /// KB), which every update used to box and copy.
    pub(super) async fn after_update(&self, record: &ProgressRecord) {
        let due = match (&record.parent_job_id, record.status.is_terminal()) {
            (Some(parent), true) => parent,
            _ if record.complete_with_children && !record.status.is_terminal() => &record.job_id,
            _ => return,
        };
        if let Err(err) = self.settle(due).await {
            // The parent is settled again by its next child's or its
            // own update, or a repeat of this one.
            tracing::warn!(job_id = %due, error = %error_chain(&err), "could not end a parent with its children");
        }
    }

    /// Ends `parent` if it completes with its children and they all
    /// ended: completed, or failed when one failed (unless its policy is
    /// `continue`). Boxed: it updates the parent, an update may settle,
    /// and a future cannot hold itself.
    fn settle<'a>(&'a self, parent: &'a JobId) -> BoxFuture<'a, Result<(), IngestError>> {
        async move {
            let Some(held) = self
                .hot
                .load(parent)
                .await
                .map_err(IngestError::Unavailable)?
            else {
                return Ok(());
            };
            if !held.record.complete_with_children || held.record.status.is_terminal() {
                return Ok(());
            }
            let Some(rollup) = self
                .hot
                .rollup(parent)
                .await
                .map_err(IngestError::Unavailable)?
            else {
                return Ok(());
            };
            let Some(completed) = held.record.children_settled(&rollup) else {
                return Ok(());
            };
            let outcome = if completed {
                Outcome::Completed(None)
            } else {
                Outcome::Failed(format!(
                    "{} of its {} children failed",
                    rollup.children.failed, rollup.children.total
                ))
            };
            let finish = Finish {
                outcome,
                succeeded: None,
                failed: None,
                detail: Detail::default(),
            };
            match self.finish(parent.clone(), finish).await {
                // Two children's endings raced: the other ended it.
                Ok(_) | Err(IngestError::Refused(WriteError::Finished { .. })) => Ok(()),
                Err(err) => Err(err),
            }
        }
        .boxed()
    }

    /// Asks `parent`'s running children (and theirs) to stop, each
    /// answered like [`Ingest::cancel`]: once durable. A child that ended
    /// meanwhile is passed over.
    pub(super) fn cascade_cancel<'a>(
        &'a self,
        parent: &'a JobId,
        ask: &'a CancelAsk,
    ) -> BoxFuture<'a, Result<(), IngestError>> {
        async move {
            let running: Vec<JobId> = self
                .hot
                .child_entries(parent)
                .await
                .map_err(IngestError::Unavailable)?
                .into_iter()
                .filter(|(_, entry)| entry.is_running())
                .map(|(id, _)| id)
                .collect();
            let results: Vec<Result<Accepted, IngestError>> = stream::iter(running)
                .map(|child| self.cancel(child, ask.clone()))
                .buffer_unordered(CASCADE_CONCURRENCY)
                .collect()
                .await;
            for result in results {
                match result {
                    Ok(_)
                    | Err(IngestError::Refused(WriteError::Finished { .. }))
                    | Err(IngestError::UnknownJob(_)) => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(())
        }
        .boxed()
    }
}
