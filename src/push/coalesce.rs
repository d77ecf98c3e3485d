//! [`Coalesced`]: how often a parent's stream reads the parent again for
//! its children's changes, however many children write.

use std::time::Duration;

use tokio::time::Instant;

/// A parent's re-reads for its children's changes: at most one a
/// [`CHILDREN_INTERVAL`], however many children change, the first as soon
/// as one does after a quiet interval.
#[derive(Debug, Default)]
pub(super) struct Coalesced {
    /// When the next re-read is due; `None` while no child changed.
    due_at: Option<Instant>,
    /// When the last one was.
    last: Option<Instant>,
}

/// The least time between two re-reads of a parent for its children.
pub const CHILDREN_INTERVAL: Duration = Duration::from_secs(1);

impl Coalesced {
    /// A child changed: re-read once the interval since the last re-read
    /// has passed (a change already waiting keeps its time).
    pub(super) fn due(&mut self) {
        if self.due_at.is_none() {
            let earliest = self
                .last
                .map_or_else(Instant::now, |last| last + CHILDREN_INTERVAL);
            self.due_at = Some(earliest.max(Instant::now()));
        }
    }

    /// Resolves when a re-read is due (never while none is).
    pub(super) async fn wait(&mut self) {
        match self.due_at {
            // Boxed: every stream's select holds this future, and only a
            // parent's ever sleeps in it.
            Some(at) => Box::pin(tokio::time::sleep_until(at)).await,
            None => std::future::pending().await,
        }
        self.due_at = None;
        self.last = Some(Instant::now());
    }
}
