//! Chunk and pause accounting: turns the intervals between observations
//! into work time and groups them into one sample per chunk.
//!
//! Wall-clock time is work time plus the pauses between chunks. The pauses
//! are known from the [`JobShape`], so every interval is reduced to its work
//! time by subtracting `pause` for each chunk that started inside it. When
//! the worker reports several times per chunk, the intervals are merged into
//! one [`Sample`] per chunk (only one of them contains the pause), so the
//! estimate does not depend on how often progress is reported.

use super::JobShape;

/// One sample of the rate window: a chunk (or, without a chunk size, one
/// interval between two observations that advanced the count).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Sample {
    #[serde(with = "super::compact::whole")]
    pub(super) items: f64,
    /// Wall-clock time of the interval, pauses included.
    #[serde(with = "super::compact::whole")]
    pub(super) wall_ms: f64,
    /// Number of pauses taken inside the interval.
    #[serde(with = "super::compact::whole")]
    pub(super) pauses: f64,
    /// Work time per item (wall time minus pauses, per item) at insertion.
    pub(super) per_item: f64,
}

/// One interval between two observations that advanced the count.
#[derive(Debug, Clone, Copy)]
pub(super) struct Interval {
    pub(super) items: f64,
    pub(super) wall_ms: f64,
    pub(super) pauses: f64,
    /// Wall time minus the pauses taken inside the interval.
    pub(super) work_ms: f64,
    pub(super) per_item: f64,
}

/// The chunk in progress and what intervals taught about the real pause.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Chunks {
    /// Intervals of the chunk in progress, not yet a sample.
    pending: Sample,
    /// Count at which `pending` started, if it has started.
    pending_from: Option<u64>,
    /// Upper bound on the real pause: the shortest interval per pause seen.
    pause_limit_ms: f64,
}

impl Chunks {
    pub(super) fn new() -> Self {
        Chunks {
            pending: Sample::default(),
            pending_from: None,
            pause_limit_ms: f64::INFINITY,
        }
    }

    /// Measure the interval `from -> to` (counts) that took `wall_ms`, and
    /// mark the start of the pending sample. A pause cannot last longer
    /// than the interval it is part of, so the pause limit learns from it
    /// before its work time is computed.
    pub(super) fn interval(
        &mut self,
        shape: &JobShape,
        from: u64,
        to: u64,
        wall_ms: f64,
    ) -> Interval {
        let items = (to - from) as f64;
        let pauses = chunk_starts(shape, from, to) as f64;
        if pauses > 0.0 {
            self.pause_limit_ms = self.pause_limit_ms.min(wall_ms / pauses);
        }
        let work_ms = (wall_ms - pauses * self.pause_ms(shape)).max(0.0);
        if self.pending_from.is_none() {
            self.pending_from = Some(from);
        }
        Interval {
            items,
            wall_ms,
            pauses,
            work_ms,
            per_item: work_ms / items,
        }
    }

    /// Add an ordinary (non-gap) interval to the pending sample.
    pub(super) fn add(&mut self, iv: &Interval) {
        self.pending.items += iv.items;
        self.pending.wall_ms += iv.wall_ms;
        self.pending.pauses += iv.pauses;
    }

    /// Whether an observation ending at `to` (previous one at `from`)
    /// closes the pending sample: samples are whole chunks when the chunk
    /// size is known (so several reports within one chunk, one of which
    /// contains the pause, form one sample), otherwise single intervals.
    pub(super) fn completes_sample(&self, shape: &JobShape, from: u64, to: u64) -> bool {
        match shape.chunk_size {
            Some(c) if c > 0 => {
                let start = self.pending_from.unwrap_or(from);
                // the last item completed a chunk, or the interval ran
                // into a later chunk than the one the sample started in
                to / c > (to - 1) / c || (to - 1) / c > start / c || to >= shape.total
            }
            _ => true,
        }
    }

    /// Close the pending sample; `None` when it holds no items (all its
    /// intervals were gaps).
    pub(super) fn take_sample(&mut self, shape: &JobShape) -> Option<Sample> {
        let mut p = std::mem::take(&mut self.pending);
        self.pending_from = None;
        if p.items <= 0.0 {
            return None;
        }
        p.per_item = (p.wall_ms - p.pauses * self.pause_ms(shape)).max(0.0) / p.items;
        Some(p)
    }

    /// Effective pause between chunks: the declared one, unless intervals
    /// already showed that pauses are shorter.
    pub(super) fn pause_ms(&self, shape: &JobShape) -> f64 {
        match (shape.chunk_size, shape.pause) {
            (Some(c), Some(p)) if c > 0 => (p.as_secs_f64() * 1000.0).min(self.pause_limit_ms),
            _ => 0.0,
        }
    }
}

/// Number of chunks (other than the first) whose first item lies in
/// `from+1 ..= to`, i.e. pauses taken while processing those items.
pub(super) fn chunk_starts(shape: &JobShape, from: u64, to: u64) -> u64 {
    let c = match shape.chunk_size {
        Some(c) if c > 0 && to > from => c,
        _ => return 0,
    };
    let lo = from.div_ceil(c).max(1);
    let hi = (to - 1) / c;
    if hi >= lo { hi - lo + 1 } else { 0 }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::write::eta::testkit::{Job, noise, rel_err, shape};
    use crate::write::eta::{Estimator, JobShape};

    #[test]
    fn pauses_are_counted_once() {
        // Noise-free: 10 ms/item, 100-item chunks, 500 ms pauses.
        let mut job = Job::new(10_000, 100, 500);
        for _ in 0..10 {
            job.chunk(1000.0, 0.0);
        }
        // 90 chunks of work and 90 pauses left: 90 * 1.5 s exactly.
        assert!(
            (job.remaining_ms() - 135_000.0).abs() < 1.0,
            "{}",
            job.remaining_ms()
        );
        let rate = job.est.estimate().unwrap().rate_per_second;
        assert!((rate - 100.0 / 1.5).abs() < 1e-6, "{rate}");
    }

    #[test]
    fn pauses_declared_longer_than_reality_are_capped() {
        // Declared 1000 ms pauses, but the job really sleeps 300 ms and
        // works 400 ms per chunk: chunks arrive every 700 ms. A pause cannot
        // be longer than an interval, so it is capped at 700 ms. (How the
        // 700 ms split into work and pause cannot be known; the estimate is
        // then close to 90 chunks × 700 ms = 63 s, instead of > 90 s if the
        // declared pause were trusted.)
        let mut est = Estimator::new(shape(10_000, 100, 1000));
        for c in 1..=10u64 {
            est.observe(400 + (c - 1) * 700, c * 100);
        }
        let rem = est.estimate().expect("an estimate").remaining.as_secs_f64();
        assert!(rel_err(rem, 63.0) < 0.10, "{rem}");
        // Pauses with zero work time in between still give an estimate.
        let mut est = Estimator::new(shape(1000, 100, 1000));
        est.observe(0, 100);
        est.observe(1000, 200);
        let rem = est.estimate().expect("an estimate").remaining.as_secs_f64();
        assert!((rem - 8.0).abs() < 1e-6, "{rem}");
    }

    #[test]
    fn several_reports_per_chunk_give_the_same_estimate() {
        // The same job reported once per chunk, and five times per chunk
        // (the first report of a chunk then contains the pause).
        let mut rng = fastrand::Rng::with_seed(18);
        let sh = shape(100_000, 500, 1000);
        let (mut coarse, mut fine) = (Estimator::new(sh), Estimator::new(sh));
        let mut t = 0.0;
        for c in 0..200u64 {
            if c > 0 {
                t += 1000.0;
            }
            let per_item = 2.0 * noise(&mut rng, 0.3);
            for k in 1..=5u64 {
                t += 100.0 * per_item;
                fine.observe(t as u64, c * 500 + k * 100);
            }
            coarse.observe(t as u64, (c + 1) * 500);
            if (20..180).contains(&c) {
                let a = coarse.estimate().unwrap().remaining.as_secs_f64();
                let b = fine.estimate().unwrap().remaining.as_secs_f64();
                let truth = (199 - c) as f64 * 2.0;
                assert!(rel_err(b, a) < 0.02, "chunk {c}: {b} vs {a}");
                assert!(rel_err(b, truth) < 0.05, "chunk {c}: {b} vs {truth}");
            }
        }
    }

    #[test]
    fn without_chunk_shape_pauses_are_part_of_the_rate() {
        let mut est = Estimator::new(JobShape {
            total: 1000,
            chunk_size: None,
            pause: Some(Duration::from_millis(500)),
        });
        for c in 1..=4u64 {
            est.observe(c * 1500, c * 100);
        }
        // 600 items at 15 ms per item (work and pauses together).
        let rem = est.estimate().unwrap().remaining.as_secs_f64();
        assert!((rem - 9.0).abs() < 1e-6, "{rem}");
    }
}
