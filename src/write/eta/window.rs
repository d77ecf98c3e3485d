//! The adaptive rate window: the per-item work time is `Σ work / Σ items`
//! over the samples since the last detected change. A two-sample change
//! test cuts the window at a lasting change; a trend test extrapolates a
//! gradual ramp (see the module docs of [`super`]).

use std::collections::VecDeque;

use super::chunks::Sample;
use super::gaps::{GAP_FACTOR, GAP_REF_MIN};
use super::runs::{Runs, Summary, Swing};

/// Smallest number of recent intervals the change test compares with the
/// older part of the window (and smallest old part). Four is the smallest
/// `m` at which the winsorised mean can reach the threshold at all, and it
/// can only do so if *all* of the samples moved (see [`WINSOR_SIGMAS`]): a
/// single odd chunk can never trigger, and a real change is followed
/// within four updates.
pub const MIN_SPLIT: usize = 4;

/// Threshold of the two-sample statistic `|Δmean| / (sd·√(1/m + 1/n_old))`.
/// About a dozen splits are tested after every observation, over thousands
/// of observations; 5 standard errors keeps false alarms on steady but noisy
/// traces negligible (a false alarm only costs some averaging, but it costs
/// it for a while), while a 2× change on typical chunk noise scores far
/// above it.
pub const CHANGE_Z: f64 = 5.0;

/// Recent samples are clipped to the old mean ± this many pooled standard
/// deviations before the change test. With `m = MIN_SPLIT` the clipped mean
/// can move at most 3 sd, and the test needs at least `CHANGE_Z·√(1/4) =
/// 2.5` sd (more when the old part is short): so all four recent chunks
/// must be off, not just one or two outliers. Three sd is
/// the usual bound beyond which a sample is an outlier rather than noise.
pub const WINSOR_SIGMAS: f64 = 3.0;

/// Maximum number of intervals kept in the rate window. Bounds memory and
/// per-observation cost; 1024 samples already bring the statistical error
/// of the mean rate to ~3 % of one chunk's noise, so older data add nothing
/// measurable (and on very long jobs are less representative anyway).
pub const WINDOW_CAP: usize = 1024;

/// A linear trend of the per-item work time across the rate window is
/// extrapolated when its slope exceeds this many standard errors. The change
/// test only sees a gradual ramp once it has built up to a step, meanwhile
/// the window mean lags half a window behind. A false trend costs little
/// (it is extrapolated only [`TREND_HORIZON`] of a window ahead), so the
/// usual 3-sigma level is enough.
pub const TREND_Z: f64 = 3.0;

/// A detected trend is extrapolated over at most this fraction of the
/// window's span (in items), then held flat: a trend is not trusted much
/// farther than it was observed, and ramps (warm-ups) end.
pub const TREND_HORIZON: f64 = 0.5;

/// A trend may at most halve or double the window's mean work time. A
/// line fitted through a short, noisy window can slope steeply enough to
/// extrapolate the work time to zero (a 29-chunk synthetic job was
/// predicted to need only its pauses, 60 % too early, until the trend
/// faded); warm-ups and slowdowns seen on real jobs are 1.5–3× in all,
/// and a larger change is the change test's to follow.
pub const TREND_LIMIT: f64 = 2.0;

/// Timestamps are whole milliseconds, so a per-interval work time is never
/// known better than ~1 ms. Used as a floor of the noise level so that
/// perfectly regular (e.g. synthetic) data still yield a finite test
/// statistic.
pub const TIMER_RESOLUTION_MS: f64 = 1.0;

/// Sums over the rate window.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct WindowStats {
    /// Number of samples.
    pub(super) n: f64,
    pub(super) items: f64,
    /// Work time (wall time minus pauses at the current pause estimate).
    pub(super) work_ms: f64,
    pub(super) wall_ms: f64,
    /// Σ per-item work time and Σ of its square.
    pub(super) x: f64,
    pub(super) xx: f64,
}

/// Non-gap samples since the last detected change, at most [`WINDOW_CAP`],
/// and the runs before it (see [`Runs`]).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct RateWindow {
    samples: VecDeque<Sample>,
    runs: Runs,
}

impl RateWindow {
    /// Add a completed sample, then test for a change.
    pub(super) fn push(&mut self, sample: Sample) {
        self.samples.push_back(sample);
        if self.samples.len() > WINDOW_CAP {
            self.samples.pop_front();
        }
        if self.samples.len() == GAP_REF_MIN + 1 && self.runs.is_empty() {
            self.drop_startup();
        }
        self.detect_change();
    }

    /// The job's first sample holds the time before its first progress.
    /// When that is an interruption by the gaps' measure (over
    /// [`GAP_FACTOR`] × the median of the next [`GAP_REF_MIN`] samples), it
    /// was a preparing phase (loading, queueing, connecting), not work:
    /// kept, it would hold the rate at a fraction of the real one for the
    /// whole job, since the change test cannot tell one huge sample from
    /// noise. Checked once, as soon as there are enough samples to compare
    /// it with; the gap process never saw it (gap detection needs those
    /// same samples), so a later interruption is still a first one.
    fn drop_startup(&mut self) {
        let mut rest: Vec<f64> = self.samples.iter().skip(1).map(|s| s.per_item).collect();
        rest.sort_by(f64::total_cmp);
        let median = rest[rest.len() / 2];
        if median > 0.0 && self.samples[0].per_item > GAP_FACTOR * median {
            self.samples.pop_front();
        }
    }

    /// Whether the estimate pools the runs of a swinging load.
    pub(super) fn swinging(&self) -> bool {
        self.runs.pool().is_some()
    }

    /// Size of the last detected change relative to the level after it
    /// (0 before any change).
    pub(super) fn last_step(&self) -> f64 {
        self.runs.last_step()
    }

    /// How far the load swings, once it has come back to an earlier
    /// level (see [`Runs::swing`]).
    pub(super) fn swing(&self) -> Option<Swing> {
        self.runs.swing(&Summary::of(self.samples.iter().copied()))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Sums over the window, work time counted with `pause_ms` per pause.
    pub(super) fn stats(&self, pause_ms: f64) -> WindowStats {
        let mut st = WindowStats {
            n: self.samples.len() as f64,
            ..WindowStats::default()
        };
        for s in &self.samples {
            st.items += s.items;
            st.work_ms += (s.wall_ms - s.pauses * pause_ms).max(0.0);
            st.wall_ms += s.wall_ms;
            st.x += s.per_item;
            st.xx += s.per_item * s.per_item;
        }
        if let Some(p) = self.runs.pool() {
            st.n += p.n;
            st.items += p.items;
            st.work_ms += (p.wall_ms - p.pauses * pause_ms).max(0.0);
            st.wall_ms += p.wall_ms;
            st.x += p.x;
            st.xx += p.xx;
        }
        st
    }

    /// Two-sample change test on the rate window; drops the samples before
    /// the most likely change point when a lasting change is found.
    fn detect_change(&mut self) {
        let n = self.samples.len();
        if n < 2 * MIN_SPLIT {
            return;
        }
        let (tot_items, tot_x, tot_xx) =
            self.samples.iter().fold((0.0, 0.0, 0.0), |(a, b, c), s| {
                (a + s.items, b + s.per_item, c + s.per_item * s.per_item)
            });
        // Noise floor: whole-millisecond timestamps, spread over the
        // typical number of items per interval.
        let sd_floor = TIMER_RESOLUTION_MS / (tot_items / n as f64);

        let nf = n as f64;
        // Statistics of the split "m most recent samples vs the older
        // rest", given the recent sums of x and x²: (old mean, pooled sd,
        // standard error of the difference of means, unclipped statistic).
        let split = |m: usize, rx: f64, rxx: f64| {
            let (mf, n_old) = (m as f64, (n - m) as f64);
            let (ox, oxx) = (tot_x - rx, tot_xx - rxx);
            let ss = (oxx - ox * ox / n_old).max(0.0) + (rxx - rx * rx / mf).max(0.0);
            let sd = (ss / (nf - 2.0)).sqrt().max(sd_floor);
            let se = sd * (1.0 / mf + 1.0 / n_old).sqrt();
            let old_mean = ox / n_old;
            (old_mean, sd, se, (rx / mf - old_mean).abs() / se)
        };

        // Trigger: winsorised test at m = MIN_SPLIT..=2·MIN_SPLIT, then
        // doubling, walking from the newest sample backwards.
        let (mut rx, mut rxx) = (0.0, 0.0);
        let mut next_grid = MIN_SPLIT;
        let mut triggered = false;
        for (m, s) in (1..=n - MIN_SPLIT).zip(self.samples.iter().rev()) {
            rx += s.per_item;
            rxx += s.per_item * s.per_item;
            if m != next_grid {
                continue;
            }
            next_grid = if m < 2 * MIN_SPLIT { m + 1 } else { 2 * m };
            let (old_mean, sd, se, _) = split(m, rx, rxx);
            let (lo, hi) = (old_mean - WINSOR_SIGMAS * sd, old_mean + WINSOR_SIGMAS * sd);
            let clipped: f64 = self
                .samples
                .iter()
                .rev()
                .take(m)
                .map(|r| r.per_item.max(lo).min(hi))
                .sum();
            if (clipped / m as f64 - old_mean).abs() / se > CHANGE_Z {
                triggered = true;
                break;
            }
        }
        if !triggered {
            return;
        }
        // Cut at the most likely change point: the split (any m) with the
        // largest unclipped statistic.
        let (mut rx, mut rxx) = (0.0, 0.0);
        let mut best = (f64::NEG_INFINITY, 1usize);
        for (m, s) in (1..n).zip(self.samples.iter().rev()) {
            rx += s.per_item;
            rxx += s.per_item * s.per_item;
            let z = split(m, rx, rxx).3;
            if z > best.0 {
                best = (z, m);
            }
        }
        let dropped = Summary::of(self.samples.drain(..n - best.1));
        let kept = Summary::of(self.samples.iter().copied());
        self.runs.record(dropped, &kept);
    }

    /// Ratio of the mean per-item work time expected over the next `left`
    /// items to the window mean, from a least-squares line through the
    /// window's per-item times (against the cumulative item count); 1 when
    /// the slope is not significant (see [`TREND_Z`], [`TREND_HORIZON`],
    /// [`TREND_LIMIT`]).
    pub(super) fn trend_factor(&self, left: f64) -> f64 {
        match self.trend(left) {
            Some((factor, t)) if t > TREND_Z => factor,
            _ => 1.0,
        }
    }

    /// A trend not (yet) significant: the factor its line would give, and
    /// how sure it is, `(t / TREND_Z)²` of its slope's `t` value (below 1).
    /// It does not move the estimate, but widens the range on its side:
    /// a warm-up or a drift shows as such a slope, flickering in and out of
    /// significance, long before the change test or the trend's own test
    /// settles it. At the threshold it widens the range as much as a
    /// significant trend's extrapolation does (`range.rs`), so the range
    /// does not jump there. `(1, 0)` without a line.
    pub(super) fn trend_hint(&self, left: f64) -> (f64, f64) {
        match self.trend(left) {
            Some((factor, t)) if t <= TREND_Z => (factor, (t / TREND_Z).powi(2)),
            _ => (1.0, 0.0),
        }
    }

    /// The line's factor (as [`trend_factor`](Self::trend_factor) would
    /// take it) and its slope's `t` value; `None` without a line.
    fn trend(&self, left: f64) -> Option<(f64, f64)> {
        let n = self.samples.len() as f64;
        // A swinging load looks like a trend half of the time.
        if n < (2 * MIN_SPLIT) as f64 || left <= 0.0 || self.swinging() {
            return None;
        }
        let (mut su, mut sy, mut suu, mut suy, mut syy, mut span) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for s in &self.samples {
            let u = span + 0.5 * s.items;
            span += s.items;
            su += u;
            sy += s.per_item;
            suu += u * u;
            suy += u * s.per_item;
            syy += s.per_item * s.per_item;
        }
        let (sxx, sxy, syy) = (suu - su * su / n, suy - su * sy / n, syy - sy * sy / n);
        let mean = sy / n;
        if sxx <= 0.0 || mean <= 0.0 {
            return None;
        }
        let slope = sxy / sxx;
        let se = (((syy - slope * sxy) / (n - 2.0)).max(0.0) / sxx).sqrt();
        if !slope.is_finite() {
            return None;
        }
        // A line without scatter is as sure as can be.
        let t = if se > 0.0 {
            slope.abs() / se
        } else if slope != 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        // Fitted level at the newest item, then the line over the first
        // `horizon` future items and flat beyond.
        let level = mean + slope * (span - su / n);
        let horizon = TREND_HORIZON * span;
        let m = left.min(horizon);
        let future = level + slope * (m * m / 2.0 + horizon * (left - m)) / left;
        Some(((future / mean).clamp(1.0 / TREND_LIMIT, TREND_LIMIT), t))
    }
}

#[cfg(test)]
mod tests {
    use super::MIN_SPLIT;
    use crate::write::eta::testkit::{Job, noise, rel_err};

    #[test]
    fn converges_on_a_steady_rate() {
        let mut rng = fastrand::Rng::with_seed(1);
        let mut job = Job::new(100_000, 500, 1000);
        for i in 0..200 {
            job.chunk(2000.0 * noise(&mut rng, 0.3), 0.0);
            if (40..180).contains(&i) {
                // From 20 % to 90 %, within three standard errors of the
                // mean: ±30 % uniform noise has an sd of 0.3/√3 = 17.3 % of
                // the 2000 ms of work, 11.5 % of the 3000 ms chunk (work +
                // pause), so the mean of n chunks is off by 11.5 %/√n (one
                // sd), plus at most half a percent of hysteresis. Near the
                // very end the remaining time is a few chunks and the noise
                // of those chunks dominates.
                let bound = 3.0 * 0.115 / ((i + 1) as f64).sqrt() + 0.005;
                let err = rel_err(job.remaining_ms(), job.truth_ms(2000.0));
                assert!(err < bound, "chunk {i}: error {err:.3} > {bound:.3}");
            }
        }
    }

    #[test]
    fn reacts_to_a_lasting_rate_change_within_bounded_updates() {
        // Bound: a lasting change of a few noise standard deviations is
        // detected after MIN_SPLIT (= 4) updates; from then on the estimate
        // is within 10 % of the new truth.
        for (before, after) in [(1000.0, 2000.0), (2000.0, 1000.0)] {
            let mut rng = fastrand::Rng::with_seed(7);
            let mut job = Job::new(200_000, 1000, 500);
            for _ in 0..80 {
                job.chunk(before * noise(&mut rng, 0.1), 0.0);
            }
            assert!(rel_err(job.remaining_ms(), job.truth_ms(before)) < 0.03);
            for k in 1..=100 {
                job.chunk(after * noise(&mut rng, 0.1), 0.0);
                let err = rel_err(job.remaining_ms(), job.truth_ms(after));
                if k >= MIN_SPLIT {
                    assert!(err < 0.10, "{before}->{after}: update {k}: error {err:.3}");
                }
            }
        }
    }

    #[test]
    fn a_single_spike_is_not_a_rate_change() {
        // A quiet job (±5 % noise), then one chunk 5x slower than usual:
        // below GAP_FACTOR, so it is ordinary data, and it must be averaged
        // in (+4000 ms over 200 chunks, ~2 % of the remaining time) rather
        // than taken for the start of a new rate (which would be off by a
        // factor of ~2-4).
        let mut rng = fastrand::Rng::with_seed(3);
        let mut job = Job::new(200_000, 500, 200);
        for _ in 0..200 {
            job.chunk(1000.0 * noise(&mut rng, 0.05), 0.0);
        }
        job.chunk(5000.0, 0.0);
        for _ in 0..10 {
            job.chunk(1000.0 * noise(&mut rng, 0.05), 0.0);
            let err = rel_err(job.remaining_ms(), job.truth_ms(1000.0));
            assert!(err < 0.04, "error {err:.3} after a single spike");
        }
    }

    #[test]
    fn a_preparing_phase_before_the_first_progress_is_not_work() {
        // Ten minutes of preparation, then 1 s chunks: from the fourth
        // chunk on the rate is the chunks' own (kept, the first sample
        // would make the job look 3x slower to its end).
        let mut rng = fastrand::Rng::with_seed(8);
        let mut job = Job::new(300_000, 1000, 200);
        job.chunk(1000.0, 600_000.0);
        for k in 2..=100 {
            job.chunk(1000.0 * noise(&mut rng, 0.2), 0.0);
            if k >= 4 {
                let err = rel_err(job.remaining_ms(), job.truth_ms(1000.0));
                assert!(err < 0.15, "chunk {k}: error {err:.3}");
            }
        }
    }

    #[test]
    fn a_steep_trend_never_more_than_halves_the_work_time() {
        // A short job whose chunks speed up steeply over its first ten
        // (2000 ms down to 200 ms of work): the fitted line would reach
        // zero work within the horizon. The work time is at most halved,
        // so the estimate stays above the remaining pauses plus half the
        // window's mean work per chunk.
        let mut job = Job::new(3000, 100, 200);
        for k in 0..10 {
            job.chunk(2000.0 - 200.0 * k as f64, 0.0);
        }
        let mean_work = (2000.0 + 200.0) / 2.0;
        let floor = job.chunks_left() * (200.0 + 0.5 * mean_work);
        let rem = job.remaining_ms();
        assert!(rem >= floor - 1.0, "{rem:.0} ms < {floor:.0} ms");
    }
}
