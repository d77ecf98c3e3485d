//! Interruptions: intervals far slower than the recent median are kept out
//! of the rate window and feed a separate gap process (see the module docs
//! of [`super`] for how recurring gaps are extrapolated).

use std::collections::VecDeque;

use super::chunks::Interval;

/// An interval whose work time per item exceeds this multiple of the recent
/// median is an interruption, not a slower chunk: an order of magnitude.
/// Slowdowns and slow tails are a factor 1.5–4 and even heavy-tailed chunk
/// noise stays mostly below ~10×, while stalls and restarts are tens to
/// hundreds of chunk times. (Lower factors turn noise spikes into "gaps",
/// whose rate is then estimated from very few events; higher ones let
/// moderate stalls into the rate window. 8–10 score the same on all trace
/// sets tried, 6 or 15 are measurably worse on noisy and small jobs.)
pub const GAP_FACTOR: f64 = 10.0;

/// Number of recent intervals (gaps included) whose median is the reference
/// for [`GAP_FACTOR`]. Odd so the median is a sample; 15 is long enough that
/// isolated stalls never move the median, short enough that after a lasting
/// slowdown of more than [`GAP_FACTOR`] the median catches up within ~8
/// intervals (meanwhile those intervals are handled by the gap process,
/// which then expects one "gap" per interval, i.e. the same slower rate).
pub const GAP_REF_LEN: usize = 15;

/// Gap detection needs at least this many reference intervals: the median
/// of three is the smallest that one odd first chunk cannot dominate.
pub const GAP_REF_MIN: usize = 3;

/// Interruptions seen so far, and the recent per-item work times that tell
/// an interruption from an ordinary slow chunk.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Gaps {
    /// Per-item work time of the last intervals, gaps included.
    recent: VecDeque<f64>,
    count: u64,
    /// Counts at which the first and the last gap ended.
    first_at: u64,
    last_at: u64,
    /// Time beyond the normal work for the gaps' items, summed.
    excess_ms: f64,
    /// Σ of the squared excess per gap, and of the squared spacing (in
    /// items) between consecutive gaps: how regular the gaps are.
    excess_sq: f64,
    spacing_sq: f64,
}

/// Weight, in gaps, of the assumption that interruptions come at random
/// (a Poisson process: the spacing's coefficient of variation is 1)
/// before the gaps show their own regularity. Rate-limit waits, cron-like
/// stalls and retries on a timer come at nearly fixed spacing, and their
/// count over the rest of the job is then far surer than a Poisson
/// count's; two gaps' worth of doubt keeps two gaps that happen to be
/// evenly spaced from looking like a clock.
pub const GAP_REGULARITY_PRIOR: f64 = 2.0;

impl Gaps {
    /// Record the interval ending at count `to` as a gap if it is one
    /// (`true`); an ordinary interval is left to the caller.
    pub(super) fn absorb(&mut self, to: u64, iv: &Interval) -> bool {
        match self.reference_per_item() {
            Some(reference) if reference > 0.0 && iv.per_item > GAP_FACTOR * reference => {
                if self.count == 0 {
                    self.first_at = to;
                } else {
                    self.spacing_sq += ((to - self.last_at) as f64).powi(2);
                }
                let excess = iv.work_ms - iv.items * reference;
                self.count += 1;
                self.last_at = to;
                self.excess_ms += excess;
                self.excess_sq += excess * excess;
                self.push_recent(iv.per_item);
                true
            }
            _ => false,
        }
    }

    /// Remember the per-item work time of a completed sample.
    pub(super) fn push_recent(&mut self, per_item: f64) {
        self.recent.push_back(per_item);
        if self.recent.len() > GAP_REF_LEN {
            self.recent.pop_front();
        }
    }

    /// Expected interruption time per remaining item once the count is at
    /// `processed`: zero until gaps recur (a single gap is a one-off),
    /// then the mean excess per gap over the spacing described in the
    /// module docs.
    pub(super) fn per_item(&self, processed: u64) -> f64 {
        if self.count < 2 {
            return 0.0;
        }
        let recurrences = (self.count - 1) as f64;
        let mean_spacing = (self.last_at - self.first_at) as f64 / recurrences;
        let quiet_head = self.first_at as f64 / recurrences;
        let open_stretch = (processed - self.last_at) as f64;
        let spacing = mean_spacing.max(quiet_head).max(open_stretch).max(1.0);
        self.excess_ms / self.count as f64 / spacing
    }

    /// Spread of the interruption time over the next `left` items once the
    /// count is at `processed`: `(expected, standard deviation)` in ms.
    /// Recurring gaps are a renewal process whose rate is known from
    /// `count` events: the number still to come has variance
    /// `c² (λ + λ²/count)` (`λ` expected gaps, `c` the coefficient of
    /// variation of their spacing: 1 for gaps at random, a Poisson count,
    /// near 0 for gaps on a clock, see [`GAP_REGULARITY_PRIOR`]), and each
    /// adds the variance of one gap's length. A single gap is a one-off
    /// here as in the estimate. (Allowing for its recurrence at the rate
    /// one gap in the items so far suggests doubled the range after an
    /// early restart and bought little coverage on periodic stalls.)
    pub(super) fn spread(&self, processed: u64, left: f64) -> (f64, f64) {
        if self.count < 2 {
            return (0.0, 0.0);
        }
        let n = self.count as f64;
        let excess = (self.excess_ms / n).max(0.0);
        let expected = self.per_item(processed) * left;
        let lambda = if excess > 0.0 { expected / excess } else { 0.0 };
        // Spacings: count − 1 of them, their mean from first to last gap.
        let k = n - 1.0;
        let mean_spacing = (self.last_at - self.first_at) as f64 / k;
        let rel_var = if mean_spacing > 0.0 {
            (self.spacing_sq / k / (mean_spacing * mean_spacing) - 1.0).max(0.0)
        } else {
            1.0
        };
        let c2 = (rel_var * k + GAP_REGULARITY_PRIOR) / (k + GAP_REGULARITY_PRIOR);
        let excess_var = (self.excess_sq / n - excess * excess).max(0.0);
        let var = excess * excess * c2 * (lambda + lambda * lambda / n) + lambda * excess_var;
        (expected, var.sqrt())
    }

    /// Interruptions seen, and the time they cost beyond their items'
    /// normal work, ms.
    pub(super) fn totals(&self) -> (u64, f64) {
        (self.count, self.excess_ms)
    }

    /// Median per-item work time of the recent intervals, once there are
    /// enough of them.
    fn reference_per_item(&self) -> Option<f64> {
        if self.recent.len() < GAP_REF_MIN {
            return None;
        }
        let mut v: Vec<f64> = self.recent.iter().copied().collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::write::eta::testkit::{Job, noise, rel_err};

    #[test]
    fn a_single_long_gap_is_neither_optimistic_nor_pessimistic() {
        let mut rng = fastrand::Rng::with_seed(11);
        let mut job = Job::new(100_000, 500, 1000);
        for _ in 0..80 {
            job.chunk(1000.0 * noise(&mut rng, 0.2), 0.0);
        }
        // A restart: ten minutes without progress, i.e. 300 chunk times.
        job.chunk(1000.0, 600_000.0);
        let just_after = rel_err(job.remaining_ms(), job.truth_ms(1000.0));
        assert!(
            just_after < 0.05,
            "right after the gap: error {just_after:.3}"
        );
        for _ in 0..100 {
            job.chunk(1000.0 * noise(&mut rng, 0.2), 0.0);
            let err = rel_err(job.remaining_ms(), job.truth_ms(1000.0));
            assert!(err < 0.05, "after the gap: error {err:.3}");
        }
    }

    #[test]
    fn recurring_stalls_are_expected_to_recur() {
        let mut rng = fastrand::Rng::with_seed(5);
        let mut job = Job::new(300_000, 500, 1000);
        let stall = 40_000.0; // every 50 chunks: +40 s per 50 chunks
        for i in 0..600 {
            let extra = if i % 50 == 25 { stall } else { 0.0 };
            job.chunk(1000.0 * noise(&mut rng, 0.2), extra);
            if (80..550).contains(&i) {
                // After two stalls, the expected stall time is included:
                // 0.8 s per chunk on top of 2 s of work + pause.
                let with_stalls = job.truth_ms(1000.0) + job.chunks_left() * stall / 50.0;
                let err = rel_err(job.remaining_ms(), with_stalls);
                assert!(err < 0.15, "chunk {i}: error {err:.3}");
            }
        }
    }
}
