//! Learning a [`Prior`] from the finished runs of a kind: its typical
//! pace and profile, how much of a run's pace so far carries on, the
//! spreads, and the estimator's own error at each mark.
//!
//! Its own file because it runs once, when a job of the kind starts, on
//! the kind's history; the rest of `prior.rs` is what the prior does
//! during the run (its remaining time, the drop test, the blend).

use super::{MARKS, PRIOR_RUNS, PRIOR_SPREAD, Prior, SCALE};
use crate::write::eta::history::{KindHistory, RunSummary};

impl KindHistory {
    /// The prior a new job of this kind starts with; `None` without a
    /// finished run that recorded its profile.
    pub fn prior(&self) -> Option<Prior> {
        Prior::learn(self.runs().filter(|r| r.has_profile()))
    }
}

impl Prior {
    fn learn<'a>(runs: impl Iterator<Item = &'a RunSummary>) -> Option<Prior> {
        let runs: Vec<&RunSummary> = runs.collect();
        let n = runs.len() as f64;
        if runs.is_empty() {
            return None;
        }
        let ln_pace: Vec<f64> = runs
            .iter()
            .map(|r| (r.duration_ms as f64 / r.total as f64).ln())
            .collect();
        let ln_mean = ln_pace.iter().sum::<f64>() / n;
        let ms_per_item = ln_mean.exp();
        let fixed = |v: f64| (v * SCALE).round().clamp(0.0, f64::from(u16::MAX)) as u16;
        let v0 = PRIOR_SPREAD * PRIOR_SPREAD;
        let mut prior = Prior {
            runs: runs.len().min(usize::from(u16::MAX)) as u16,
            ms_per_item,
            shares: [0; MARKS],
            carry: [0; MARKS],
            spread: [0; MARKS],
            pace_sd: [0; MARKS],
            own_bias: [0; MARKS],
            own_sd: [0; MARKS],
            dropped: false,
        };
        for k in 0..MARKS {
            let share = runs
                .iter()
                .map(|r| r.marks_ms[k] as f64 / r.duration_ms as f64)
                .sum::<f64>()
                / n;
            let share = share.clamp(1e-4, 1.0 - 1e-4);
            // Log pace before the mark (a) and after it (b), each against
            // the kind's typical one for the run's size.
            let (mut aa, mut ab, mut pairs) = (0.0, 0.0, Vec::with_capacity(runs.len()));
            for r in &runs {
                let typical = ms_per_item * r.total as f64;
                let before = (r.marks_ms[k] as f64).max(1.0);
                let after = ((r.duration_ms - r.marks_ms[k]) as f64).max(1.0);
                let a = (before / (typical * share)).ln();
                let b = (after / (typical * (1.0 - share))).ln();
                aa += a * a;
                ab += a * b;
                pairs.push((a, b));
            }
            let carry = ((ab + PRIOR_RUNS * 0.5 * v0) / (aa + PRIOR_RUNS * v0)).clamp(0.0, 1.0);
            let resid: f64 = pairs.iter().map(|(a, b)| (b - carry * a).powi(2)).sum();
            prior.shares[k] = fixed(share);
            prior.carry[k] = (carry * 100.0).round() as u8;
            // A new run's spread around a mean learned from n runs: the
            // runs' own, and the mean's error (1/n of it, in variance).
            // With two or three runs the latter is most of what is known.
            let new_run = 1.0 + 1.0 / n;
            let spread_var = (resid + PRIOR_RUNS * v0) / (n + PRIOR_RUNS);
            prior.spread[k] = fixed((spread_var * new_run).sqrt());
            // The paces are measured against their own mean: n − 1
            // degrees of freedom.
            let pace_var = (aa + PRIOR_RUNS * v0) / (n - 1.0 + PRIOR_RUNS);
            prior.pace_sd[k] = fixed((pace_var * new_run).sqrt());
            // The estimator's own error at the mark, on the runs that had
            // an estimate there; shrunk towards none, with PRIOR_SPREAD.
            let (mut e, mut ee, mut m) = (0.0, 0.0, 0.0);
            for r in runs.iter().filter(|r| r.estimated_ends_ms.len() > k) {
                let at = r.marks_ms[k] as f64;
                let said = (r.estimated_ends_ms[k] as f64 - at).max(1.0);
                let took = (r.duration_ms as f64 - at).max(1.0);
                let err = (said / took).ln();
                e += err;
                ee += err * err;
                m += 1.0;
            }
            let bias = e / (m + PRIOR_RUNS);
            prior.own_bias[k] = (bias * SCALE).round().clamp(-32_000.0, 32_000.0) as i16;
            prior.own_sd[k] = fixed(((ee + PRIOR_RUNS * v0) / (m + PRIOR_RUNS)).sqrt());
        }
        // A pace over the first part of a run averages fewer items than
        // one over a longer part, so across runs it spreads at least as
        // much: each mark's is at least the later marks'. (Two runs of a
        // swinging load whose first tenths happened to agree made a third,
        // caught in a slow swing, look unlike its kind at 10 %.)
        for k in (0..MARKS - 1).rev() {
            prior.pace_sd[k] = prior.pace_sd[k].max(prior.pace_sd[k + 1]);
        }
        Some(prior)
    }
}
