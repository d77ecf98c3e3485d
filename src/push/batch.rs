//! [`Batch`]: what a stream of the active list gathers for its next send,
//! at most one send a window (`SSE_BATCH_MS`, 250 ms by default).
//!
//! A dashboard's page of 50 jobs each writing once a second would be 50
//! events a second, one at a time; gathered over a window they leave in
//! one burst, and a job that wrote three times in the window is sent once,
//! in its latest state (progress is a state, not a log).

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::time::Instant;

use super::change::Change;
use crate::domain::JobId;

/// The changes and re-reads gathered in one window.
#[derive(Debug)]
pub(super) struct Batch {
    window: Duration,
    /// The latest change per job since the last send.
    changes: HashMap<JobId, Arc<Change>>,
    /// The page is to be read again (the active set moved, or polling).
    reread: bool,
    /// When the window that opened with the first thing gathered closes;
    /// `None` while nothing is gathered.
    due_at: Option<Instant>,
}

/// One window's worth, to send.
#[derive(Debug, Default)]
pub(super) struct Flush {
    /// The latest change of each job that changed, in no order.
    pub(super) changes: Vec<Arc<Change>>,
    /// Read the page again and send how it differs.
    pub(super) reread: bool,
}

impl Batch {
    /// Nothing gathered yet; sends at most once per `window`.
    pub(super) fn new(window: Duration) -> Self {
        Self {
            window,
            changes: HashMap::new(),
            reread: false,
            due_at: None,
        }
    }

    /// Keeps `change` as its job's latest: the one sent at the window's end.
    pub(super) fn add(&mut self, change: Arc<Change>) {
        self.changes.insert(change.job_id.clone(), change);
        self.open();
    }

    /// Reads the page again at the window's end.
    pub(super) fn reread(&mut self) {
        self.reread = true;
        self.open();
    }

    /// The first thing gathered opens a window; later ones wait for it.
    fn open(&mut self) {
        if self.due_at.is_none() {
            self.due_at = Some(Instant::now() + self.window);
        }
    }

    /// Resolves with what was gathered when the open window closes (never
    /// while nothing is gathered).
    pub(super) async fn wait(&mut self) -> Flush {
        match self.due_at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
        self.due_at = None;
        Flush {
            changes: self.changes.drain().map(|(_, change)| change).collect(),
            reread: std::mem::take(&mut self.reread),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{JobStatus, ProgressRecord};

    fn change(id: &str, version: u64) -> Arc<Change> {
        let mut record =
            ProgressRecord::new(JobId::parse(id).unwrap(), JobStatus::InProgress, None);
        record.version = version;
        Arc::new(Change::of(&record))
    }

    #[tokio::test]
    async fn one_window_sends_each_job_once_in_its_latest_state() {
        let window = Duration::from_millis(50);
        let mut batch = Batch::new(window);
        let opened = Instant::now();
        for version in 1..=3 {
            batch.add(change("a", version));
        }
        batch.add(change("b", 7));

        let flush = batch.wait().await;
        assert!(opened.elapsed() >= window, "sent when the window closed");
        let mut sent: Vec<(String, u64)> = flush
            .changes
            .iter()
            .map(|c| (c.job_id.as_str().to_owned(), c.version))
            .collect();
        sent.sort();
        assert_eq!(sent, [("a".to_owned(), 3), ("b".to_owned(), 7)]);
        assert!(!flush.reread);

        // The next change opens the next window, a whole one later.
        batch.reread();
        let reopened = Instant::now();
        let flush = batch.wait().await;
        assert!(reopened.elapsed() >= window);
        assert!(flush.reread && flush.changes.is_empty());
    }

    #[tokio::test]
    async fn nothing_gathered_sends_nothing() {
        let mut batch = Batch::new(Duration::from_millis(1));
        let waited = tokio::time::timeout(Duration::from_millis(30), batch.wait()).await;
        assert!(waited.is_err(), "an idle stream never wakes");
    }
}
