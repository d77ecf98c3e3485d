//! Estimating when a job will end (placeholder: average rate since start).

use std::time::Duration;

/// What the writer knows about the job's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobShape {
    /// Items in all.
    pub total: u64,
    /// Items per chunk, when chunked.
    pub chunk_size: Option<u64>,
    /// Pause between chunks, when chunked.
    pub pause: Option<Duration>,
}

/// One estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Time left after the last observation.
    pub remaining: Duration,
    /// Recent items per second.
    pub rate_per_second: f64,
}

/// Tracks observations and estimates the end.
#[derive(Debug, Clone)]
pub struct Estimator {
    shape: JobShape,
    last: Option<(u64, u64)>,
}

impl Estimator {
    /// A new estimator.
    pub fn new(shape: JobShape) -> Self {
        Self { shape, last: None }
    }

    /// Feeds one observation.
    pub fn observe(&mut self, elapsed_ms: u64, processed: u64) {
        self.last = Some((elapsed_ms, processed));
    }

    /// Revises the total.
    pub fn set_total(&mut self, total: u64) {
        self.shape.total = total;
    }

    /// The estimate as of the last observation.
    pub fn estimate(&self) -> Option<Estimate> {
        let (t, p) = self.last?;
        if t == 0 || p == 0 {
            return None;
        }
        let rate = p as f64 * 1000.0 / t as f64;
        let left = self.shape.total.saturating_sub(p) as f64;
        Some(Estimate {
            remaining: Duration::from_secs_f64(left / rate),
            rate_per_second: rate,
        })
    }
}
