//! Hysteresis on the displayed end: the reported end only moves when the
//! raw prediction leaves a band around it, and then only by as much as it
//! left the band (see the module docs of [`super`]).

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

/// The reported (hysteresis-filtered) end, in ms since the job started.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Hysteresis {
    shown_end_ms: Option<f64>,
}

impl Hysteresis {
    /// The reported end, if there is one.
    pub(super) fn end_ms(&self) -> Option<f64> {
        self.shown_end_ms
    }

    /// No end to report (no estimate, or the job is done).
    pub(super) fn clear(&mut self) {
        self.shown_end_ms = None;
    }

    /// Move the reported end towards `raw_end`. The band is
    /// [`BAND_SIGMAS`] × `sd_remaining` (the standard deviation of the
    /// remaining work time), capped at [`BAND_CAP`] of `raw_remaining`;
    /// `reset` jumps straight to `raw_end`. The end never precedes `now_ms`.
    pub(super) fn update(
        &mut self,
        raw_end: f64,
        raw_remaining: f64,
        sd_remaining: f64,
        now_ms: f64,
        reset: bool,
    ) {
        let band = (BAND_SIGMAS * sd_remaining).min(BAND_CAP * raw_remaining);
        let band = if band.is_finite() { band.max(0.0) } else { 0.0 };
        let shown = match self.shown_end_ms {
            // Follow the raw end only by as much as it left the band
            // (written with min/max: `clamp` would panic on NaN bounds).
            Some(s) if !reset => s.max(raw_end - band).min(raw_end + band),
            _ => raw_end,
        };
        self.shown_end_ms = Some(shown.max(now_ms));
    }
}

#[cfg(test)]
mod tests {
    use crate::write::eta::testkit::{Job, noise};

    #[test]
    fn jitter_is_damped_on_noisy_chunks() {
        // Median change of the predicted end between updates, relative to
        // the remaining time, against the undamped "average rate since
        // start" prediction on the same noisy job.
        let mut rng = fastrand::Rng::with_seed(21);
        let (total, chunk, pause) = (200_000u64, 500u64, 500.0);
        let mut job = Job::new(total, chunk, pause as u64);
        let (mut ours, mut plain) = (Vec::new(), Vec::new());
        let mut prev: Option<(f64, f64)> = None;
        for _ in 0..380 {
            job.chunk(1500.0 * noise(&mut rng, 0.5), 0.0);
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
