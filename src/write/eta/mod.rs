//! Remaining-time (ETA) estimation for long-running chunked background jobs.
//!
//! A job processes `total` items in chunks of `chunk_size` items and sleeps
//! `pause` between two chunks. The worker reports progress as observations
//! `(elapsed_ms, processed)`; [`Estimator`] turns them into an [`Estimate`] of
//! the remaining time. The caller's predicted end is
//! `time of the last observation + remaining`.
//!
//! # Method
//!
//! **Work time, not wall time.** Wall-clock time is *work time + pauses (+
//! interruptions)*. The pauses are known from the [`JobShape`], so each
//! interval between two observations is reduced to its work time by
//! subtracting `pause` for every chunk that started inside the interval. The
//! remaining time is then predicted as
//!
//! ```text
//! remaining = remaining_items × work_time_per_item      (recent window)
//!           + remaining_chunk_starts × pause            (exact, from the shape)
//!           + expected interruption time                (gap process, below)
//! ```
//!
//! so pauses are counted exactly once (the original formula counted them both
//! inside the average rate and again explicitly). The statistical unit is a
//! chunk: when the worker reports several times per chunk, the reports are
//! merged into one sample per chunk (only one of them contains the pause),
//! so the result does not depend on how often progress is reported.
//!
//! **Adaptive window (change detection).** The work time per item is the
//! ratio `Σ work / Σ items` over a window of recent intervals. The window
//! grows from the start of the job for as long as the data look like one
//! steady rate — averaging everything is the best estimate of a steady rate
//! and the quietest. After every observation a two-sample test compares the
//! most recent `m` intervals (`m` = 4, 5, 6, 7, 8, 16, 32, …) with the older
//! part of the window. Each recent sample is first clipped ("winsorised") to
//! the old mean ± [`WINSOR_SIGMAS`] pooled standard deviations, so one odd
//! chunk cannot look like a change; only when several consecutive chunks
//! are off does the statistic pass [`CHANGE_Z`]. Then everything before the
//! most likely change point (the split with the largest unclipped statistic)
//! is dropped and the estimate follows the new rate. A lasting change of at
//! least ~3 standard deviations of the chunk noise is therefore picked up
//! after [`MIN_SPLIT`] (4) updates once the window holds ten or more older
//! intervals (a shorter history needs a few more recent samples, because
//! its own mean is less certain); a gradual drift is picked up once it has
//! accumulated to a significant difference.
//!
//! **Swinging load (returns).** Load that swings up and down around a
//! steady mean makes the change test fire at every swing, and a window cut
//! at each swing chases it: the estimate is off by the swing's amplitude
//! although the long-run average is right. So the estimator remembers the
//! last [`RUN_HISTORY`] runs between changes as sums, and when a change
//! brings the level back to an earlier run's (within [`RETURN_TOL`] of the
//! largest step away from it since), the runs since that one are pooled
//! with the window: the estimate is their long-run average, and the trend
//! is not extrapolated. A step, a warm-up or a ramp never comes back, so
//! these keep following the newest level as before.
//!
//! **Gradual ramps (trend).** A step is caught by the change test; a slow
//! drift or warm-up is not until it has built up, and meanwhile the window
//! mean lags half a window behind. So a straight line is also fitted through
//! the per-item work times of the window; when its slope exceeds
//! [`TREND_Z`] standard errors, the work time is extrapolated along it over
//! at most [`TREND_HORIZON`] of the window's span, then held flat, and by
//! at most a factor [`TREND_LIMIT`] either way.
//!
//! **Interruptions (gaps).** An interval whose work time per item exceeds
//! [`GAP_FACTOR`] × the median of the last [`GAP_REF_LEN`] intervals is not
//! ordinary chunk noise but an interruption (restart, outage, periodic stall).
//! Its items are kept out of the rate window and its excess time (beyond the
//! normal work for its items) feeds a separate *gap process*. A single gap is
//! treated as a one-off (a restart): it is neither extrapolated (absurdly
//! pessimistic) nor averaged into the rate (it would inflate the rate for a
//! long time). Once gaps *recur*, they are expected to keep recurring: with
//! `k ≥ 2` gaps the remaining time gains
//! `remaining_items / spacing × mean excess`, where the spacing (in items)
//! is the largest of
//!
//! * the mean spacing between the gaps;
//! * the gap-free stretch before the first gap, divided by the `k − 1`
//!   recurrences: a recurring process shows up within about one spacing of
//!   the start, so a long quiet head means gaps are rare — this keeps two
//!   chance outliers close together from being read as a dense process, and
//!   its weight fades as the gaps keep recurring;
//! * the stretch since the last gap, once that is longer (the process may
//!   have stopped).
//!
//! **A preparing phase.** The job's first sample holds the time before its
//! first progress. Once three more samples show the working pace, a first
//! sample beyond [`GAP_FACTOR`] times their median is dropped from the
//! window: it was preparation (loading, queueing), not work, and kept it
//! would hold the rate down for the whole job (one huge sample never
//! passes the change test). Recurring gaps that come on a clock (rate-limit
//! waits) get the spread of their own spacing rather than a Poisson
//! count's ([`GAP_REGULARITY_PRIOR`]).
//!
//! **Earlier runs of the same kind (a prior).** A finished job leaves a
//! [`RunSummary`] (`history.rs`): its duration, size, rate, pauses,
//! interruptions, step times, the elapsed time at each of
//! [`PROFILE_MARKS`] of its total, and the end its own estimate predicted
//! there. A [`KindHistory`] keeps the last [`HISTORY_LEN`] and gives a new
//! job's estimator a [`Prior`] (`prior.rs`, at most about 170 bytes
//! stored): per mark, the kind's typical share of a run's duration spent
//! so far, how much of a run's pace so far carries on, how far the
//! prior's remaining time and the run's own estimate were off on the past
//! runs. The own estimate is corrected by its mean error there, and the
//! two are averaged in log space, each weighted by the other's error
//! variance: the prior leads where the run's own evidence misled before
//! (early, and in kinds whose pace changes at a known point), and fades
//! where it did not. A run whose pace lies beyond [`DROP_SIGMAS`] of its
//! kind's (tested from [`DROP_FROM`] of the total on) drops the kind's
//! pace for good and keeps only its shape, at the run's own pace. Staged
//! jobs get their remaining time from the kind's step times
//! ([`KindHistory::staged`]).
//!
//! **How sure: the 80 % range.** Every estimate carries a
//! [`RemainingRange`] that should hold the true end about four times in
//! five, as narrow as the estimator's own uncertainty allows. The work
//! part is log-normal (a rate a bit slower costs more time than a rate a
//! bit faster saves); its spread adds up the noise of the chunks still to
//! come, the uncertainty of the mean rate over the window's samples (with
//! a prior, [`CV_PRIOR`], so a short window — at the start, right after a
//! detected change — is wide), the chance that a just-detected change goes
//! on ([`AFTER_CHANGE_SAMPLES`]; a speedup counts as the log of its
//! ratio), rate changes not seen yet ([`CHANGE_FLOOR`]), a swinging
//! load's swing once its rate has come back to an earlier level (the
//! spread of the levels, × [`SWING_SCALE`], fading by [`SWING_FADE`] while
//! the swings are pooled and much of the job is left to average them out)
//! and a trend's extrapolation; a trend not yet
//! significant widens its own side by its extrapolation, weighted by
//! `(t / TREND_Z)²` (a warm-up shows as such a slope long before it is
//! settled, and the range is continuous at the threshold). Recurring gaps
//! add the spread of a Poisson count known from `k` gaps, and the upper
//! end alone allows for interruptions not seen yet ([`UNSEEN_EVENTS`]),
//! because restarts, stalls and retries only ever add time, and, early in
//! the job, for a lasting slowdown not seen yet ([`UNSEEN_EARLY`], fading
//! with the fourth power of the share left). The range sits around
//! the reported end, so it always holds it, counts down with it while
//! waiting, and its ends move about as little as the end itself.
//! Calibrated on the recorded traces and checked on synthetic ones with
//! other parameters (`scripts/eta_synth.py`): on the recorded traces the
//! true end lies inside 82 % of the time, on every trace at least 51 %
//! (eventful ones are missed before their event), at a median interval
//! score of 0.44 of the remaining time (a fixed ±25 % band: 0.87).
//!
//! **Hysteresis on the displayed end.** A new chunk always moves the raw
//! prediction a little (the chunk took more or less than average). The
//! predicted end that is reported only moves when the raw prediction leaves
//! a band of ± [`BAND_SIGMAS`] × (standard deviation of the remaining work
//! time, `sd_per_item × √(remaining_items × items_per_interval)`) around it,
//! and then only by as much as it left the band. Moves that are small against
//! the prediction's own statistical uncertainty are thus suppressed; the
//! reported end is never farther than the band (capped at [`BAND_CAP`] of
//! the remaining time) from the raw estimate, so a real change passes through
//! at once, less at most that band.
//!
//! **Waiting without progress.** Observations that carry no new progress
//! (duplicates, heartbeats, a count that went backwards) only advance the
//! clock: the remaining time counts down while the in-flight interval is
//! within its expected duration and stays fixed once it is overdue (so the
//! predicted end moves later with the wall clock during a stall).
//!
//! # Decisions
//!
//! * [`Estimator::estimate`] is `None` until one interval with progress and
//!   non-zero duration has been observed.
//! * Once `processed >= total` (including `total == 0`), the job is done:
//!   the estimate is `Some` with `remaining == 0` and both range ends zero.
//! * The range is part of every estimate: there is a range exactly when
//!   there is an estimate.
//! * Observations earlier than the last one, or with a count lower than the
//!   highest one seen, are ignored except that a later timestamp advances
//!   the clock (see above). A job that restarts and redoes work therefore
//!   appears as one long interval, i.e. as a gap.
//! * `rate_per_second` is the modelled throughput in items per wall-clock
//!   second with pauses and expected interruptions included (so
//!   `remaining ≈ remaining_items / rate_per_second`, up to the hysteresis);
//!   `0.0` when unknown.
//! * If `chunk_size` or `pause` is unknown, pauses cannot be placed and are
//!   simply part of the measured work time.
//! * The declared pause is trusted unless an interval is shorter than the
//!   pauses it contains; the pause is then capped at the shortest interval
//!   per pause seen (a pause cannot outlast its interval).
//!
//! Memory is bounded (at most [`WINDOW_CAP`] + [`GAP_REF_LEN`] samples,
//! [`RUN_HISTORY`] run sums and a run's ten profile marks, about 33 KiB)
//! and an observation costs
//! `O(WINDOW_CAP)` arithmetic in the worst case (a few microseconds).
//!
//! # Layout
//!
//! This file holds the [`Estimator`]; `model.rs` combines the
//! mechanisms, each in its own file: `chunks.rs` (work time, pauses, one
//! sample per chunk), `window.rs` (the rate window, its change test and
//! trend), `gaps.rs` (interruptions), `runs.rs` (the runs between
//! changes, for swinging load), `range.rs` (the 80 % range),
//! `hysteresis.rs` (the displayed end), `history.rs` (run summaries and a
//! kind's history) and `prior.rs` (the prior from that history and its
//! blend with the run's own estimate).

mod chunks;
mod compact;
mod gaps;
mod history;
mod hysteresis;
mod model;
mod prior;
mod range;
mod runs;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
mod window;

use std::time::Duration;

pub use gaps::{GAP_FACTOR, GAP_REF_LEN, GAP_REF_MIN, GAP_REGULARITY_PRIOR};
pub use history::{
    HISTORY_LEN, KindHistory, PROFILE_MARKS, RunSummary, STEP_RUNS_BYTES, StagedEstimate, StepRuns,
    StepTime,
};
pub use hysteresis::{BAND_CAP, BAND_SIGMAS};
pub use prior::{DROP_FROM, DROP_SIGMAS, PRIOR_RUNS, PRIOR_SPREAD, Prior};
pub use range::{
    AFTER_CHANGE_SAMPLES, CHANGE_FLOOR, CV_PRIOR, CV_PRIOR_SAMPLES, RANGE_Z, SWING_FADE,
    SWING_SCALE, UNSEEN_EARLY, UNSEEN_EVENTS,
};
pub use runs::{RETURN_TOL, RUN_HISTORY};
pub use window::{
    CHANGE_Z, MIN_SPLIT, TIMER_RESOLUTION_MS, TREND_HORIZON, TREND_LIMIT, TREND_Z, WINDOW_CAP,
    WINSOR_SIGMAS,
};

use chunks::{Chunks, chunk_starts};
use gaps::Gaps;
use history::Recorder;
use hysteresis::Hysteresis;
use model::Model;
use window::RateWindow;

/// What the writer knows about the job's shape.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobShape {
    /// Number of items the job processes (may be revised with
    /// [`Estimator::set_total`]).
    pub total: u64,
    /// Items per chunk, if the job works in chunks.
    pub chunk_size: Option<u64>,
    /// Pause between two consecutive chunks (not before the first one).
    pub pause: Option<Duration>,
}

/// Result of an estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Time still needed after the last observation; never negative.
    pub remaining: Duration,
    /// The 80 % range of the remaining time: the job should end inside it
    /// about four times in five. Always holds `remaining`.
    pub range: RemainingRange,
    /// Modelled throughput in items per wall-clock second (pauses and
    /// expected interruptions included); `0.0` when unknown.
    pub rate_per_second: f64,
}

/// An 80 % range of the remaining time, measured like
/// [`Estimate::remaining`] from the last observation:
/// `earliest <= remaining <= latest`. Both ends are zero once the job is
/// done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemainingRange {
    /// Lower end: the job should not end sooner than this (aimed at about
    /// one job in ten ending sooner).
    pub earliest: Duration,
    /// Upper end: the job should not end later than this (aimed at about
    /// one job in ten ending later; it also allows for interruptions not
    /// seen yet, so it reaches farther above `remaining` than `earliest`
    /// reaches below).
    pub latest: Duration,
}

/// Remaining-time estimator for one job; feed it with
/// [`observe`](Estimator::observe), read it with
/// [`estimate`](Estimator::estimate).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Estimator {
    shape: JobShape,
    /// Last observation that advanced the count.
    anchor_ms: u64,
    anchor_processed: u64,
    /// Latest observation time (>= `anchor_ms`).
    last_ms: u64,
    chunks: Chunks,
    window: RateWindow,
    gaps: Gaps,
    /// Model state as of the anchor (None: no estimate possible).
    model: Option<Model>,
    display: Hysteresis,
    /// What the run's summary needs, recorded as it goes.
    recorder: Recorder,
    /// The kind's prior, if it has a history.
    prior: Option<Prior>,
}

impl Estimator {
    /// A fresh estimator; the job is taken to start at `elapsed_ms == 0`
    /// with nothing processed.
    pub fn new(shape: JobShape) -> Self {
        Estimator {
            shape,
            anchor_ms: 0,
            anchor_processed: 0,
            last_ms: 0,
            chunks: Chunks::new(),
            window: RateWindow::default(),
            gaps: Gaps::default(),
            model: None,
            display: Hysteresis::default(),
            recorder: Recorder::default(),
            prior: None,
        }
    }

    /// Lean on the earlier runs of the job's kind (see
    /// [`KindHistory::prior`]): until the run's own evidence is as good,
    /// its estimate and range follow its kind's. Best given before the
    /// first observation; a prior given later counts from then on.
    pub fn set_prior(&mut self, prior: Prior) {
        self.prior = Some(prior);
        self.refresh(true);
    }

    /// The prior the estimator leans on, if any (see
    /// [`Prior::dropped`] for whether it still does).
    pub fn prior(&self) -> Option<&Prior> {
        self.prior.as_ref()
    }

    /// The summary of the finished run for its kind's history; `None`
    /// until the job is done (`processed >= total > 0`).
    pub fn run_summary(&self) -> Option<RunSummary> {
        let total = self.shape.total;
        if total == 0 || self.anchor_processed < total {
            return None;
        }
        let (work_ms_per_item, work_ms_per_item_sd) = self.recorder.rate();
        let pauses = chunk_starts(&self.shape, 0, total);
        let pause_ms = pauses as f64 * self.chunks.pause_ms(&self.shape);
        let (interruptions, interruption_ms) = self.gaps.totals();
        Some(RunSummary {
            total,
            duration_ms: self.anchor_ms,
            work_ms_per_item,
            work_ms_per_item_sd,
            pauses,
            pause_ms: pause_ms.round() as u64,
            interruptions,
            interruption_ms: interruption_ms.max(0.0).round() as u64,
            marks_ms: self.recorder.marks_ms().to_vec(),
            estimated_ends_ms: self.recorder.estimated_ends_ms().to_vec(),
            steps: Vec::new(),
        })
    }

    /// The job's shape as currently known.
    pub fn shape(&self) -> JobShape {
        self.shape
    }

    /// Feed one observation: milliseconds since the job started, and the
    /// processed count. Observations older than the latest one are ignored;
    /// ones without new progress (duplicates, heartbeats, a count below the
    /// highest seen) only advance the clock.
    pub fn observe(&mut self, elapsed_ms: u64, processed: u64) {
        if elapsed_ms < self.last_ms {
            return;
        }
        if processed <= self.anchor_processed {
            self.last_ms = elapsed_ms;
            return;
        }
        let from = self.anchor_processed;
        let wall_ms = (elapsed_ms - self.anchor_ms) as f64;
        let iv = self.chunks.interval(&self.shape, from, processed, wall_ms);
        if !self.gaps.absorb(processed, &iv) {
            self.chunks.add(&iv);
        }
        self.recorder.progress(
            self.shape.total,
            (self.anchor_ms, from),
            (elapsed_ms, processed),
        );
        self.anchor_ms = elapsed_ms;
        self.anchor_processed = processed;
        self.last_ms = elapsed_ms;
        if self.chunks.completes_sample(&self.shape, from, processed)
            && let Some(sample) = self.chunks.take_sample(&self.shape)
        {
            self.gaps.push_recent(sample.per_item);
            self.recorder.sample(sample.per_item);
            self.window.push(sample);
        }
        self.refresh(false);
    }

    /// The estimate as of the last observation: `None` until there is
    /// enough data (one interval with progress and non-zero duration);
    /// `Some` with zero `remaining` once `processed >= total`.
    pub fn estimate(&self) -> Option<Estimate> {
        let rate = self.model.map_or(0.0, |m| m.rate_per_second);
        if self.anchor_processed >= self.shape.total {
            return Some(Estimate {
                remaining: Duration::ZERO,
                range: RemainingRange {
                    earliest: Duration::ZERO,
                    latest: Duration::ZERO,
                },
                rate_per_second: rate,
            });
        }
        let model = self.model?;
        let end = self.display.end_ms()?;
        // Time spent on the in-flight interval counts down the remaining
        // time, but only up to the interval's expected duration: beyond
        // that the job is stalled and the end moves with the clock.
        let waited = (self.last_ms - self.anchor_ms) as f64;
        let remaining = end - self.anchor_ms as f64 - waited.min(model.next_interval_ms);
        let (below, above) = model.range_ms;
        Some(Estimate {
            remaining: ms_to_duration(remaining),
            range: RemainingRange {
                earliest: ms_to_duration(remaining - below),
                latest: ms_to_duration(remaining + above),
            },
            rate_per_second: model.rate_per_second,
        })
    }

    /// Revise the total (the worker found more or fewer items). The reported
    /// end is recomputed from scratch rather than filtered.
    pub fn set_total(&mut self, total: u64) {
        self.shape.total = total;
        self.refresh(true);
    }
}

/// Milliseconds to a `Duration`, clamping negative/NaN to zero and
/// overflow to `Duration::MAX`.
fn ms_to_duration(ms: f64) -> Duration {
    if ms.is_nan() || ms <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(ms / 1000.0).unwrap_or(Duration::MAX)
}
