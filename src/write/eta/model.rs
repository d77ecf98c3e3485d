//! The step that combines the mechanisms into one model: after every
//! change, [`Estimator`]'s rate window, gaps, pauses, trend, range and
//! prior are read together into the remaining time, its range and the
//! throughput, and the reported end is moved.
//!
//! Its own file because it is the one place where the mechanisms meet:
//! the estimator itself (`mod.rs`) only records observations and reads
//! the model back.

use super::{Estimator, chunks::chunk_starts, prior, range};

/// Model state as of the anchor, kept between observations.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(super) struct Model {
    /// Expected duration of the next interval, for waiting without progress.
    pub(super) next_interval_ms: f64,
    pub(super) rate_per_second: f64,
    /// How far the range reaches below and above the reported end, ms.
    pub(super) range_ms: (f64, f64),
}

impl Estimator {
    /// Recompute the model from the window and move the reported end.
    pub(super) fn refresh(&mut self, reset_display: bool) {
        let total = self.shape.total;
        if self.anchor_processed >= total {
            // Done: keep the last measured throughput for `rate_per_second`.
            self.display.clear();
            return;
        }
        self.model = None;
        if self.window.is_empty() {
            self.display.clear();
            return;
        }
        let pause = self.chunks.pause_ms(&self.shape);
        let w = self.window.stats(pause);
        if w.wall_ms <= 0.0 {
            // No time has passed yet: nothing to extrapolate from.
            self.display.clear();
            return;
        }
        let p = self.anchor_processed;
        let left = (total - p) as f64;
        let trend_factor = self.window.trend_factor(left);
        let per_item = w.work_ms / w.items * trend_factor;
        let items_per_interval = w.items / w.n;
        let gap_per_item = self.gaps.per_item(p);

        let pauses_left = chunk_starts(&self.shape, p, total) as f64 * pause;
        let own_remaining = left * (per_item + gap_per_item) + pauses_left;

        let next_items = items_per_interval.min(left);
        let next_to = p.saturating_add(next_items.ceil() as u64).min(total);
        let next_pauses = chunk_starts(&self.shape, p, next_to) as f64 * pause;
        let next_interval_ms = next_items * (per_item + gap_per_item) + next_pauses;
        // Standard deviation of the remaining work time: sd per item ×
        // √(items left × items per interval).
        let var = if w.n >= 2.0 {
            ((w.xx - w.x * w.x / w.n) / (w.n - 1.0)).max(0.0)
        } else {
            0.0
        };
        let sd_remaining = var.sqrt() * (left * items_per_interval).sqrt();
        let (gap_ms, gap_sd_ms) = self.gaps.spread(p, left);
        let mean_x = w.x / w.n;
        let own_range = range::offsets(&range::Inputs {
            left,
            total: total as f64,
            work_ms: left * per_item,
            remaining_ms: own_remaining,
            items_per_sample: items_per_interval,
            samples: w.n,
            cv: if mean_x > 0.0 {
                var.sqrt() / mean_x
            } else {
                0.0
            },
            last_step: self.window.last_step(),
            trend_factor,
            trend_hint: self.window.trend_hint(left),
            gap_ms,
            gap_sd_ms,
            swing: self.window.swing(),
        });
        self.recorder
            .estimated_end(self.anchor_ms as f64 + own_remaining);
        let leaning = self.prior.is_some_and(|prior| !prior.dropped());
        let from_prior = self.prior.as_mut().and_then(|prior| {
            let first = self.recorder.first_count();
            prior.remaining(self.anchor_ms as f64, (first, p, total))
        });
        // A prior just dropped: the run is not like its kind, so the
        // reported end goes straight to the new estimate (its own, with
        // the kind's shape at its own pace).
        let dropped_now = leaning && self.prior.is_some_and(|prior| prior.dropped());
        let reset_display = reset_display || dropped_now;
        let (raw_remaining, range_ms) = match from_prior {
            Some(prior) => prior::blend(own_remaining, own_range, prior),
            None => (own_remaining, own_range),
        };
        let raw_end = self.anchor_ms as f64 + raw_remaining;
        let rate_per_second = if raw_remaining > 0.0 {
            left / raw_remaining * 1000.0
        } else {
            0.0
        };
        self.model = Some(Model {
            next_interval_ms,
            rate_per_second,
            range_ms,
        });
        self.display.update(
            raw_end,
            raw_remaining,
            sd_remaining,
            self.anchor_ms as f64,
            reset_display,
        );
    }
}
