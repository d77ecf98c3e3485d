//! Runs between detected changes, remembered as sums: they tell a load
//! that swings around a steady mean (the level comes back) from one that
//! moved on (a step, a warm-up, a ramp), say how far it swings, and how
//! large the last change was (see the module docs of [`super`]).

use std::collections::VecDeque;

use super::chunks::Sample;

/// A detected change whose new level comes back to an earlier run's level
/// (`|new − earlier| < RETURN_TOL ·` the largest step away from that level
/// since) is a return, not a new level: the load swings around a mean, and
/// the runs since that earlier one are pooled. Half way is the natural
/// boundary between "went back" and "went on"; a step after a false alarm
/// lands far beyond it.
pub const RETURN_TOL: f64 = 0.5;

/// Number of runs (stretches between detected changes) remembered, as
/// sums, for [`RETURN_TOL`]. The change test splits one period of a
/// swinging load into two to four runs, so eight hold two or more periods,
/// at 48 bytes each.
pub const RUN_HISTORY: usize = 8;

/// Sums over a run of samples: enough to pool them without keeping them.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Summary {
    #[serde(with = "super::compact::whole")]
    pub(super) n: f64,
    #[serde(with = "super::compact::whole")]
    pub(super) items: f64,
    #[serde(with = "super::compact::whole")]
    pub(super) wall_ms: f64,
    #[serde(with = "super::compact::whole")]
    pub(super) pauses: f64,
    /// Σ per-item work time and Σ of its square.
    pub(super) x: f64,
    pub(super) xx: f64,
}

impl Summary {
    /// The sums over `samples`.
    pub(super) fn of(samples: impl Iterator<Item = Sample>) -> Self {
        let mut sum = Summary::default();
        for s in samples {
            sum.n += 1.0;
            sum.items += s.items;
            sum.wall_ms += s.wall_ms;
            sum.pauses += s.pauses;
            sum.x += s.per_item;
            sum.xx += s.per_item * s.per_item;
        }
        sum
    }

    fn add(&mut self, o: &Summary) {
        self.n += o.n;
        self.items += o.items;
        self.wall_ms += o.wall_ms;
        self.pauses += o.pauses;
        self.x += o.x;
        self.xx += o.xx;
    }

    /// Mean per-item work time of the run.
    fn mean(&self) -> f64 {
        self.x / self.n
    }
}

/// How far a load swings between levels, for the range (`range.rs`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Swing {
    /// Standard deviation of the log level over the runs it swung
    /// between, each run weighted by its items.
    pub(super) spread: f64,
    /// Mean items per run (about half a swing).
    pub(super) stretch: f64,
    /// Whether the estimate pools those runs (a long-run mean) rather
    /// than following the newest level.
    pub(super) pooled: bool,
}

/// The last [`RUN_HISTORY`] runs dropped from the rate window, and the
/// pool of those the level keeps swinging between.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Runs {
    /// Oldest first.
    runs: VecDeque<Summary>,
    /// Runs pooled while the level swings back (empty otherwise).
    pool: Summary,
    /// Size of the last detected change (see [`last_step`](Self::last_step)).
    last_step: f64,
}

impl Runs {
    /// A change was detected: `dropped` is the run before it, `kept` the
    /// samples after it (still in the window).
    pub(super) fn record(&mut self, dropped: Summary, kept: &Summary) {
        let (new_level, old_level) = (kept.mean(), dropped.mean());
        // Relative to the new level, but at most the log of the ratio: a
        // slow start that turns 20x faster is a step of ln 20 = 3, not 19
        // times the new level (the range would stay many times the
        // remaining time for a hundred chunks after it).
        self.last_step = ((new_level - old_level) / new_level)
            .abs()
            .min((new_level / old_level).ln().abs());
        self.runs.push_back(dropped);
        if self.runs.len() > RUN_HISTORY {
            self.runs.pop_front();
        }
        // Pool the runs since the oldest one whose level the new run comes
        // back to; none when the level moved on.
        self.pool = Summary::default();
        for j in 0..self.runs.len() {
            let level = self.runs[j].mean();
            let away = self
                .runs
                .iter()
                .skip(j + 1)
                .map(|r| (r.mean() - level).abs())
                .fold(0.0, f64::max);
            if (new_level - level).abs() < RETURN_TOL * away {
                for r in self.runs.iter().skip(j) {
                    self.pool.add(r);
                }
                break;
            }
        }
    }

    /// Whether no change has been detected yet.
    pub(super) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The pooled runs, while the load swings.
    pub(super) fn pool(&self) -> Option<&Summary> {
        (self.pool.n > 0.0).then_some(&self.pool)
    }

    /// How far the load swings, once its level has come back to an
    /// earlier run's (by the test of [`record`](Self::record), over the
    /// runs remembered and the `current` one, still in the window): the
    /// spread of the levels since that earlier run. `None` while no level
    /// has come back: a steady job, a step, a warm-up or a ramp never
    /// does.
    pub(super) fn swing(&self, current: &Summary) -> Option<Swing> {
        let levels: Vec<&Summary> = self.runs.iter().chain([current]).collect();
        let from = (0..levels.len()).find(|&j| {
            let level = levels[j].mean();
            let mut away: f64 = 0.0;
            levels.iter().skip(j + 1).any(|r| {
                let back = (r.mean() - level).abs() < RETURN_TOL * away;
                away = away.max((r.mean() - level).abs());
                back
            })
        })?;
        let since = &levels[from..];
        let items: f64 = since.iter().map(|r| r.items).sum();
        let ln = |r: &Summary| r.mean().max(f64::MIN_POSITIVE).ln();
        let mean = since.iter().map(|r| r.items * ln(r)).sum::<f64>() / items;
        let var = since
            .iter()
            .map(|r| r.items * (ln(r) - mean).powi(2))
            .sum::<f64>()
            / items;
        // The current run is not over: the ended ones give the length.
        let ended = &since[..since.len() - 1];
        let stretch = ended.iter().map(|r| r.items).sum::<f64>() / ended.len() as f64;
        (var.is_finite() && stretch > 0.0).then_some(Swing {
            spread: var.sqrt(),
            stretch,
            pooled: self.pool().is_some(),
        })
    }

    /// Size of the last detected change relative to the level after it,
    /// at most the log of the ratio of the levels (0 before any change).
    pub(super) fn last_step(&self) -> f64 {
        if self.last_step.is_finite() {
            self.last_step
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::write::eta::testkit::{Job, noise, rel_err};

    #[test]
    fn a_swinging_load_is_averaged_not_chased() {
        // Work swings ±40 % around 1000 ms with a period of 60 chunks. The
        // change test cuts the window at the swings; pooled, the runs give
        // the long-run mean, so from the second period on the estimate is
        // within 6 % of the truth (chasing the swings is off by up to 45 %).
        let mut rng = fastrand::Rng::with_seed(4);
        let mut job = Job::new(300_000, 500, 500);
        let mut worst: f64 = 0.0;
        for i in 0..540 {
            let phase = 2.0 * std::f64::consts::PI * i as f64 / 60.0;
            job.chunk(
                1000.0 * (1.0 + 0.4 * phase.sin()) * noise(&mut rng, 0.05),
                0.0,
            );
            if (120..480).contains(&i) {
                worst = worst.max(rel_err(job.remaining_ms(), job.truth_ms(1000.0)));
            }
        }
        assert!(job.est.window.swinging(), "the swings were recognised");
        assert!(worst < 0.06, "worst error {worst:.3}");
    }

    #[test]
    fn a_large_speedup_is_a_step_of_its_log_ratio() {
        // A slow start: the first 20 of 400 chunks take 20x as long, then
        // 1000 ms each. 40 chunks after the speedup the upper end of the
        // range is about 1.9 times the remaining time (counted as 20
        // times the new level, the step put it at 10.6 times).
        let mut rng = fastrand::Rng::with_seed(6);
        let mut job = Job::new(200_000, 500, 200);
        for i in 0..60 {
            let slow = if i < 20 { 20.0 } else { 1.0 };
            job.chunk(1000.0 * slow * noise(&mut rng, 0.2), 0.0);
        }
        let step = job.est.window.last_step();
        assert!((step - 20f64.ln()).abs() < 0.5, "step {step:.2}");
        let e = job.est.estimate().unwrap();
        let latest = e.range.latest.as_secs_f64() / e.remaining.as_secs_f64();
        assert!(latest < 2.5, "latest {latest:.2}x the remaining time");
    }
}
