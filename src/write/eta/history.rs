//! What a finished job leaves for the next job of its kind: a
//! [`RunSummary`] per run, kept in a [`KindHistory`] of the last
//! [`HISTORY_LEN`] runs, from which a new job's estimator takes its prior
//! ([`KindHistory::prior`], see `prior.rs`) and a staged job its ETA
//! ([`KindHistory::staged`]).
//!
//! A run is summed up by its duration and size, its rate, pauses and
//! interruptions, the time in each declared step, and its *profile*: the
//! elapsed time at which it reached each of [`PROFILE_MARKS`] of its
//! total. The profile is what lets a new run lean on its kind early: a
//! kind that always prepares for a while, warms up, or gets slower half
//! way shows it there, where the run's own first chunks cannot.

use std::collections::VecDeque;

/// Runs kept per kind: enough to know a kind's typical profile and its
/// spread (a handful already does), few enough that a kind that changed
/// (new hardware, a bigger input) forgets its old self within weeks.
pub const HISTORY_LEN: usize = 50;

/// Shares of the total at which a run's elapsed time is recorded; the
/// first, 0, stands for the first progress (how long the job prepared).
/// Dense in the first fifth, where a job's own evidence is thinnest and
/// its kind's helps most; coarser later, where the estimator's own window
/// decides anyway.
pub const PROFILE_MARKS: [f64; 10] = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 0.9];

/// The time a finished run spent in one of its declared steps.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepTime {
    /// The step's declared name.
    pub name: String,
    /// Wall-clock time from entering the step to entering the next one
    /// (or to the job's end), ms.
    pub ms: u64,
}

/// A compact summary of one finished run of a kind of job.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunSummary {
    /// Items the run processed.
    pub total: u64,
    /// Wall-clock time from start to end, ms.
    pub duration_ms: u64,
    /// Mean work time per item over the run's chunks (pauses and
    /// interruptions left out), ms, and the standard deviation of one
    /// chunk's per-item time around it.
    pub work_ms_per_item: f64,
    /// See [`work_ms_per_item`](Self::work_ms_per_item).
    pub work_ms_per_item_sd: f64,
    /// Pauses between chunks taken, and their time in all, ms.
    pub pauses: u64,
    /// See [`pauses`](Self::pauses).
    pub pause_ms: u64,
    /// Interruptions (see the estimator's gaps) and the time they cost
    /// beyond the work they held, ms.
    pub interruptions: u64,
    /// See [`interruptions`](Self::interruptions).
    pub interruption_ms: u64,
    /// Elapsed time at which the run reached each of [`PROFILE_MARKS`]
    /// of its total, ms (non-decreasing, at most `duration_ms`).
    pub marks_ms: Vec<u64>,
    /// The end the estimator predicted from the run's own evidence (no
    /// prior) when it reached each mark, ms since the start; shorter than
    /// `marks_ms` when a mark was passed before the first estimate or at
    /// the end. How far off it was, run after run, is what a prior
    /// corrects early on.
    #[serde(default)]
    pub estimated_ends_ms: Vec<u64>,
    /// Time in each declared step, in the order they ran (empty for a
    /// job without steps).
    pub steps: Vec<StepTime>,
}

impl RunSummary {
    /// The same summary with the time in each declared step.
    pub fn with_steps(mut self, steps: Vec<StepTime>) -> Self {
        self.steps = steps;
        self
    }

    /// The summary of a staged run (declared steps, no total): its
    /// duration and the time in each step, nothing of a rate.
    pub fn staged(duration_ms: u64, steps: Vec<StepTime>) -> Self {
        RunSummary {
            total: 0,
            duration_ms,
            work_ms_per_item: 0.0,
            work_ms_per_item_sd: 0.0,
            pauses: 0,
            pause_ms: 0,
            interruptions: 0,
            interruption_ms: 0,
            marks_ms: Vec::new(),
            estimated_ends_ms: Vec::new(),
            steps,
        }
    }

    /// Whether the summary can teach anything about its kind's profile:
    /// a size, a duration and every mark, in order.
    pub(super) fn has_profile(&self) -> bool {
        self.total > 0
            && self.duration_ms > 0
            && self.marks_ms.len() == PROFILE_MARKS.len()
            && self.marks_ms.windows(2).all(|w| w[0] <= w[1])
            && self.marks_ms.last().is_some_and(|&m| m <= self.duration_ms)
    }
}

/// The last [`HISTORY_LEN`] runs of one kind of job, oldest first.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KindHistory {
    runs: VecDeque<RunSummary>,
}

/// A staged job's remaining time from its kind's step times: the
/// median over past runs and an 80 % range (their 10th and 90th
/// percentiles, widened while there are few).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagedEstimate {
    /// Expected time still needed, ms.
    pub remaining_ms: u64,
    /// Lower end of the 80 % range, ms.
    pub earliest_ms: u64,
    /// Upper end of the 80 % range, ms.
    pub latest_ms: u64,
}

impl KindHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a finished run, forgetting the oldest beyond [`HISTORY_LEN`].
    pub fn push(&mut self, run: RunSummary) {
        self.runs.push_back(run);
        while self.runs.len() > HISTORY_LEN {
            self.runs.pop_front();
        }
    }

    /// The history of `runs`, oldest first (only the last
    /// [`HISTORY_LEN`] are kept).
    pub fn of(runs: impl IntoIterator<Item = RunSummary>) -> Self {
        let mut history = Self::new();
        for run in runs {
            history.push(run);
        }
        history
    }

    /// The runs kept, oldest first.
    pub fn runs(&self) -> impl ExactSizeIterator<Item = &RunSummary> {
        self.runs.iter()
    }

    /// Number of runs kept.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether no run is kept.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The remaining time of a staged job (declared `steps`, no total)
    /// that is `in_step_ms` into step `current`, from the time past runs
    /// that declared the same steps spent in the steps from `current` on
    /// (see [`StepRuns::staged`]). `None` when no past run declared these
    /// steps, or `current` is none of them.
    pub fn staged(&self, steps: &[&str], current: &str, in_step_ms: u64) -> Option<StagedEstimate> {
        let at = steps.iter().position(|s| *s == current)?;
        self.step_runs(steps, usize::MAX)?.staged(at, in_step_ms)
    }

    /// The step times of the runs that declared exactly `steps`, the
    /// newest first, as many as fit in `max_bytes` stored (postcard): what
    /// a staged job of the kind carries with it ([`STEP_RUNS_BYTES`] for a
    /// job written over HTTP, which keeps it in the hot store). `None`
    /// when no run declared these steps.
    pub fn step_runs(&self, steps: &[&str], max_bytes: usize) -> Option<StepRuns> {
        let mut kept = StepRuns::default();
        // Stored as an `Option`: its tag, then the number of runs.
        let mut bytes = 2;
        let matching = self
            .runs
            .iter()
            .rev()
            .filter(|r| r.steps.len() == steps.len() && !steps.is_empty())
            .filter(|r| r.steps.iter().zip(steps).all(|(a, b)| a.name == *b));
        for run in matching {
            let times: Vec<u64> = run.steps.iter().map(|s| s.ms).collect();
            let size = 1 + times.iter().map(|&ms| varint_len(ms)).sum::<usize>();
            if bytes + size > max_bytes {
                break;
            }
            bytes += size;
            kept.runs.push(times);
        }
        (!kept.runs.is_empty()).then_some(kept)
    }
}

/// The bytes postcard takes for `v` (a LEB128 varint: 7 bits a byte).
fn varint_len(v: u64) -> usize {
    (64 - v.leading_zeros() as usize).div_ceil(7).max(1)
}

/// What a staged job stores of its kind's history at most, in bytes: the
/// same bound as a prior's ([`Prior`](super::Prior), 200 bytes at most),
/// so a job's stored state grows by no more with either. With five steps
/// of a few minutes each (3 bytes a time) it holds the last 12 runs.
pub const STEP_RUNS_BYTES: usize = 200;

/// The time each step took in past runs of a kind that declared the
/// same steps (newest first): what [`StepRuns::staged`] estimates a
/// staged job from.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepRuns {
    /// Per run, the time in each step, ms.
    runs: Vec<Vec<u64>>,
}

impl StepRuns {
    /// Number of runs kept.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether no run is kept.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The remaining time of a staged job `in_step_ms` into its step
    /// number `at` (from 0): for each past run, what is left of the
    /// current step (its time in it beyond `in_step_ms`; a run that left
    /// the step sooner says little, so the current step is then taken to
    /// last a quarter longer than it has so far) plus its time in every
    /// later step; the median over the runs, and their 10th and 90th
    /// percentiles as the 80 % range (widened with fewer than ten runs).
    /// `None` when `at` is past the steps.
    pub fn staged(&self, at: usize, in_step_ms: u64) -> Option<StagedEstimate> {
        let mut left: Vec<f64> = self
            .runs
            .iter()
            .filter(|r| at < r.len())
            .map(|r| {
                let this = r[at] as f64;
                let overdue = 0.25 * in_step_ms as f64;
                let rest: f64 = r[at + 1..].iter().map(|&ms| ms as f64).sum();
                (this - in_step_ms as f64).max(overdue) + rest
            })
            .collect();
        if left.is_empty() {
            return None;
        }
        left.sort_by(f64::total_cmp);
        let q = |p: f64| left[((left.len() - 1) as f64 * p).round() as usize];
        let (lo, mid, hi) = (q(0.1), q(0.5), q(0.9));
        // With few runs the sample percentiles are too close together
        // (they are the extremes): widen, less with every run.
        let widen = (1.0 - left.len() as f64 / STAGED_FEW).max(0.0) * 0.5 * mid;
        let ms = |v: f64| v.max(0.0).round() as u64;
        Some(StagedEstimate {
            remaining_ms: ms(mid),
            earliest_ms: ms((lo - widen).min(mid)),
            latest_ms: ms((hi + widen).max(mid)),
        })
    }
}

/// Runs of a staged kind below which its 80 % range is widened, by up to
/// half the median remaining time with one run and less with every run:
/// the 10th and 90th percentiles of fewer than about ten runs are their
/// extremes.
const STAGED_FEW: f64 = 10.0;

/// What the estimator records during a run for its [`RunSummary`]: the
/// profile marks reached so far, its own estimate at each, and sums over
/// its chunks' per-item work times. About 80 bytes stored.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Recorder {
    marks_ms: Vec<u64>,
    estimated_ends_ms: Vec<u64>,
    /// The count at the first progress (where mark 0 stands).
    first_count: u64,
    samples: u32,
    x: f64,
    xx: f64,
}

impl Recorder {
    /// The count moved from `from` (at `from_ms`) to `to` (at `to_ms`):
    /// record the marks crossed, at the time a steady pace in between
    /// would have reached them (the first progress at its own time).
    pub(super) fn progress(&mut self, total: u64, from: (u64, u64), to: (u64, u64)) {
        let ((from_ms, from_p), (to_ms, to_p)) = (from, to);
        if self.marks_ms.is_empty() && to_p > 0 {
            // Mark 0: the first progress.
            self.marks_ms.push(to_ms);
            self.first_count = to_p;
        }
        while let Some(&mark) = PROFILE_MARKS.get(self.marks_ms.len()) {
            let target = mark * total as f64;
            if (to_p as f64) < target {
                break;
            }
            let share = ((target - from_p as f64) / (to_p - from_p) as f64).clamp(0.0, 1.0);
            let at = from_ms as f64 + share * (to_ms - from_ms) as f64;
            let prev = self.marks_ms.last().copied().unwrap_or(0);
            self.marks_ms
                .push((at.round() as u64).clamp(prev, to_ms.max(prev)));
        }
    }

    /// The estimator's own predicted end (ms since the start) as of the
    /// latest observation: kept for the marks reached since the last one.
    pub(super) fn estimated_end(&mut self, end_ms: f64) {
        while self.estimated_ends_ms.len() < self.marks_ms.len() {
            self.estimated_ends_ms
                .push(end_ms.clamp(0.0, u64::MAX as f64).round() as u64);
        }
    }

    pub(super) fn estimated_ends_ms(&self) -> &[u64] {
        &self.estimated_ends_ms
    }

    /// A chunk's per-item work time, for the run's rate and its spread.
    pub(super) fn sample(&mut self, per_item: f64) {
        self.samples = self.samples.saturating_add(1);
        self.x += per_item;
        self.xx += per_item * per_item;
    }

    /// Mean and standard deviation of the per-item work times seen.
    pub(super) fn rate(&self) -> (f64, f64) {
        let n = f64::from(self.samples);
        if n < 1.0 {
            return (0.0, 0.0);
        }
        let mean = self.x / n;
        let var = if n >= 2.0 {
            ((self.xx - self.x * self.x / n) / (n - 1.0)).max(0.0)
        } else {
            0.0
        };
        (mean, var.sqrt())
    }

    /// The count at the first progress (0 before it).
    pub(super) fn first_count(&self) -> u64 {
        self.first_count
    }

    pub(super) fn marks_ms(&self) -> &[u64] {
        &self.marks_ms
    }
}

#[cfg(test)]
mod tests;
