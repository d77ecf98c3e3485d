//! What a stream of one job sends of its log: `event: log` with
//! `data: {"lines":[...]}`, each with the id `<version>-<lastSeq>`, so a
//! client reconnecting with `Last-Event-ID` says which record and which
//! line it has, and gets every kept line after it.
//!
//! Lines reach a stream two ways: live, the job's batches from the hub
//! (several that queued up are sent as one event), and from the hot store,
//! when the stream starts, when it fell behind the hub ([`LOG_BACKLOG`]),
//! when a batch does not follow the last line sent, while the bus is
//! down, and before `end`. Either way a line goes out once, in order: the
//! stream keeps the last sequence number it sent.
//!
//! [`LOG_BACKLOG`]: super::hub::LOG_BACKLOG

use std::sync::Arc;

use actix_web_lab::sse::{Data, Event};
use serde::Serialize;
use tokio::sync::broadcast;

use super::{change::Change, context::Context, outbox::Outbox};
use crate::domain::{JobId, LogBatch, LogLine, MAX_LOG_PAGE};

/// The id of an event sent after `change` (the record the client has)
/// and the line numbered `seq` (0: none yet): `<version>` or `<version>s`
/// while the job has no line, as before logs existed; then
/// `<version>[s]-<seq>` (`0-<seq>` for a record from the archive).
pub fn event_id(change: &Change, seq: u64) -> Option<String> {
    match (change.event_id(), seq) {
        (id, 0) => id,
        (Some(id), seq) => Some(format!("{id}-{seq}")),
        (None, seq) => Some(format!("0-{seq}")),
    }
}

#[derive(Serialize)]
struct Lines<'a> {
    lines: &'a [LogLine],
}

/// `event: log` carrying `lines` (not empty), after the record `change`.
fn log_event(change: &Change, lines: &[LogLine]) -> Event {
    let data = serde_json::to_string(&Lines { lines }).unwrap_or_default();
    let seq = lines.last().map_or(0, |line| line.seq);
    let data = Data::new(data).event("log");
    match event_id(change, seq) {
        Some(id) => data.id(id).into(),
        None => data.into(),
    }
}

/// Where one stream is in its job's log.
#[derive(Debug)]
pub struct LogCursor {
    /// The last line sent (or that the client had): 0 for none.
    pub seq: u64,
    /// The hub's channel of the job's batches is still open.
    open: bool,
}

impl LogCursor {
    /// A cursor after the line numbered `seq`.
    pub fn after(seq: u64) -> Self {
        Self { seq, open: true }
    }

    /// Whether live batches can still arrive (the select arm's guard).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Sends `lines` past the cursor, if any; `false` once the client is
    /// gone.
    async fn send(&mut self, tx: &Outbox, change: &Change, lines: &[LogLine]) -> bool {
        let fresh: Vec<LogLine> = lines
            .iter()
            .filter(|line| line.seq > self.seq)
            .cloned()
            .collect();
        let Some(last) = fresh.last() else {
            return true;
        };
        self.seq = last.seq;
        tx.send(log_event(change, &fresh)).await
    }

    /// Sends every kept line after the cursor, read from the hot store, in
    /// pages; `false` once the client is gone.
    pub async fn catch_up(
        &mut self,
        ctx: &Context,
        id: &JobId,
        change: &Change,
        tx: &Outbox,
    ) -> bool {
        loop {
            // Boxed, as `read_job` in `push/stream.rs` is: room for the
            // store's read would otherwise be held by every idle stream.
            let Some(page) = Box::pin(ctx.reader.log_page(id, self.seq, MAX_LOG_PAGE)).await else {
                return true;
            };
            if !self.send(tx, change, &page.lines).await {
                return false;
            }
            if page.next.is_none() || page.lines.is_empty() {
                return true;
            }
        }
    }

    /// Sends what the hub delivered (`received`) and every batch queued
    /// behind it, as one event; reads from the store instead when the
    /// stream fell behind or the lines do not follow the last one sent.
    /// `false` once the client is gone.
    pub async fn forward(
        &mut self,
        received: Result<Arc<LogBatch>, broadcast::error::RecvError>,
        logs: &mut broadcast::Receiver<Arc<LogBatch>>,
        ctx: &Context,
        id: &JobId,
        change: &Change,
        tx: &Outbox,
    ) -> bool {
        let first = match received {
            Ok(batch) => batch,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                return self.catch_up(ctx, id, change, tx).await;
            }
            Err(broadcast::error::RecvError::Closed) => {
                self.open = false;
                return true;
            }
        };
        let mut lines: Vec<LogLine> = first.lines.clone();
        loop {
            match logs.try_recv() {
                Ok(batch) => lines.extend(batch.lines.iter().cloned()),
                Err(broadcast::error::TryRecvError::Lagged(_)) => {
                    return self.catch_up(ctx, id, change, tx).await;
                }
                Err(_) => break,
            }
        }
        lines.retain(|line| line.seq > self.seq);
        let follows = lines.windows(2).all(|pair| pair[1].seq == pair[0].seq + 1)
            && lines.first().is_none_or(|line| line.seq == self.seq + 1);
        if follows {
            self.send(tx, change, &lines).await
        } else {
            self.catch_up(ctx, id, change, tx).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{JobStatus, ProgressRecord},
        push::stream::EventId,
    };

    fn change(version: u64, stalled: bool) -> Change {
        let mut record =
            ProgressRecord::new(JobId::parse("a").unwrap(), JobStatus::InProgress, Some(10));
        record.version = version;
        record.stalled = stalled;
        Change::of(&record)
    }

    #[test]
    fn ids_name_the_record_and_the_last_line_and_parse_back() {
        assert_eq!(event_id(&change(7, false), 0).as_deref(), Some("7"));
        assert_eq!(event_id(&change(7, true), 0).as_deref(), Some("7s"));
        assert_eq!(event_id(&change(7, false), 12).as_deref(), Some("7-12"));
        assert_eq!(event_id(&change(7, true), 12).as_deref(), Some("7s-12"));
        assert_eq!(event_id(&change(0, false), 3).as_deref(), Some("0-3"));
        assert_eq!(event_id(&change(0, false), 0), None);
        let parsed = |raw| EventId::parse(raw).map(|id| (id.version, id.stalled, id.seq));
        assert_eq!(parsed("7"), Some((7, false, None)));
        assert_eq!(parsed("7s"), Some((7, true, None)));
        assert_eq!(parsed("7-12"), Some((7, false, Some(12))));
        assert_eq!(parsed(" 7s-12 "), Some((7, true, Some(12))));
        assert_eq!(parsed("7-"), None);
        assert_eq!(parsed("7-x"), None);
        assert_eq!(parsed("-3"), None);
    }
}
