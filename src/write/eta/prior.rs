//! A job's prior from the earlier runs of its kind (see the module docs of
//! [`super`]): the kind's typical profile, how far this run's pace so far
//! tells its pace to come, and how well that predicted the past runs.
//!
//! The prior's remaining time at a share `f` of the total, `t` ms into the
//! run, is the kind's typical remaining time for this total, scaled by
//! the run's pace so far relative to the kind's at `f`, to the power `w`:
//!
//! ```text
//! remaining = ms_per_item × total × (1 − S(f)) × (t / (ms_per_item × total × S(f)))^w(f)
//! ```
//!
//! `S(f)`: the mean share of a run's duration spent before reaching `f`;
//! `w(f)`: the least-squares slope, over the past runs, of the log pace
//! after `f` on the log pace before it (0: a fast start says nothing, 1: a
//! run keeps its pace); the spread of what that left unexplained is the
//! prior's own uncertainty, which decides its weight against the run's
//! own estimate. Both spreads are those of a new run (the kind's mean is
//! itself known from `n` runs only: × `1 + 1/n` in variance), and the
//! pace's spread at a mark is at least that at the later marks (a pace
//! over fewer items spreads no less).
//!
//! A run unlike its kind (its pace beyond [`DROP_SIGMAS`]) keeps the
//! kind's shape at its own pace: `w = 1`, with the spread that full
//! carry left on the past runs (`spread² + (1 − w(f))² × pace_sd²`),
//! grown as a regression's prediction is for a point far from the data
//! it was fitted on (× `1 + a² / ((n + 1) pace_sd²)` in variance, `a` the
//! run's log pace against the kind's).
//!
//! This file holds the [`Prior`] and what it does during a run: its
//! remaining time, the drop test and the blend with the run's own
//! estimate. Learning it from the kind's past runs (the formulas above,
//! fitted) lives in `prior/learn.rs`.

mod learn;

use super::history::PROFILE_MARKS;
use super::range::RANGE_Z;

const MARKS: usize = PROFILE_MARKS.len();

/// Weight, in runs, of the assumptions a history starts from (a kind's
/// runs differ by [`PRIOR_SPREAD`], and keep half of their early pace
/// difference): after two runs the history's own spread counts as much,
/// after twenty it decides. One or two runs that happen to agree must not
/// make the prior look certain.
pub const PRIOR_RUNS: f64 = 2.0;

/// Spread (standard deviation of the log) assumed between runs of a kind
/// before the history shows its own: runs of the same job a day apart
/// differ by 10-20 % in size-adjusted duration.
pub const PRIOR_SPREAD: f64 = 0.15;

/// A run whose pace so far lies more than this many of the kind's
/// standard deviations (at the same share done) from the kind's drops the
/// kind's pace for good: it is not like its kind (other data, other
/// hardware), and the kind's pace would only hold its estimate back; the
/// kind's shape, at the run's own pace, is kept. Three keeps false
/// drops rare (a run in three hundred) while a run twice as fast or slow
/// as a kind that agrees within 20 % is dropped at once.
pub const DROP_SIGMAS: f64 = 3.0;

/// Share of the total before which a run is not tested for being unlike
/// its kind. Before it a run's pace rests on a few chunks, and between
/// the first marks a kind's pace is not known (a job of bursts and waits
/// may or may not have waited yet): early drops were mostly false ones.
pub const DROP_FROM: f64 = 0.05;

/// Fixed-point scale of the stored shares and spreads: 1/10,000 keeps
/// them exact to far below what they are known to, in two or three bytes.
const SCALE: f64 = 10_000.0;

/// A new job's prior from its kind's past runs; give it to an estimator
/// with [`Estimator::set_prior`](super::Estimator::set_prior). At most
/// about 170 bytes stored (110 typical).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prior {
    /// Runs it was learned from.
    runs: u16,
    /// Typical wall-clock time per item of a whole run, ms (the geometric
    /// mean over runs of duration / total).
    ms_per_item: f64,
    /// Mean share of a run's duration spent before each mark (× SCALE).
    shares: [u16; MARKS],
    /// How much of the pace so far carries on (× 100, 0..=100).
    carry: [u8; MARKS],
    /// Standard deviation of the log error of the prior's remaining time
    /// on the past runs (× SCALE).
    spread: [u16; MARKS],
    /// Standard deviation of the log pace so far of the past runs
    /// (× SCALE): what "unlike its kind" is measured against.
    pace_sd: [u16; MARKS],
    /// Mean log error of the estimator's own remaining time on the past
    /// runs at each mark (× SCALE; positive: it said too long), and its
    /// root mean square (× SCALE): how far, and how surely, the run's own
    /// evidence misleads at that point for this kind.
    own_bias: [i16; MARKS],
    own_sd: [u16; MARKS],
    /// The run proved unlike its kind: only the kind's shape is used, at
    /// the run's own pace.
    dropped: bool,
}

/// The prior's remaining time, as the log of ms and the standard
/// deviation of that log, and what it knows of the estimator's own
/// error at this point (mean and root mean square of the log error).
#[derive(Debug, Clone, Copy)]
pub(super) struct PriorRemaining {
    pub(super) ln_ms: f64,
    pub(super) sd: f64,
    pub(super) own_bias: f64,
    pub(super) own_sd: f64,
}

impl Prior {
    /// Number of runs the prior was learned from.
    pub fn runs(&self) -> usize {
        usize::from(self.runs)
    }

    /// Whether the run proved unlike its kind, so that the prior keeps
    /// only the kind's shape, at the run's own pace.
    pub fn dropped(&self) -> bool {
        self.dropped
    }

    /// The prior's remaining time for a run `t_ms` in, `processed` of
    /// `total` done, whose first progress was `first` items. Drops it (for
    /// good) when the run's pace so far lies beyond [`DROP_SIGMAS`] from
    /// its kind's; from then on it is the kind's shape at the run's own
    /// pace (see the module docs).
    pub(super) fn remaining(
        &mut self,
        t_ms: f64,
        (first, processed, total): (u64, u64, u64),
    ) -> Option<PriorRemaining> {
        // (Written so that a NaN pace also stops here.)
        let usable = self.ms_per_item > 0.0;
        if total == 0 || processed >= total || !usable {
            return None;
        }
        let f = processed as f64 / total as f64;
        let f0 = first as f64 / total as f64;
        let typical = self.ms_per_item * total as f64;
        let share = self.share_at(f, f0);
        let at = |v: &[f64; MARKS]| interpolate(f, f0, v);
        let pace_sd = at(&self.pace_sd.map(|v| f64::from(v) / SCALE));
        let a = (t_ms.max(1.0) / (typical * share)).ln();
        if f >= DROP_FROM && a.abs() > DROP_SIGMAS * pace_sd {
            self.dropped = true;
        }
        let mut carry = at(&self.carry.map(|v| f64::from(v) / 100.0));
        let mut sd = at(&self.spread.map(|v| f64::from(v) / SCALE));
        if self.dropped {
            // Other data or hardware, same kind of work: the kind's shape
            // (a heavier second half, a warm-up) still holds, at this
            // run's pace. The regression of pace after on pace before was
            // fitted on the kind's paces, not this one's: full carry, with
            // what full carry left unexplained on the past runs (the
            // least-squares residual is orthogonal to the pace, so the two
            // parts add), grown with the run's distance from them as a
            // prediction's variance is (the past runs' pace variance is
            // (n + 1) pace_sd², as it was estimated).
            let runs = f64::from(self.runs);
            let far = 1.0 + a * a / (pace_sd * pace_sd * (runs + 1.0));
            sd = ((sd * sd + (1.0 - carry).powi(2) * pace_sd * pace_sd) * far).sqrt();
            carry = 1.0;
        }
        Some(PriorRemaining {
            ln_ms: (typical * (1.0 - share)).ln() + carry * a,
            sd,
            own_bias: at(&self.own_bias.map(|v| f64::from(v) / SCALE)),
            own_sd: at(&self.own_sd.map(|v| f64::from(v) / SCALE)),
        })
    }

    /// Typical share of the duration spent before reaching the share `f`
    /// of the total: piecewise linear through the marks (mark 0 at this
    /// run's first progress, `f0`) and (1, 1).
    fn share_at(&self, f: f64, f0: f64) -> f64 {
        let shares = self.shares.map(|s| f64::from(s) / SCALE);
        let s = if f >= PROFILE_MARKS[MARKS - 1] {
            let (m, s) = (PROFILE_MARKS[MARKS - 1], shares[MARKS - 1]);
            s + (f - m) / (1.0 - m) * (1.0 - s)
        } else {
            interpolate(f, f0, &shares)
        };
        s.clamp(1e-4, 1.0 - 1e-4)
    }
}

/// A per-mark value at the share `f`: linear between marks, the first
/// or last mark's value beyond them. Mark 0, the first progress, stands
/// at this run's first progress `f0`; marks before it are skipped (a
/// small job's first chunk may already be past them).
fn interpolate(f: f64, f0: f64, v: &[f64; MARKS]) -> f64 {
    let mut prev = (f0, v[0]);
    if f <= f0 {
        return v[0];
    }
    for k in 1..MARKS {
        let mark = PROFILE_MARKS[k];
        if mark <= f0 {
            continue;
        }
        if f <= mark {
            let u = (f - prev.0) / (mark - prev.0);
            return prev.1 + u * (v[k] - prev.1);
        }
        prev = (mark, v[k]);
    }
    prev.1
}

/// Combine the run's own remaining time (`own_ms`, its range reaching
/// `below` and `above` ms from it) with the prior's. The own estimate is
/// first corrected by its mean error on the kind's past runs at this
/// point (a kind that always slows down later is always underestimated
/// early); then the two are averaged in log space, each weighted by the
/// other's error variance on the past runs (precision weighting), so the
/// prior leads where the run's own evidence has misled before and fades
/// where it has not. The range's log spread on each side is the same
/// weighted mix of the own range's and the prior's, plus the part of the
/// two's disagreement `d` their spreads do not explain
/// (`w(1−w)·(d² − var_own − var_prior)`, when positive): a history that
/// agrees with itself narrows it, a run unlike its history so far widens
/// it. Returns the remaining time and the new `(below, above)`.
pub(super) fn blend(own_ms: f64, range: (f64, f64), prior: PriorRemaining) -> (f64, (f64, f64)) {
    let usable = own_ms > 0.0 && prior.ln_ms.is_finite() && prior.sd > 0.0 && prior.own_sd > 0.0;
    if !usable {
        return (own_ms, range);
    }
    let (below, above) = range;
    let sd_lo = -(1.0 - (below / own_ms).min(0.99)).ln() / RANGE_Z;
    let sd_hi = (1.0 + above / own_ms).ln() / RANGE_Z;
    let own_ln = own_ms.ln() - prior.own_bias;
    let own_var = prior.own_sd * prior.own_sd;
    let prior_var = prior.sd * prior.sd;
    let w = own_var / (own_var + prior_var);
    let d = prior.ln_ms - own_ln;
    let ln_ms = own_ln + w * d;
    let unexplained = (d * d - own_var - prior_var).max(0.0);
    let side = |sd: f64| ((1.0 - w) * sd * sd + w * prior_var + w * (1.0 - w) * unexplained).sqrt();
    let ms = ln_ms.exp();
    let lo = ms * (1.0 - (-RANGE_Z * side(sd_lo)).exp());
    let hi = ms * ((RANGE_Z * side(sd_hi)).exp() - 1.0);
    (ms, (lo, hi))
}

#[cfg(test)]
mod tests {
    use crate::write::eta::testkit::{Job, noise, rel_err};
    use crate::write::eta::{Estimator, KindHistory, Prior};

    /// One run of a kind whose items get 2.5x heavier after 40 %:
    /// 200 chunks of `pace` × (1000 ms, then 2500 ms), ±20 % noise. Calls
    /// `each(job, chunk)` after every chunk.
    fn two_phase(seed: u64, pace: f64, prior: Option<Prior>, each: impl FnMut(&Job, usize)) -> Job {
        run(seed, pace, 2.5, prior, each)
    }

    /// As [`two_phase`] with items `heavy` times heavier after 40 %.
    fn run(
        seed: u64,
        pace: f64,
        heavy: f64,
        prior: Option<Prior>,
        mut each: impl FnMut(&Job, usize),
    ) -> Job {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut job = Job::new(100_000, 500, 500);
        if let Some(prior) = prior {
            job.est.set_prior(prior);
        }
        for i in 0..200 {
            let work = if i < 80 { 1000.0 } else { 1000.0 * heavy };
            job.chunk(pace * work * noise(&mut rng, 0.2), 0.0);
            each(&job, i);
        }
        job
    }

    /// The history of two-phase runs with seeds 100.. at paces ±10 %.
    fn history(runs: u64) -> KindHistory {
        history_of(runs, 2.5)
    }

    fn history_of(runs: u64, heavy: f64) -> KindHistory {
        let mut history = KindHistory::new();
        for k in 0..runs {
            let pace = 1.0 + 0.1 * ((k % 3) as f64 - 1.0);
            let job = run(100 + k, pace, heavy, None, |_, _| ());
            history.push(job.est.run_summary().unwrap());
        }
        history
    }

    /// The remaining time at every chunk of a run, and its true value.
    fn remaining(seed: u64, pace: f64, prior: Option<Prior>) -> (Vec<f64>, Vec<f64>) {
        let mut got = Vec::new();
        let mut at = Vec::new();
        let job = two_phase(seed, pace, prior, |job, _| {
            got.push(job.remaining_ms());
            at.push(job.t);
        });
        let end = job.t;
        (got, at.iter().map(|t| end - t).collect())
    }

    fn mean_err(got: &[f64], truth: &[f64], chunks: std::ops::Range<usize>) -> f64 {
        let n = chunks.len() as f64;
        chunks.map(|i| rel_err(got[i], truth[i])).sum::<f64>() / n
    }

    #[test]
    fn a_kinds_history_halves_the_early_error_and_costs_nothing_later() {
        let prior = history(6).prior().expect("six finished runs");
        assert_eq!(prior.runs(), 6);
        let (alone, truth) = remaining(1, 1.05, None);
        let (with, _) = remaining(1, 1.05, Some(prior));
        // Early (5-20 %), alone, the estimate follows the light first
        // phase and is far too short; the kind knows the heavy half.
        let (early_alone, early_with) = (
            mean_err(&alone, &truth, 10..40),
            mean_err(&with, &truth, 10..40),
        );
        assert!(early_alone > 0.3, "{early_alone:.3}");
        assert!(
            early_with < 0.5 * early_alone,
            "{early_with:.3} vs {early_alone:.3}"
        );
        let (whole_alone, whole_with) = (
            mean_err(&alone, &truth, 10..190),
            mean_err(&with, &truth, 10..190),
        );
        assert!(
            whole_with <= whole_alone,
            "{whole_with:.3} vs {whole_alone:.3}"
        );
    }

    #[test]
    fn a_run_unlike_its_kind_drops_its_pace_and_keeps_its_shape() {
        let prior = history(6).prior().unwrap();
        let mut dropped_at = None;
        let (mut alone, mut with, mut at) = (Vec::new(), Vec::new(), Vec::new());
        let job = two_phase(2, 3.0, Some(prior), |job, i| {
            with.push(job.remaining_ms());
            at.push(job.t);
            if dropped_at.is_none() && job.est.prior().unwrap().dropped() {
                dropped_at = Some(i);
            }
        });
        two_phase(2, 3.0, None, |job, _| alone.push(job.remaining_ms()));
        let dropped = dropped_at.expect("a run three times slower is not like its kind");
        // Tested from 5 % on (chunk 10 of 200): dropped at once.
        assert!(dropped <= 10, "dropped after {dropped} chunks");
        assert!(job.est.prior().unwrap().dropped(), "for good");
        // Three times slower, but its items still get heavier after 40 %:
        // the kind's shape at the run's own pace knows it, its own
        // evidence alone does not.
        let truth: Vec<f64> = at.iter().map(|t| job.t - t).collect();
        let (early_alone, early_with) = (
            mean_err(&alone, &truth, 12..40),
            mean_err(&with, &truth, 12..40),
        );
        assert!(early_alone > 0.3, "{early_alone:.3}");
        assert!(
            early_with < 0.5 * early_alone,
            "{early_with:.3} vs {early_alone:.3}"
        );
        // And it costs nothing over the whole job.
        let (whole_alone, whole_with) = (
            mean_err(&alone, &truth, 12..190),
            mean_err(&with, &truth, 12..190),
        );
        assert!(
            whole_with <= whole_alone,
            "{whole_with:.3} vs {whole_alone:.3}"
        );
    }

    #[test]
    fn runs_that_agree_narrow_the_early_range() {
        // A steady kind: the run's first tenth agrees with its history.
        let width = |prior: Option<Prior>| {
            let mut w = 0.0;
            run(3, 1.0, 1.0, prior, |job, i| {
                if i == 20 {
                    let e = job.est.estimate().unwrap();
                    w = (e.range.latest - e.range.earliest).as_secs_f64()
                        / e.remaining.as_secs_f64();
                }
            });
            w
        };
        let (alone, with) = (width(None), width(history_of(10, 1.0).prior()));
        assert!(with < 0.8 * alone, "{with:.3} vs {alone:.3}");
    }

    #[test]
    fn the_prior_adds_at_most_200_bytes_to_the_stored_state() {
        let prior = history(10).prior().unwrap();
        let (mut plain, mut leaning) = (
            Estimator::new(crate::write::eta::testkit::shape(100_000, 500, 500)),
            None,
        );
        let mut with = plain.clone();
        with.set_prior(prior);
        let mut rng = fastrand::Rng::with_seed(4);
        let mut t = 0.0;
        for c in 1..=60u64 {
            t += 500.0 + 1000.0 * noise(&mut rng, 0.2);
            plain.observe(t as u64, c * 500);
            with.observe(t as u64, c * 500);
            let a = postcard::to_allocvec(&plain).unwrap().len();
            let b = postcard::to_allocvec(&with).unwrap().len();
            assert!(b <= a + 200, "chunk {c}: {b} vs {a} bytes");
            leaning = Some(b - a);
        }
        let back: Estimator = postcard::from_bytes(&postcard::to_allocvec(&with).unwrap()).unwrap();
        assert_eq!(
            back.prior(),
            with.prior(),
            "the prior survives a round trip"
        );
        assert!(leaning.unwrap() > 0);
    }
}
