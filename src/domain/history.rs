//! A job's progress history: a compact series of (time, processed,
//! failed) samples, at most one per spacing, thinned evenly when full.

use chrono::{DateTime, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};

/// The first spacing between samples: one per 5 s at most.
pub const HISTORY_SPACING_MS: i64 = 5_000;
/// The most samples a hot store keeps of a job; when one more would not
/// fit, every other is dropped and the spacing doubles.
pub const HISTORY_SAMPLES: usize = 720;
/// The most points the archive keeps of a finished job.
pub const ARCHIVED_SAMPLES: usize = 200;

/// One sample, as `GET .../history` serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// When the job had these counts (the record's `updatedAt`).
    pub at: DateTime<Utc>,
    /// Targets processed.
    pub processed: u64,
    /// Of them, failed.
    pub failed: u64,
}

impl Sample {
    /// The stored form, as the write script stores it: `<ms>:<processed>:<failed>`.
    pub fn to_stored(&self) -> String {
        format!(
            "{}:{}:{}",
            self.at.timestamp_millis(),
            self.processed,
            self.failed
        )
    }

    /// A sample from its stored form; `None` if it is not one.
    pub fn from_stored(raw: &str) -> Option<Self> {
        let mut parts = raw.split(':');
        let ms: i64 = parts.next()?.parse().ok()?;
        let processed = parts.next()?.parse().ok()?;
        let failed = parts.next()?.parse().ok()?;
        Some(Self {
            at: Utc.timestamp_millis_opt(ms).single()?,
            processed,
            failed,
        })
    }
}

impl super::ProgressRecord {
    /// The history sample this record is: its counts at its `updatedAt`
    /// (now, when it has none).
    pub fn sample(&self) -> Sample {
        Sample {
            at: self.updated_at.unwrap_or_else(Utc::now),
            processed: self.current_sent_count,
            failed: self.failure_count,
        }
    }
}

/// The samples of one job, as the in-process store keeps them; the Redis
/// write script keeps the same rules in Lua.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    samples: Vec<Sample>,
    spacing_ms: i64,
}

impl Default for History {
    fn default() -> Self {
        Self {
            samples: Vec::new(),
            spacing_ms: HISTORY_SPACING_MS,
        }
    }
}

impl History {
    /// Takes `sample` if the spacing has passed since the last one (or
    /// `last` says it is the job's final state); thins when full.
    pub fn record(&mut self, sample: Sample, last: bool) {
        let due = self.samples.last().is_none_or(|previous| {
            last || (sample.at - previous.at).num_milliseconds() >= self.spacing_ms
        });
        if !due {
            return;
        }
        self.samples.push(sample);
        if self.samples.len() > HISTORY_SAMPLES {
            self.samples = thin(&self.samples);
            self.spacing_ms *= 2;
        }
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }
}

/// Every other sample, always keeping the last (the newest state).
pub fn thin(samples: &[Sample]) -> Vec<Sample> {
    let count = samples.len();
    samples
        .iter()
        .enumerate()
        .filter(|(at, _)| (count - 1 - at).is_multiple_of(2))
        .map(|(_, sample)| *sample)
        .collect()
}

/// At most `most` samples, spread evenly, the first and last kept: the
/// archive's copy.
pub fn downsample(samples: &[Sample], most: usize) -> Vec<Sample> {
    if samples.len() <= most || most < 2 {
        return samples[..samples.len().min(most)].to_vec();
    }
    let last = samples.len() - 1;
    (0..most).map(|i| samples[i * last / (most - 1)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64, processed: u64) -> Sample {
        Sample {
            at: Utc.timestamp_millis_opt(ms).unwrap(),
            processed,
            failed: 0,
        }
    }

    #[test]
    fn one_sample_per_spacing_and_thinned_evenly_when_full() {
        let mut history = History::default();
        history.record(at(0, 0), false);
        history.record(at(1_000, 1), false);
        assert_eq!(history.samples().len(), 1, "within 5 s: skipped");
        history.record(at(2_000, 2), true);
        assert_eq!(history.samples().len(), 2, "a final state is always kept");
        let mut history = History::default();
        for n in 0..=720 {
            history.record(at(n * 5_000, n as u64), false);
        }
        assert_eq!(history.samples().len(), 361);
        assert_eq!(history.samples().last().unwrap().processed, 720);
        history.record(at(720 * 5_000 + 5_000, 721), false);
        assert_eq!(history.samples().len(), 361, "the spacing doubled");
        history.record(at(720 * 5_000 + 10_000, 722), false);
        assert_eq!(history.samples().len(), 362);
        for n in 0..10_000 {
            history.record(at(4_000_000 + n * 60_000, 1_000 + n as u64), false);
        }
        assert!(history.samples().len() <= HISTORY_SAMPLES);
    }

    #[test]
    fn stored_samples_read_back_and_downsampling_keeps_both_ends() {
        let sample = at(1_700_000_000_000, 42);
        assert_eq!(Sample::from_stored(&sample.to_stored()), Some(sample));
        assert_eq!(Sample::from_stored("x:1:2"), None);
        let samples: Vec<Sample> = (0..720).map(|n| at(n * 5_000, n as u64)).collect();
        let down = downsample(&samples, 200);
        assert_eq!(down.len(), 200);
        assert_eq!(down[0], samples[0]);
        assert_eq!(down[199], samples[719]);
        assert_eq!(downsample(&samples[..3], 200).len(), 3);
    }
}
