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
mod tests {
    use std::time::Duration;

    use crate::write::eta::testkit::{Job, noise, shape};
    use crate::write::eta::{Estimate, Estimator};

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1000.0
    }

    /// Width of the range relative to the remaining time.
    fn rel_width(e: &Estimate) -> f64 {
        (ms(e.range.latest) - ms(e.range.earliest)) / ms(e.remaining)
    }

    fn holds(e: &Estimate) -> bool {
        e.range.earliest <= e.remaining && e.remaining <= e.range.latest
    }

    #[test]
    fn the_range_holds_the_estimate_exists_with_it_and_is_zero_when_done() {
        let mut est = Estimator::new(shape(20_000, 100, 200));
        est.observe(0, 0);
        assert_eq!(est.estimate(), None, "no estimate, no range");
        let mut rng = fastrand::Rng::with_seed(2);
        let mut t = 0.0;
        for c in 1..=200u64 {
            t += 200.0 + 800.0 * noise(&mut rng, 0.5);
            est.observe(t as u64, c * 100);
            // Heartbeats while the next chunk runs.
            est.observe(t as u64 + 500, c * 100);
            let e = est.estimate().expect("an estimate after one chunk");
            assert!(holds(&e), "chunk {c}: {e:?}");
            if c < 200 {
                assert!(e.range.earliest < e.range.latest, "chunk {c}: {e:?}");
            }
        }
        let done = est.estimate().unwrap();
        assert_eq!(done.remaining, Duration::ZERO);
        assert_eq!(done.range.earliest, Duration::ZERO);
        assert_eq!(done.range.latest, Duration::ZERO);
    }

    #[test]
    fn the_range_is_narrow_when_steady_and_wide_after_a_change_or_gaps() {
        // 600-chunk jobs compared at the same point (chunk 300, so the
        // same share of the job is left): a steady one; one whose chunks
        // turned 2x slower six chunks ago (the change has just been
        // detected); one with a 30 s stall at random, one chunk in 50 on
        // average; one with the same stall on a clock, every 50 chunks.
        #[derive(Clone, Copy)]
        enum Stalls {
            None,
            Random,
            Clock,
        }
        let run = |seed: u64, step_at: usize, stalls: Stalls| {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut when = fastrand::Rng::with_seed(seed + 1);
            let mut job = Job::new(300_000, 500, 500);
            for i in 0..300 {
                let work = if i >= step_at { 2000.0 } else { 1000.0 };
                let stall = match stalls {
                    Stalls::None => false,
                    Stalls::Random => when.usize(0..50) == 0,
                    Stalls::Clock => i % 50 == 49,
                };
                job.chunk(
                    work * noise(&mut rng, 0.2),
                    if stall { 30_000.0 } else { 0.0 },
                );
            }
            job.est.estimate().unwrap()
        };
        let steady = run(1, usize::MAX, Stalls::None);
        let changed = run(1, 294, Stalls::None);
        let random = run(1, usize::MAX, Stalls::Random);
        let clock = run(1, usize::MAX, Stalls::Clock);
        let (w0, w1) = (rel_width(&steady), rel_width(&changed));
        let (w2, w3) = (rel_width(&random), rel_width(&clock));
        // Steady: ±10 % noise on 300 chunks leaves the unseen-change
        // allowance as the main part, about 0.2 of the remaining time.
        assert!(w0 < 0.3, "steady: {w0:.3}");
        assert!(w1 > 1.5 * w0, "after a change {w1:.3} vs steady {w0:.3}");
        assert!(
            w2 > 1.5 * w0,
            "with random stalls {w2:.3} vs steady {w0:.3}"
        );
        // Stalls on a clock: their count to come is nearly sure.
        assert!(
            w3 < 0.8 * w2,
            "with stalls on a clock {w3:.3} vs at random {w2:.3}"
        );
    }

    #[test]
    fn a_trend_not_yet_significant_widens_its_own_side() {
        let inputs = |trend_hint| super::Inputs {
            left: 50_000.0,
            total: 100_000.0,
            work_ms: 100_000.0,
            remaining_ms: 120_000.0,
            items_per_sample: 500.0,
            samples: 30.0,
            cv: 0.2,
            last_step: 0.0,
            trend_factor: 1.0,
            trend_hint,
            gap_ms: 0.0,
            gap_sd_ms: 0.0,
            swing: None,
        };
        let (below, above) = super::offsets(&inputs((1.0, 0.0)));
        assert_eq!(
            super::offsets(&inputs((0.7, 0.0))),
            (below, above),
            "no weight"
        );
        let (faster_below, faster_above) = super::offsets(&inputs((0.7, 0.5)));
        assert!(
            faster_below > 1.2 * below,
            "{faster_below:.0} vs {below:.0}"
        );
        assert_eq!(faster_above, above, "the other side stays");
        let (slower_below, slower_above) = super::offsets(&inputs((1.3, 0.5)));
        assert!(slower_above > 1.2 * above && slower_below == below);

        // A warm-up whose chunks speed up from 3x (fading over the first
        // 60 of 300 chunks) shows as a slope towards faster after 24,
        // significant or not.
        let mut rng = fastrand::Rng::with_seed(5);
        let mut job = Job::new(150_000, 500, 500);
        for i in 0..24 {
            let slow = 1.0 + 2.0 * (-(i as f64) / 60.0).exp();
            job.chunk(1000.0 * slow * noise(&mut rng, 0.2), 0.0);
        }
        let left = 150_000.0 - 24.0 * 500.0;
        let window = &job.est.window;
        let (hint, sure) = window.trend_hint(left);
        assert!(
            window.trend_factor(left) < 1.0 || (hint < 1.0 && sure > 0.0),
            "{hint:.3} {sure:.3}"
        );
    }

    #[test]
    fn early_on_the_range_allows_for_a_slowdown_not_yet_seen() {
        // A steady job (±10 % noise, 600 chunks of 1 s, no pause) might
        // still turn 2-3x slower for its second half; nothing shows it
        // yet. At 8 % done that would put the end about 1.7x the
        // remaining time away: the upper end reaches that far (1.2x
        // without the early allowance). By half way the allowance has
        // faded: the upper end stays within 1.35x.
        let mut rng = fastrand::Rng::with_seed(8);
        let mut job = Job::new(300_000, 500, 0);
        let above = |job: &Job| {
            let e = job.est.estimate().unwrap();
            ms(e.range.latest) / ms(e.remaining)
        };
        for _ in 0..48 {
            job.chunk(1000.0 * noise(&mut rng, 0.1), 0.0);
        }
        let early = above(&job);
        assert!(early > 1.8, "at 8 %: latest {early:.2}x the remaining time");
        for _ in 48..300 {
            job.chunk(1000.0 * noise(&mut rng, 0.1), 0.0);
        }
        let half = above(&job);
        assert!(half < 1.35, "at half way: latest {half:.2}x");
    }

    #[test]
    fn a_load_swinging_between_levels_widens_the_range_on_both_sides() {
        // Chunk work swings ±50 % around 1000 ms with a period of 150 of
        // 600 chunks (±10 % noise): the estimate follows each swing for a
        // while, and the rest of the job may run mostly fast or mostly
        // slow. After the first period the range holds the true end 57 %
        // of the time (38 % without the swing's allowance, missing on
        // both sides).
        let mut rng = fastrand::Rng::with_seed(11);
        let work: Vec<f64> = (0..600)
            .map(|i| {
                let phase = 2.0 * std::f64::consts::PI * i as f64 / 150.0;
                1000.0 * (1.0 + 0.5 * phase.sin()) * noise(&mut rng, 0.1)
            })
            .collect();
        let mut job = Job::new(300_000, 500, 200);
        let (mut held, mut rows) = (0, 0);
        for (i, &w) in work.iter().enumerate() {
            job.chunk(w, 0.0);
            if (150..570).contains(&i) {
                let truth: f64 = work[i + 1..].iter().map(|w| w + 200.0).sum();
                let e = job.est.estimate().unwrap();
                rows += 1;
                if ms(e.range.earliest) <= truth && truth <= ms(e.range.latest) {
                    held += 1;
                }
            }
        }
        assert!(job.est.window.swing().is_some(), "the swings were seen");
        let coverage = held as f64 / rows as f64;
        assert!(coverage >= 0.5, "coverage {coverage:.2}");
    }

    #[test]
    fn a_steady_job_has_no_swing_allowance() {
        let mut rng = fastrand::Rng::with_seed(12);
        let mut job = Job::new(300_000, 500, 200);
        for _ in 0..400 {
            job.chunk(1000.0 * noise(&mut rng, 0.3), 0.0);
        }
        assert_eq!(job.est.window.swing(), None);
    }

    #[test]
    fn the_range_ends_do_not_flap() {
        // On a noisy steady job the ends move between updates by about as
        // little as the reported end: median change under 1 % of the
        // remaining time.
        let mut rng = fastrand::Rng::with_seed(21);
        let mut job = Job::new(200_000, 500, 500);
        let (mut lo, mut hi) = (Vec::new(), Vec::new());
        let mut prev: Option<(f64, f64)> = None;
        for _ in 0..380 {
            job.chunk(1500.0 * noise(&mut rng, 0.5), 0.0);
            let e = job.est.estimate().unwrap();
            let rem = ms(e.remaining);
            let ends = (job.t + ms(e.range.earliest), job.t + ms(e.range.latest));
            if let Some((a, b)) = prev {
                lo.push((ends.0 - a).abs() / rem);
                hi.push((ends.1 - b).abs() / rem);
            }
            prev = Some(ends);
        }
        for (name, mut v) in [("earliest", lo), ("latest", hi)] {
            v.sort_by(f64::total_cmp);
            let median = v[v.len() / 2];
            assert!(median < 0.01, "{name}: median move {median:.4}");
        }
    }
}
