//! The 80 % range of the remaining time: how sure the estimate is, from
//! the estimator's own uncertainty (see the module docs of [`super`]).

use super::runs::Swing;

/// Two-sided 80 % quantile of the standard normal distribution: the range
/// spans ± this many standard deviations (in log space) of the remaining
/// work, so that the true end falls inside about four times in five.
pub const RANGE_Z: f64 = 1.2816;

/// Chunk noise assumed before the window shows its own (coefficient of
/// variation of one sample's per-item time). 0.3 is the middle of the
/// noise seen on real jobs (0.15 on a quiet one, 0.5 on a noisy one). It
/// keeps a window of one to three samples, just after the start or a
/// detected change, from looking certain because its few samples happen
/// to agree.
pub const CV_PRIOR: f64 = 0.3;

/// Weight of [`CV_PRIOR`], in samples: after four real samples the
/// window's own noise counts as much as the prior, after forty it decides.
/// (Four and eight score the same on all trace sets tried.)
pub const CV_PRIOR_SAMPLES: f64 = 4.0;

/// Standard deviation of rate changes that have not shown yet, relative to
/// the remaining work, at the start of a job; it shrinks with the square
/// root of the share of the job still to do (a random walk of the rate:
/// less time left, less room to drift). Symmetric, as rates drift both
/// ways. 0.09 is what the step, ramp and warm-up traces need to keep their
/// coverage near 80 % (0.06 left a warm-up trace at 39 %); 0.06 to 0.1
/// give about the same interval score.
pub const CHANGE_FLOOR: f64 = 0.09;

/// Standard deviation (log scale) of interruptions and slowdowns that have
/// not shown yet, relative to the remaining wall time, at the start of a
/// job; proportional to the share still to do. It only widens the range
/// upwards: a restart, a stall or retries add time, nothing takes an
/// unannounced event's time back. It is not added to the estimate itself
/// (that would only move error from steady jobs to eventful ones). 0.15,
/// with [`UNSEEN_EARLY`] on top: together their upper end reaches twice
/// the remaining time at 10 % done and 1.16× it at half way (0.3 alone:
/// 1.41× and 1.21×), so the middle of a steady job is narrower. (Alone,
/// 0.3 was the best value: 0.2 left eventful traces near 35 % coverage,
/// 0.4 cost steady ones 0.06 of interval score.)
pub const UNSEEN_EVENTS: f64 = 0.15;

/// Standard deviation (log scale) of a lasting slowdown not shown yet
/// (a step to a slower rate, a heavier second part), relative to the
/// remaining wall time, at the very start of a job; it fades with the
/// fourth power of the share still to do (half of it left at 84 %, 6 %
/// at half way), because such a slowdown costs most relative to the
/// remaining time while a large part of the job is still unseen, and a
/// job that ran steadily for long rarely turns: the allowance is spent
/// on the first fifth of a job, whose rows are few next to the rest and
/// so barely move a job's typical interval score. Upper end only, like
/// [`UNSEEN_EVENTS`], and added to it. 0.6 keeps the first tenth of a job
/// whose rate drops 3x at 56 % inside the range (a coverage of 50 %
/// instead of 43 %, interval score 2.8 to 0.74 on that job); 0.7 or the
/// third power add 0.01 to 0.09 of interval score on every trace set and
/// push coverage past 88 %.
pub const UNSEEN_EARLY: f64 = 0.6;

/// A detected change may not be complete (a warm-up still settling, a
/// change point cut a little early): right after one, the new level is
/// allowed to move on by as much as the change itself, with a standard
/// deviation of `step × k / (n + k)` for this `k` and `n` samples since,
/// i.e. fading as the new level gathers samples. The step is relative to
/// the new level, but at most the log of the two levels' ratio: after a
/// slow start that turns 10-30x faster it is 2.3-3.4, not 9-29, which kept
/// the range at ten times the remaining time for a hundred chunks
/// (interval score 0.3-1.7 on such jobs, now 0.2-0.3). Four is [`MIN_SPLIT`]
/// (the samples the change test needs to see a change at all); 4 and 8
/// score the same, and fading as `1/n` rather than `1/√n` keeps steady
/// stretches after an old change narrow (interval score 0.45 instead of
/// 0.48 on the synthetic sets).
///
/// [`MIN_SPLIT`]: super::MIN_SPLIT
pub const AFTER_CHANGE_SAMPLES: f64 = 4.0;

/// A load that swings between levels (its rate has come back to an
/// earlier level: `runs.rs`) may be off by about its swing: the estimate
/// follows the newest level, or, pooled, the long-run mean, while the rest
/// of the job may run mostly at one level or the other. So the work part's
/// log spread gains this many times the spread of the levels swung
/// between (the standard deviation of their log, weighted by items), on
/// both sides. 1.5: a sinusoid's level lies up to √2 standard deviations
/// from its mean, and what is left of the job rarely averages it out
/// exactly. 1.0 left a load swinging every 100-200 chunks covered 46 % of
/// the time, 1.5 57-60 %, 2.0 no better; steady jobs, steps, warm-ups and
/// ramps never come back to a level, so it leaves them as they were.
pub const SWING_SCALE: f64 = 1.5;

/// While the estimate pools a swinging load's runs (their long-run mean),
/// what is left of the job averages the swings out: the allowance of
/// [`SWING_SCALE`] is multiplied by `SWING_FADE × stretch / items left`
/// (at most 1), `stretch` being the mean items per run (about half a
/// swing), so it matters in the last few swings only. 0.25 is about what
/// the mean of a sinusoid over `L` items does (off by its amplitude ×
/// period / (π L)); 0.5 put loads flipping every few minutes at 97 %
/// coverage, 0.1 took a long swing back to 55 %.
pub const SWING_FADE: f64 = 0.25;

/// What the range is computed from, as of the last observation.
#[derive(Debug, Clone, Copy)]
pub(super) struct Inputs {
    /// Items left and the job's total.
    pub(super) left: f64,
    pub(super) total: f64,
    /// Expected remaining work time (no pauses, no gaps), ms.
    pub(super) work_ms: f64,
    /// Expected remaining wall time (work, pauses and gaps), ms.
    pub(super) remaining_ms: f64,
    /// Items per sample, samples behind the rate, and the coefficient of
    /// variation of the samples' per-item times.
    pub(super) items_per_sample: f64,
    pub(super) samples: f64,
    pub(super) cv: f64,
    /// Size of the last detected change relative to the level after it.
    pub(super) last_step: f64,
    /// The trend's factor on the work time (1 without a trend).
    pub(super) trend_factor: f64,
    /// A trend not significant: its factor and how sure it is (0 to 1).
    pub(super) trend_hint: (f64, f64),
    /// Expected interruption time over the rest of the job, ms, and its
    /// standard deviation.
    pub(super) gap_ms: f64,
    pub(super) gap_sd_ms: f64,
    /// How far the load swings, once it has come back to a level.
    pub(super) swing: Option<Swing>,
}

/// How far the range reaches below and above the expected remaining time,
/// ms: `(below, above)`, both non-negative.
///
/// The work part is log-normal; the variance of its log is the sum of
///
/// * the noise of the chunks still to come, `cv² / chunks_left` (`cv`:
///   coefficient of variation of the samples' per-item times);
/// * the uncertainty of the mean rate, `cv² / n` over `n` samples, with
///   [`CV_PRIOR`] worth [`CV_PRIOR_SAMPLES`] samples in that `cv`;
/// * a just-detected change going on, `(step · k / (n + k))²` with
///   `k` = [`AFTER_CHANGE_SAMPLES`];
/// * rate changes not seen yet, [`CHANGE_FLOOR`]² × the share left;
/// * a trend's extrapolation, as uncertain as the correction it makes;
///   a trend not yet significant adds the same, weighted by how sure it
///   is (`(t / TREND_Z)²`), on its side only;
/// * a swinging load's spread of levels, × [`SWING_SCALE`], fading with
///   [`SWING_FADE`] as the rest of the job averages the swings out.
///
/// Recurring gaps add `RANGE_Z` standard deviations of their Poisson
/// spread (below at most the expected gap time), and unseen events
/// ([`UNSEEN_EVENTS`], and early in the job [`UNSEEN_EARLY`]) widen the
/// upper end only. Independent parts add in quadrature.
pub(super) fn offsets(i: &Inputs) -> (f64, f64) {
    if !(i.work_ms > 0.0 && i.left > 0.0) {
        return (0.0, 0.0);
    }
    let n = i.samples.max(1.0);
    let cv = i.cv.max(0.0);
    let share_left = i.left / i.total.max(1.0);
    let cv_mean2 = (cv * cv * (n - 1.0) + CV_PRIOR * CV_PRIOR * CV_PRIOR_SAMPLES)
        / (n - 1.0 + CV_PRIOR_SAMPLES);
    let chunks_left = (i.left / i.items_per_sample.max(1.0)).max(1.0);
    let swing = i.swing.map_or(0.0, |sw| {
        let averaged = if sw.pooled {
            (SWING_FADE * sw.stretch / i.left).min(1.0)
        } else {
            1.0
        };
        SWING_SCALE * sw.spread * averaged
    });
    let var = cv * cv / chunks_left
        + cv_mean2 / n
        + swing * swing
        + CHANGE_FLOOR * CHANGE_FLOOR * share_left
        + (i.trend_factor - 1.0).powi(2)
        + (i.last_step * AFTER_CHANGE_SAMPLES / (n + AFTER_CHANGE_SAMPLES)).powi(2);
    // A trend not yet significant widens its own side only.
    let (hint, sure) = i.trend_hint;
    let lean = sure * (hint - 1.0).powi(2);
    let (var_lo, var_hi) = if hint < 1.0 {
        (var + lean, var)
    } else {
        (var, var + lean)
    };
    let below_work = i.work_ms * (1.0 - (-RANGE_Z * var_lo.sqrt()).exp());
    let above_work = i.work_ms * ((RANGE_Z * var_hi.sqrt()).exp() - 1.0);
    let unseen = UNSEEN_EVENTS * share_left + UNSEEN_EARLY * share_left.powi(4);
    let above_unseen = i.remaining_ms * ((RANGE_Z * unseen).exp() - 1.0);
    // Fewer gaps than expected can at most save the expected gap time.
    let below_gaps = (RANGE_Z * i.gap_sd_ms).min(i.gap_ms);
    let above_gaps = RANGE_Z * i.gap_sd_ms;
    let below = below_work.hypot(below_gaps);
    let above = above_work.hypot(above_unseen).hypot(above_gaps);
    (
        if below.is_finite() { below } else { 0.0 },
        if above.is_finite() { above } else { 0.0 },
    )
}

#[cfg(test)]
mod tests;
