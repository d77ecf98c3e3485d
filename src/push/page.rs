//! What a stream of the active list (or of chosen jobs) sends: the
//! `snapshot` of its page, then, at most once per window
//! (`SSE_BATCH_MS`), a `progress` per job of the page that changed, in its
//! latest state, and a `leave` per job that left the page.
//!
//! The stream follows the jobs of its page only: it holds the hub's watch
//! of each (the one a job's own stream holds), so a change of a job on no
//! page wakes nobody. Jobs come and go through the hub's active set: when
//! it moves (a job appeared, started or ended), the stream reads its page
//! again through the response cache (one read a second, shared by every
//! stream of the same page), sends `leave` for the jobs gone and
//! `progress` for the jobs new, and follows the new ones. A job that ends
//! sends its final `progress`, then `leave`.
//!
//! While the bus is down the stream reads its page on every poll and
//! sends what differs, as the job streams do (`push/stream.rs`).

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use actix_web::web::Bytes;
use actix_web_lab::sse::{Data, Event};
use futures_util::{
    StreamExt as _,
    future::AbortHandle,
    stream::{Abortable, BoxStream, SelectAll},
};
use tokio::{sync::watch, time::Instant};

use super::{
    batch::{Batch, Flush},
    change::Change,
    hub::{Hub, JobWatch},
    outbox::Outbox,
    stream::{Context, Polling, progress, read_job, send, stopping, text},
};
use crate::{
    domain::{JobFilter, JobId, ProgressRecord},
    read::Page,
};

/// Which jobs a stream of the active list follows.
#[derive(Debug, Clone)]
pub enum Selection {
    /// A page of the active list, and the jobs that move onto it.
    Active {
        /// The page.
        page: Page,
        /// What the list is narrowed to (`kind`, `q`, `children`).
        filter: JobFilter,
    },
    /// These jobs only, until each ends.
    Jobs(Vec<JobId>),
}

impl Selection {
    /// The `snapshot` event's data: a JSON array of the records, read
    /// through the response cache; `None` when it cannot be read.
    pub async fn snapshot(&self, ctx: &Context) -> Option<Bytes> {
        match self {
            Selection::Active { page, filter } => {
                // Boxed, as `read_job` is: an open stream should not hold
                // room for the read path's future while it waits.
                let served = Box::pin(ctx.reader.active_filtered(
                    *page,
                    filter.clone(),
                    &ctx.request_id,
                ))
                .await;
                served.response.data()
            }
            Selection::Jobs(ids) => {
                let reads = ids.iter().map(|id| read_job(ctx, id));
                let records: Vec<Bytes> = futures_util::future::join_all(reads)
                    .await
                    .into_iter()
                    .flatten()
                    .map(|change| change.data().clone())
                    .collect();
                let mut array = Vec::from(&b"["[..]);
                for (i, record) in records.iter().enumerate() {
                    if i > 0 {
                        array.push(b',');
                    }
                    array.extend_from_slice(record);
                }
                array.push(b']');
                Some(Bytes::from(array))
            }
        }
    }

    /// The records of its jobs now; `None` when they cannot be read.
    async fn read(&self, ctx: &Context) -> Option<Vec<Arc<Change>>> {
        self.snapshot(ctx).await.map(|data| changes_in(&data))
    }

    /// Jobs join and leave it (a page), or not (chosen jobs).
    fn is_page(&self) -> bool {
        matches!(self, Selection::Active { .. })
    }
}

/// The records of a JSON array of them, as changes.
fn changes_in(array: &Bytes) -> Vec<Arc<Change>> {
    let records: Vec<ProgressRecord> = serde_json::from_slice(array).unwrap_or_default();
    records.iter().map(Change::of).map(Arc::new).collect()
}

fn snapshot_event(data: &Bytes) -> Event {
    Data::new(text(data)).event("snapshot").into()
}

/// `event: leave`, data `{"jobId":"…"}`: the job is no longer on the page.
fn leave_event(id: &JobId) -> Event {
    let data = serde_json::json!({ "jobId": id.as_str() }).to_string();
    Data::new(data).event("leave").into()
}

/// One job's changes, as long as its watch lasts.
fn changes_of(watch: JobWatch) -> BoxStream<'static, Arc<Change>> {
    futures_util::stream::unfold(watch, |mut watch| async move {
        loop {
            watch.receiver.changed().await.ok()?;
            let latest = watch.receiver.borrow_and_update().clone();
            if let Some(change) = latest {
                return Some((change, watch));
            }
        }
    })
    .boxed()
}

/// A job the stream follows.
#[derive(Debug)]
struct Member {
    /// What the client has of it; `None` before anything was sent.
    last: Option<Arc<Change>>,
    /// Ends its watch.
    unwatch: AbortHandle,
}

/// The jobs a stream follows, and their changes as one stream.
#[derive(Default)]
struct Followed {
    members: HashMap<JobId, Member>,
    /// Every member's changes; a member's ends when it is aborted.
    changes: SelectAll<Abortable<BoxStream<'static, Arc<Change>>>>,
    /// Jobs that ended on this stream: a read through the cache may still
    /// list them for a second; never more than one page of them.
    ended: HashSet<JobId>,
}

impl Followed {
    fn follow(&mut self, hub: &Arc<Hub>, id: JobId, last: Option<Arc<Change>>) {
        let (changes, unwatch) =
            futures_util::stream::abortable(changes_of(hub.watch_job(id.clone())));
        self.changes.push(changes);
        self.members.insert(id, Member { last, unwatch });
    }

    /// Stops following `id` and tells the client; `false` once it is gone.
    async fn leave(&mut self, id: &JobId, tx: &Outbox) -> bool {
        if let Some(member) = self.members.remove(id) {
            // Its stream ends at the next poll, and drops the hub's watch.
            member.unwatch.abort();
        }
        send(tx, leave_event(id)).await
    }

    /// Sends `change` if it is a member's and newer than what the client
    /// has; a final one is followed by `leave`. `false` once the client
    /// is gone.
    async fn forward(&mut self, change: Arc<Change>, tx: &Outbox) -> bool {
        let Some(member) = self.members.get_mut(&change.job_id) else {
            return true; // it left the page meanwhile
        };
        if member
            .last
            .as_ref()
            .is_some_and(|last| !change.is_newer_than(last))
        {
            return true;
        }
        if !send(tx, progress(&change, 0)).await {
            return false;
        }
        if change.terminal {
            self.ended.insert(change.job_id.clone());
            return self.leave(&change.job_id, tx).await;
        }
        member.last = Some(change);
        true
    }

    /// Sends what a fresh read of the selection shows that the client
    /// has not: for a page, `leave` for the jobs no longer on it, then
    /// `progress` for the jobs new on it and the ones further on than sent.
    async fn apply(
        &mut self,
        hub: &Arc<Hub>,
        selection: &Selection,
        records: Vec<Arc<Change>>,
        tx: &Outbox,
    ) -> bool {
        if selection.is_page() {
            let listed: HashSet<&JobId> = records.iter().map(|change| &change.job_id).collect();
            let gone: Vec<JobId> = self
                .members
                .keys()
                .filter(|id| !listed.contains(id))
                .cloned()
                .collect();
            for id in gone {
                if !self.leave(&id, tx).await {
                    return false;
                }
            }
            self.ended.retain(|id| listed.contains(id));
            for change in &records {
                if !self.members.contains_key(&change.job_id)
                    && !self.ended.contains(&change.job_id)
                {
                    hub.track(change);
                    self.follow(hub, change.job_id.clone(), None);
                }
            }
        }
        for change in records {
            if !self.forward(change, tx).await {
                return false;
            }
        }
        true
    }

    /// Sends one window's worth; `false` once the client is gone.
    async fn flush(
        &mut self,
        ctx: &Context,
        selection: &Selection,
        flush: Flush,
        tx: &Outbox,
    ) -> bool {
        for change in flush.changes {
            if !self.forward(change, tx).await {
                return false;
            }
        }
        if !flush.reread {
            return true;
        }
        match selection.read(ctx).await {
            Some(records) => self.apply(&ctx.hub, selection, records, tx).await,
            None => true, // unreadable now: the next poll or move tries again
        }
    }
}

/// Resolves at `at`; never without one.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The stream of a page of the active list (or of chosen jobs), from its
/// `snapshot` on, sending at most once per `window`. `active_set` was
/// taken before the snapshot was read, so no move after it is missed.
pub async fn jobs(
    ctx: Context,
    selection: Selection,
    mut active_set: watch::Receiver<u64>,
    snapshot: Bytes,
    window: Duration,
    tx: Outbox,
) {
    if !send(&tx, snapshot_event(&snapshot)).await {
        return;
    }
    let mut followed = Followed::default();
    let listed = changes_in(&snapshot);
    for change in &listed {
        // A job no write has touched since this instance started has no
        // stall deadline yet: its snapshot sets one.
        ctx.hub.track(change);
    }
    match &selection {
        Selection::Active { .. } => {
            for change in listed {
                followed.follow(&ctx.hub, change.job_id.clone(), Some(change));
            }
        }
        Selection::Jobs(ids) => {
            let mut listed: HashMap<JobId, Arc<Change>> = listed
                .into_iter()
                .map(|change| (change.job_id.clone(), change))
                .collect();
            for id in ids {
                let last = listed.remove(id);
                // An ended job is in the snapshot as it ended; a job not
                // written yet is followed, to be sent once it is.
                if !last.as_ref().is_some_and(|change| change.terminal) {
                    followed.follow(&ctx.hub, id.clone(), last);
                }
            }
        }
    }
    let staleness = ctx.reader.staleness();
    let mut batch = Batch::new(window);
    let mut polling = Polling::new(&ctx);
    // The snapshot may be a cache period old, and changes between it and
    // the watches above are not on them: read once more when it can no
    // longer be, and again that long after the active set last moved.
    let mut recheck = Some(Instant::now() + staleness);
    loop {
        tokio::select! {
            () = ctx.hub.stopping() => {
                send(&tx, stopping()).await;
                return;
            }
            Some(change) = followed.changes.next() => batch.add(change),
            changed = active_set.changed(), if selection.is_page() => {
                if changed.is_err() {
                    return; // the hub is gone: the server is stopping
                }
                active_set.borrow_and_update();
                batch.reread();
                recheck = Some(Instant::now() + staleness);
            }
            () = until(recheck) => {
                recheck = None;
                batch.reread();
            }
            () = polling.next() => batch.reread(),
            flush = batch.wait() => {
                // Boxed: an idle stream's state need not have room for it.
                if !Box::pin(followed.flush(&ctx, &selection, flush, &tx)).await {
                    return;
                }
            }
        }
    }
}
