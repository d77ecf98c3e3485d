//! Helpers shared by the estimator's unit tests: a simulated chunked job
//! and seeded noise, so the tests never flake.

use std::time::Duration;

use super::{Estimator, JobShape};

/// Uniform multiplicative noise `1 ± amp` from a seeded generator.
pub(super) fn noise(rng: &mut fastrand::Rng, amp: f64) -> f64 {
    1.0 + amp * (2.0 * rng.f64() - 1.0)
}

/// A chunked job's shape with a known pause.
pub(super) fn shape(total: u64, chunk: u64, pause_ms: u64) -> JobShape {
    JobShape {
        total,
        chunk_size: Some(chunk),
        pause: Some(Duration::from_millis(pause_ms)),
    }
}

/// Relative error of `got` against `want`.
pub(super) fn rel_err(got: f64, want: f64) -> f64 {
    (got - want).abs() / want
}

/// Simulates a chunked job the way a worker reports it: one observation
/// at the end of every chunk, a pause before every chunk but the first.
pub(super) struct Job {
    pub(super) est: Estimator,
    pub(super) chunk: u64,
    pub(super) pause_ms: f64,
    /// Elapsed time of the last observation, ms.
    pub(super) t: f64,
    pub(super) done: u64,
}

impl Job {
    pub(super) fn new(total: u64, chunk: u64, pause_ms: u64) -> Self {
        let mut est = Estimator::new(shape(total, chunk, pause_ms));
        est.observe(0, 0);
        Job {
            est,
            chunk,
            pause_ms: pause_ms as f64,
            t: 0.0,
            done: 0,
        }
    }

    /// Run one chunk whose work takes `work_ms` (plus `extra_ms` of
    /// interruption), then observe.
    pub(super) fn chunk(&mut self, work_ms: f64, extra_ms: f64) {
        if self.done > 0 {
            self.t += self.pause_ms;
        }
        self.t += work_ms + extra_ms;
        self.done += self.chunk;
        self.est.observe(self.t.round() as u64, self.done);
    }

    pub(super) fn remaining_ms(&self) -> f64 {
        self.est
            .estimate()
            .expect("estimate")
            .remaining
            .as_secs_f64()
            * 1000.0
    }

    pub(super) fn chunks_left(&self) -> f64 {
        ((self.est.shape().total - self.done) / self.chunk) as f64
    }

    /// Expected remaining time if every remaining chunk takes `work_ms`.
    pub(super) fn truth_ms(&self, work_ms: f64) -> f64 {
        self.chunks_left() * (work_ms + self.pause_ms)
    }
}
