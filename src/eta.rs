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
//! **Gradual ramps (trend).** A step is caught by the change test; a slow
//! drift or warm-up is not until it has built up, and meanwhile the window
//! mean lags half a window behind. So a straight line is also fitted through
//! the per-item work times of the window; when its slope exceeds
//! [`TREND_Z`] standard errors, the work time is extrapolated along it over
//! at most [`TREND_HORIZON`] of the window's span, then held flat.
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
//!   the estimate is `Some` with `remaining == 0`.
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
//! Memory is bounded (at most [`WINDOW_CAP`] + [`GAP_REF_LEN`] samples, about
//! 32 KiB) and an observation costs `O(WINDOW_CAP)` arithmetic in the worst
//! case (a few microseconds).

use std::collections::VecDeque;
use std::time::Duration;

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

/// Maximum number of intervals kept in the rate window. Bounds memory and
/// per-observation cost; 1024 samples already bring the statistical error
/// of the mean rate to ~3 % of one chunk's noise, so older data add nothing
/// measurable (and on very long jobs are less representative anyway).
pub const WINDOW_CAP: usize = 1024;

/// Half-width of the hysteresis band, in standard deviations of the
/// remaining work time. Half a standard deviation absorbs the ordinary
/// chunk-to-chunk wobble of the raw prediction (≈ one chunk's noise) on all
/// but the last few chunks, while adding at most ±0.5 sd of error — small
/// against the irreducible ±1 sd of the remaining work itself.
pub const BAND_SIGMAS: f64 = 0.5;

/// The hysteresis band never exceeds this fraction of the raw remaining
/// time, so near the end of a noisy job the reported end still follows the
/// data (a quarter keeps the added error well below the typical error of a
/// noisy job's last chunks).
pub const BAND_CAP: f64 = 0.25;

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

/// Timestamps are whole milliseconds, so a per-interval work time is never
/// known better than ~1 ms. Used as a floor of the noise level so that
/// perfectly regular (e.g. synthetic) data still yield a finite test
/// statistic.
pub const TIMER_RESOLUTION_MS: f64 = 1.0;

/// What the writer knows about the job's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
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
    /// Modelled throughput in items per wall-clock second (pauses and
    /// expected interruptions included); `0.0` when unknown.
    pub rate_per_second: f64,
}

/// One sample of the rate window: a chunk (or, without a chunk size, one
/// interval between two observations that advanced the count).
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    items: f64,
    /// Wall-clock time of the interval, pauses included.
    wall_ms: f64,
    /// Number of pauses taken inside the interval.
    pauses: f64,
    /// Work time per item (wall time minus pauses, per item) at insertion.
    per_item: f64,
}

/// Interruptions seen so far (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
struct Gaps {
    count: u64,
    first_at: u64,
    last_at: u64,
    excess_ms: f64,
}

/// Remaining-time estimator for one job; feed it with
/// [`observe`](Estimator::observe), read it with
/// [`estimate`](Estimator::estimate).
#[derive(Debug, Clone)]
pub struct Estimator {
    shape: JobShape,
    /// Last observation that advanced the count.
    anchor_ms: u64,
    anchor_processed: u64,
    /// Latest observation time (>= `anchor_ms`).
    last_ms: u64,
    /// Rate window: non-gap samples since the last detected change.
    window: VecDeque<Sample>,
    /// Intervals of the chunk in progress, not yet a sample.
    pending: Sample,
    /// Count at which `pending` started, if it has started.
    pending_from: Option<u64>,
    /// Per-item work time of the last intervals, gaps included.
    recent: VecDeque<f64>,
    gaps: Gaps,
    /// Upper bound on the real pause: the shortest interval per pause seen.
    pause_limit_ms: f64,
    /// Model state as of the anchor (None: no estimate possible).
    model: Option<Model>,
    /// Reported (hysteresis-filtered) end, in ms since the job started.
    shown_end_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Model {
    /// Expected duration of the next interval, for waiting without progress.
    next_interval_ms: f64,
    rate_per_second: f64,
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
            window: VecDeque::new(),
            pending: Sample::default(),
            pending_from: None,
            recent: VecDeque::new(),
            gaps: Gaps::default(),
            pause_limit_ms: f64::INFINITY,
            model: None,
            shown_end_ms: None,
        }
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
        let items = (processed - self.anchor_processed) as f64;
        let wall_ms = (elapsed_ms - self.anchor_ms) as f64;
        let pauses = self.chunk_starts(self.anchor_processed, processed) as f64;
        if pauses > 0.0 {
            // A pause cannot last longer than the interval it is part of.
            self.pause_limit_ms = self.pause_limit_ms.min(wall_ms / pauses);
        }
        let work_ms = (wall_ms - pauses * self.pause_ms()).max(0.0);
        let per_item = work_ms / items;
        if self.pending_from.is_none() {
            self.pending_from = Some(self.anchor_processed);
        }

        match self.reference_per_item() {
            Some(reference) if reference > 0.0 && per_item > GAP_FACTOR * reference => {
                let g = &mut self.gaps;
                if g.count == 0 {
                    g.first_at = processed;
                }
                g.count += 1;
                g.last_at = processed;
                g.excess_ms += work_ms - items * reference;
                self.push_recent(per_item);
            }
            _ => {
                self.pending.items += items;
                self.pending.wall_ms += wall_ms;
                self.pending.pauses += pauses;
            }
        }
        let from = self.anchor_processed;
        self.anchor_ms = elapsed_ms;
        self.anchor_processed = processed;
        self.last_ms = elapsed_ms;
        if self.completes_sample(from, processed) {
            self.flush_pending();
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
                rate_per_second: rate,
            });
        }
        let model = self.model?;
        let end = self.shown_end_ms?;
        // Time spent on the in-flight interval counts down the remaining
        // time, but only up to the interval's expected duration: beyond
        // that the job is stalled and the end moves with the clock.
        let waited = (self.last_ms - self.anchor_ms) as f64;
        let remaining = end - self.anchor_ms as f64 - waited.min(model.next_interval_ms);
        Some(Estimate {
            remaining: ms_to_duration(remaining),
            rate_per_second: model.rate_per_second,
        })
    }

    /// Revise the total (the worker found more or fewer items). The reported
    /// end is recomputed from scratch rather than filtered.
    pub fn set_total(&mut self, total: u64) {
        self.shape.total = total;
        self.refresh(true);
    }

    /// Whether an observation ending at `to` (previous one at `from`)
    /// closes the pending sample: samples are whole chunks when the chunk
    /// size is known (so several reports within one chunk, one of which
    /// contains the pause, form one sample), otherwise single intervals.
    fn completes_sample(&self, from: u64, to: u64) -> bool {
        match self.shape.chunk_size {
            Some(c) if c > 0 => {
                let start = self.pending_from.unwrap_or(from);
                // the last item completed a chunk, or the interval ran
                // into a later chunk than the one the sample started in
                to / c > (to - 1) / c || (to - 1) / c > start / c || to >= self.shape.total
            }
            _ => true,
        }
    }

    /// Turn the pending intervals into one window sample.
    fn flush_pending(&mut self) {
        let mut p = std::mem::take(&mut self.pending);
        self.pending_from = None;
        if p.items <= 0.0 {
            return;
        }
        p.per_item = (p.wall_ms - p.pauses * self.pause_ms()).max(0.0) / p.items;
        self.push_recent(p.per_item);
        self.window.push_back(p);
        if self.window.len() > WINDOW_CAP {
            self.window.pop_front();
        }
        self.detect_change();
    }

    fn push_recent(&mut self, per_item: f64) {
        self.recent.push_back(per_item);
        if self.recent.len() > GAP_REF_LEN {
            self.recent.pop_front();
        }
    }

    /// Effective pause between chunks: the declared one, unless intervals
    /// already showed that pauses are shorter.
    fn pause_ms(&self) -> f64 {
        match (self.shape.chunk_size, self.shape.pause) {
            (Some(c), Some(p)) if c > 0 => (p.as_secs_f64() * 1000.0).min(self.pause_limit_ms),
            _ => 0.0,
        }
    }

    /// Number of chunks (other than the first) whose first item lies in
    /// `from+1 ..= to`, i.e. pauses taken while processing those items.
    fn chunk_starts(&self, from: u64, to: u64) -> u64 {
        let c = match self.shape.chunk_size {
            Some(c) if c > 0 && to > from => c,
            _ => return 0,
        };
        let lo = from.div_ceil(c).max(1);
        let hi = (to - 1) / c;
        if hi >= lo { hi - lo + 1 } else { 0 }
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

    /// Two-sample change test on the rate window; drops the samples before
    /// the most likely change point when a lasting change is found.
    fn detect_change(&mut self) {
        let n = self.window.len();
        if n < 2 * MIN_SPLIT {
            return;
        }
        let (tot_items, tot_x, tot_xx) =
            self.window.iter().fold((0.0, 0.0, 0.0), |(a, b, c), s| {
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
        for (m, s) in (1..=n - MIN_SPLIT).zip(self.window.iter().rev()) {
            rx += s.per_item;
            rxx += s.per_item * s.per_item;
            if m != next_grid {
                continue;
            }
            next_grid = if m < 2 * MIN_SPLIT { m + 1 } else { 2 * m };
            let (old_mean, sd, se, _) = split(m, rx, rxx);
            let (lo, hi) = (old_mean - WINSOR_SIGMAS * sd, old_mean + WINSOR_SIGMAS * sd);
            let clipped: f64 = self
                .window
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
        for (m, s) in (1..n).zip(self.window.iter().rev()) {
            rx += s.per_item;
            rxx += s.per_item * s.per_item;
            let z = split(m, rx, rxx).3;
            if z > best.0 {
                best = (z, m);
            }
        }
        self.window.drain(..n - best.1);
    }

    /// Ratio of the mean per-item work time expected over the next `left`
    /// items to the window mean, from a least-squares line through the
    /// window's per-item times (against the cumulative item count); 1 when
    /// the slope is not significant (see [`TREND_Z`], [`TREND_HORIZON`]).
    fn trend_factor(&self, n: f64, left: f64) -> f64 {
        if n < (2 * MIN_SPLIT) as f64 || left <= 0.0 {
            return 1.0;
        }
        let (mut su, mut sy, mut suu, mut suy, mut syy, mut span) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for s in &self.window {
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
            return 1.0;
        }
        let slope = sxy / sxx;
        let se = (((syy - slope * sxy) / (n - 2.0)).max(0.0) / sxx).sqrt();
        if !slope.is_finite() || slope.abs() <= TREND_Z * se {
            return 1.0;
        }
        // Fitted level at the newest item, then the line over the first
        // `horizon` future items and flat beyond.
        let level = mean + slope * (span - su / n);
        let horizon = TREND_HORIZON * span;
        let m = left.min(horizon);
        let future = level + slope * (m * m / 2.0 + horizon * (left - m)) / left;
        (future / mean).max(0.0)
    }

    /// Recompute the model from the window and move the reported end.
    fn refresh(&mut self, reset_display: bool) {
        let total = self.shape.total;
        if self.anchor_processed >= total {
            // Done: keep the last measured throughput for `rate_per_second`.
            self.shown_end_ms = None;
            return;
        }
        self.model = None;
        if self.window.is_empty() {
            self.shown_end_ms = None;
            return;
        }
        let n = self.window.len() as f64;
        let pause = self.pause_ms();
        let (items, work, wall, x, xx) =
            self.window.iter().fold((0.0, 0.0, 0.0, 0.0, 0.0), |a, s| {
                (
                    a.0 + s.items,
                    a.1 + (s.wall_ms - s.pauses * pause).max(0.0),
                    a.2 + s.wall_ms,
                    a.3 + s.per_item,
                    a.4 + s.per_item * s.per_item,
                )
            });
        if wall <= 0.0 {
            // No time has passed yet: nothing to extrapolate from.
            self.shown_end_ms = None;
            return;
        }
        let per_item = work / items * self.trend_factor(n, (total - self.anchor_processed) as f64);
        let items_per_interval = items / n;
        let p = self.anchor_processed;
        let left = (total - p) as f64;

        // Gap process: expected interruption time per remaining item.
        let g = self.gaps;
        let gap_per_item = if g.count >= 2 {
            let recurrences = (g.count - 1) as f64;
            let mean_spacing = (g.last_at - g.first_at) as f64 / recurrences;
            let quiet_head = g.first_at as f64 / recurrences;
            let open_stretch = (p - g.last_at) as f64;
            let spacing = mean_spacing.max(quiet_head).max(open_stretch).max(1.0);
            g.excess_ms / g.count as f64 / spacing
        } else {
            0.0
        };

        let pauses_left = self.chunk_starts(p, total) as f64 * pause;
        let raw_remaining = left * (per_item + gap_per_item) + pauses_left;
        let raw_end = self.anchor_ms as f64 + raw_remaining;

        let next_items = items_per_interval.min(left);
        let next_to = p.saturating_add(next_items.ceil() as u64).min(total);
        let next_pauses = self.chunk_starts(p, next_to) as f64 * pause;
        let next_interval_ms = next_items * (per_item + gap_per_item) + next_pauses;
        let rate_per_second = if raw_remaining > 0.0 {
            left / raw_remaining * 1000.0
        } else {
            0.0
        };
        self.model = Some(Model {
            next_interval_ms,
            rate_per_second,
        });

        // Hysteresis band: BAND_SIGMAS standard deviations of the remaining
        // work time (sd per item × √(items left × items per interval)).
        let var = if n >= 2.0 {
            ((xx - x * x / n) / (n - 1.0)).max(0.0)
        } else {
            0.0
        };
        let band = (BAND_SIGMAS * var.sqrt() * (left * items_per_interval).sqrt())
            .min(BAND_CAP * raw_remaining);
        let band = if band.is_finite() { band.max(0.0) } else { 0.0 };
        let shown = match self.shown_end_ms {
            // Follow the raw end only by as much as it left the band
            // (written with min/max: `clamp` would panic on NaN bounds).
            Some(s) if !reset_display => s.max(raw_end - band).min(raw_end + band),
            _ => raw_end,
        };
        self.shown_end_ms = Some(shown.max(self.anchor_ms as f64));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers in [0, 1) (64-bit LCG), so the
    /// tests need no dependency and never flake.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        /// Uniform multiplicative noise `1 ± amp`.
        fn noise(&mut self, amp: f64) -> f64 {
            1.0 + amp * (2.0 * self.next() - 1.0)
        }
    }

    fn shape(total: u64, chunk: u64, pause_ms: u64) -> JobShape {
        JobShape {
            total,
            chunk_size: Some(chunk),
            pause: Some(Duration::from_millis(pause_ms)),
        }
    }

    /// Simulates a chunked job the way a worker reports it: one
    /// observation at the end of every chunk, a pause before every chunk
    /// but the first.
    struct Job {
        est: Estimator,
        chunk: u64,
        pause_ms: f64,
        t: f64,
        done: u64,
    }

    impl Job {
        fn new(total: u64, chunk: u64, pause_ms: u64) -> Self {
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
        fn chunk(&mut self, work_ms: f64, extra_ms: f64) {
            if self.done > 0 {
                self.t += self.pause_ms;
            }
            self.t += work_ms + extra_ms;
            self.done += self.chunk;
            self.est.observe(self.t.round() as u64, self.done);
        }
        fn remaining_ms(&self) -> f64 {
            self.est
                .estimate()
                .expect("estimate")
                .remaining
                .as_secs_f64()
                * 1000.0
        }
        fn chunks_left(&self) -> f64 {
            ((self.est.shape().total - self.done) / self.chunk) as f64
        }
        /// Expected remaining time if every remaining chunk takes `work_ms`.
        fn truth_ms(&self, work_ms: f64) -> f64 {
            self.chunks_left() * (work_ms + self.pause_ms)
        }
    }

    fn rel_err(got: f64, want: f64) -> f64 {
        (got - want).abs() / want
    }

    #[test]
    fn no_estimate_before_progress() {
        let mut est = Estimator::new(shape(1000, 100, 50));
        assert_eq!(est.estimate(), None);
        est.observe(0, 0);
        assert_eq!(est.estimate(), None);
        est.observe(500, 0); // time passes, nothing done yet
        assert_eq!(est.estimate(), None);
        est.observe(1000, 100);
        let e = est.estimate().expect("one interval is enough");
        // 100 items in 1000 ms of work; 9 chunks + 9 pauses left.
        assert!(
            (e.remaining.as_secs_f64() - 9.0 * 1.05).abs() < 1e-6,
            "{e:?}"
        );
        assert!(e.rate_per_second > 0.0);
    }

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
    fn converges_on_a_steady_rate() {
        let mut rng = Lcg(1);
        let mut job = Job::new(100_000, 500, 1000);
        for i in 0..200 {
            job.chunk(2000.0 * rng.noise(0.3), 0.0);
            if (40..180).contains(&i) {
                // From 20 % to 90 %, within 3 % of the expected remaining
                // time (2000 ms of work + 1000 ms pause per chunk). Near the
                // very end the remaining time is a few chunks and the noise
                // of those chunks dominates.
                let err = rel_err(job.remaining_ms(), job.truth_ms(2000.0));
                assert!(err < 0.03, "chunk {i}: error {err:.3}");
            }
        }
    }

    #[test]
    fn reacts_to_a_lasting_rate_change_within_bounded_updates() {
        // Bound: a lasting change of a few noise standard deviations is
        // detected after MIN_SPLIT (= 4) updates; from then on the estimate
        // is within 10 % of the new truth.
        for (before, after) in [(1000.0, 2000.0), (2000.0, 1000.0)] {
            let mut rng = Lcg(7);
            let mut job = Job::new(200_000, 1000, 500);
            for _ in 0..80 {
                job.chunk(before * rng.noise(0.1), 0.0);
            }
            assert!(rel_err(job.remaining_ms(), job.truth_ms(before)) < 0.03);
            for k in 1..=100 {
                job.chunk(after * rng.noise(0.1), 0.0);
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
        let mut rng = Lcg(3);
        let mut job = Job::new(200_000, 500, 200);
        for _ in 0..200 {
            job.chunk(1000.0 * rng.noise(0.05), 0.0);
        }
        job.chunk(5000.0, 0.0);
        for _ in 0..10 {
            job.chunk(1000.0 * rng.noise(0.05), 0.0);
            let err = rel_err(job.remaining_ms(), job.truth_ms(1000.0));
            assert!(err < 0.04, "error {err:.3} after a single spike");
        }
    }

    #[test]
    fn a_single_long_gap_is_neither_optimistic_nor_pessimistic() {
        let mut rng = Lcg(11);
        let mut job = Job::new(100_000, 500, 1000);
        for _ in 0..80 {
            job.chunk(1000.0 * rng.noise(0.2), 0.0);
        }
        // A restart: ten minutes without progress, i.e. 300 chunk times.
        job.chunk(1000.0, 600_000.0);
        let just_after = rel_err(job.remaining_ms(), job.truth_ms(1000.0));
        assert!(
            just_after < 0.05,
            "right after the gap: error {just_after:.3}"
        );
        for _ in 0..100 {
            job.chunk(1000.0 * rng.noise(0.2), 0.0);
            let err = rel_err(job.remaining_ms(), job.truth_ms(1000.0));
            assert!(err < 0.05, "after the gap: error {err:.3}");
        }
    }

    #[test]
    fn recurring_stalls_are_expected_to_recur() {
        let mut rng = Lcg(5);
        let mut job = Job::new(300_000, 500, 1000);
        let stall = 40_000.0; // every 50 chunks: +40 s per 50 chunks
        for i in 0..600 {
            let extra = if i % 50 == 25 { stall } else { 0.0 };
            job.chunk(1000.0 * rng.noise(0.2), extra);
            if (80..550).contains(&i) {
                // After two stalls, the expected stall time is included:
                // 0.8 s per chunk on top of 2 s of work + pause.
                let with_stalls = job.truth_ms(1000.0) + job.chunks_left() * stall / 50.0;
                let err = rel_err(job.remaining_ms(), with_stalls);
                assert!(err < 0.15, "chunk {i}: error {err:.3}");
            }
        }
    }

    #[test]
    fn remaining_is_positive_until_done_even_when_stalled() {
        let mut rng = Lcg(9);
        let mut est = Estimator::new(shape(5_000, 100, 300));
        let mut t = 0u64;
        for c in 1..=50u64 {
            t += 300 + (700.0 * rng.noise(0.5)) as u64;
            est.observe(t, c * 100);
            let e = est.estimate().unwrap();
            if c < 50 {
                assert!(e.remaining > Duration::ZERO, "chunk {c}: {e:?}");
            } else {
                assert_eq!(e.remaining, Duration::ZERO);
            }
        }
        // Heartbeats without progress during a stall: the remaining time
        // counts down at most by the expected in-flight interval, then
        // holds, so the predicted end moves later with the clock.
        let mut est = Estimator::new(shape(5_000, 100, 300));
        for c in 1..=10u64 {
            est.observe(c * 1300, c * 100);
        }
        let before = est.estimate().unwrap().remaining;
        let mut last_end = 0.0;
        for k in 1..=20u64 {
            let now = 13_000 + k * 1000;
            est.observe(now, 1000);
            let rem = est.estimate().unwrap().remaining;
            assert!(rem > Duration::ZERO && rem <= before);
            let end = now as f64 + rem.as_secs_f64() * 1000.0;
            assert!(end >= last_end - 1e-6, "end moved earlier during a stall");
            last_end = end;
        }
        // Held at "remaining after the in-flight chunk": one chunk (about
        // 1.03 s of work + 0.3 s pause) less than before the stall.
        let held = est.estimate().unwrap().remaining.as_secs_f64();
        let drop = before.as_secs_f64() - held;
        assert!((1.2..1.45).contains(&drop), "{drop}");
    }

    #[test]
    fn duplicate_and_backwards_observations_are_ignored() {
        let mut a = Estimator::new(shape(10_000, 100, 100));
        let mut b = a.clone();
        for c in 1..=20u64 {
            let t = c * 1100;
            a.observe(t, c * 100);
            b.observe(t, c * 100);
            b.observe(t, c * 100); // duplicate
            b.observe(t / 2, c * 100 + 50); // time went backwards
            b.observe(t, c * 50); // count went backwards
            assert_eq!(a.estimate(), b.estimate(), "chunk {c}");
        }
        // Extreme values must not panic.
        b.observe(u64::MAX, u64::MAX - 1);
        b.observe(u64::MAX, u64::MAX);
        b.observe(0, 0);
        assert_eq!(b.estimate().unwrap().remaining, Duration::ZERO);
        let mut c = Estimator::new(shape(u64::MAX, 1, 1));
        c.observe(0, 5); // progress in zero time
        assert_eq!(c.estimate(), None, "no work time measured yet");
        c.observe(1, 6);
        c.observe(u64::MAX, 7);
        assert!(c.estimate().is_some());
    }

    #[test]
    fn total_zero_and_done_jobs() {
        let mut est = Estimator::new(shape(0, 100, 100));
        assert_eq!(est.estimate().unwrap().remaining, Duration::ZERO);
        est.observe(10, 0);
        assert_eq!(est.estimate().unwrap().remaining, Duration::ZERO);

        let mut est = Estimator::new(shape(1000, 100, 0));
        for c in 1..=5u64 {
            est.observe(c * 1000, c * 100);
        }
        assert!(est.estimate().unwrap().remaining > Duration::from_secs(4));
        est.observe(10_000, 1000);
        let e = est.estimate().unwrap();
        assert_eq!(e.remaining, Duration::ZERO);
        assert!(e.rate_per_second > 0.0, "keeps the last measured rate");
        // The worker finds more items: estimating resumes at the same rate.
        est.set_total(2500);
        let rem = est.estimate().unwrap().remaining.as_secs_f64();
        assert!((rem - 15.0).abs() < 1e-6, "{rem}");
        est.set_total(900); // revised below what is done
        assert_eq!(est.estimate().unwrap().remaining, Duration::ZERO);
        est.observe(11_000, 1200); // count beyond the total
        assert_eq!(est.estimate().unwrap().remaining, Duration::ZERO);
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
        let mut rng = Lcg(17);
        let sh = shape(100_000, 500, 1000);
        let (mut coarse, mut fine) = (Estimator::new(sh), Estimator::new(sh));
        let mut t = 0.0;
        for c in 0..200u64 {
            if c > 0 {
                t += 1000.0;
            }
            let per_item = 2.0 * rng.noise(0.3);
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

    #[test]
    fn jitter_is_damped_on_noisy_chunks() {
        // Median change of the predicted end between updates, relative to
        // the remaining time, against the undamped "average rate since
        // start" prediction on the same noisy job.
        let mut rng = Lcg(21);
        let (total, chunk, pause) = (200_000u64, 500u64, 500.0);
        let mut job = Job::new(total, chunk, pause as u64);
        let (mut ours, mut plain) = (Vec::new(), Vec::new());
        let mut prev: Option<(f64, f64)> = None;
        for _ in 0..380 {
            job.chunk(1500.0 * rng.noise(0.5), 0.0);
            let rem = job.remaining_ms();
            let avg_end = job.t / job.done as f64 * total as f64;
            let end = job.t + rem;
            if let Some((p_end, p_avg)) = prev {
                ours.push((end - p_end).abs() / rem);
                plain.push((avg_end - p_avg).abs() / rem);
            }
            prev = Some((end, avg_end));
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (a, b) = (median(&mut ours), median(&mut plain));
        assert!(a < 0.25 * b, "median jitter {a:.5} vs undamped {b:.5}");
    }
}
