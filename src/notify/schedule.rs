//! When a failed delivery is tried again, and when it is given up.
//!
//! A fixed table, not the crate's doubling [`Backoff`](crate::backoff):
//! receivers plan around these numbers (5 s, 30 s, 2 min, 10 min, 1 h,
//! then hourly, for 24 h), the schedule Standard Webhooks senders share.
//! Each wait gets up to 10 % of random spread, so the deliveries of one
//! outage do not all return in the same second. `WEBHOOKS_RETRY_SCALE`
//! shrinks the whole schedule, the 24 h included, for tests.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::store::Verdict;

/// The waits after the first, second, ... failure; the last repeats.
const WAITS: [Duration; 5] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(3600),
];

/// How long after the event a delivery is given up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A longest `Retry-After` honoured: a receiver cannot park a delivery
/// past the hourly retries.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// How often a receiver's 4xx (but 410 and 429) is tried again: it is
/// most likely a mistake of the receiver's that a deploy fixes, or none.
const CLIENT_ERROR_RETRIES: u32 = 2;

/// What an attempt came to, as far as the schedule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The receiver answered with this status.
    Status(u16),
    /// No answer: refused, timed out, reset.
    Nothing,
}

/// The retry schedule, scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    scale: f64,
}

impl Schedule {
    /// The schedule with every wait multiplied by `scale` (1.0: as
    /// written; tests use 0.001 or so).
    pub fn scaled(scale: f64) -> Self {
        Self {
            scale: if scale.is_finite() && scale > 0.0 {
                scale
            } else {
                1.0
            },
        }
    }

    fn scale(&self, wait: Duration) -> Duration {
        wait.mul_f64(self.scale)
    }

    /// What becomes of a delivery whose attempt got `answer`, after
    /// `failures` failed attempts before it, for an event written at
    /// `created_at`; `retry_after` is the receiver's `Retry-After`.
    pub fn verdict(
        &self,
        answer: Answer,
        failures: u32,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
        retry_after: Option<Duration>,
    ) -> Verdict {
        let retried = match answer {
            Answer::Status(status) if (200..300).contains(&status) => return Verdict::Delivered,
            Answer::Status(410) => return Verdict::Dead,
            Answer::Status(429) | Answer::Nothing => true,
            Answer::Status(status) if status >= 500 => true,
            Answer::Status(_) => failures < CLIENT_ERROR_RETRIES,
        };
        if !retried {
            return Verdict::Dead;
        }
        let index = usize::try_from(failures)
            .unwrap_or(usize::MAX)
            .min(WAITS.len() - 1);
        let mut wait = self.scale(WAITS[index]).mul_f64(jitter());
        if let Some(asked) = retry_after {
            wait = wait.max(asked.min(MAX_RETRY_AFTER));
        }
        let at = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
        let give_up =
            created_at + TimeDelta::from_std(self.scale(GIVE_UP_AFTER)).unwrap_or(TimeDelta::MAX);
        if at > give_up {
            Verdict::Dead
        } else {
            Verdict::RetryAt(at)
        }
    }
}

/// A factor between 0.9 and 1.1.
fn jitter() -> f64 {
    let random = getrandom::u32().unwrap_or(u32::MAX / 2);
    0.9 + 0.2 * f64::from(random) / f64::from(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(verdict: Verdict, now: DateTime<Utc>) -> f64 {
        match verdict {
            Verdict::RetryAt(at) => (at - now).as_seconds_f64(),
            other => panic!("not a retry: {other:?}"),
        }
    }

    #[test]
    fn follows_the_table_then_gives_up_after_a_day() {
        let schedule = Schedule::scaled(1.0);
        let start = Utc::now();
        let expected = [5.0, 30.0, 120.0, 600.0, 3600.0, 3600.0];
        for (failures, expected) in expected.into_iter().enumerate() {
            let w = wait(
                schedule.verdict(Answer::Status(503), failures as u32, start, start, None),
                start,
            );
            assert!(
                (expected * 0.9..=expected * 1.1).contains(&w),
                "{failures}: {w}"
            );
        }
        let late = start + TimeDelta::hours(23) + TimeDelta::minutes(30);
        assert_eq!(
            schedule.verdict(Answer::Nothing, 9, start, late, None),
            Verdict::Dead
        );
    }

    #[test]
    fn answers_decide_between_done_retry_and_dead() {
        let schedule = Schedule::scaled(0.001);
        let now = Utc::now();
        let verdict = |answer, failures| schedule.verdict(answer, failures, now, now, None);
        assert_eq!(verdict(Answer::Status(204), 0), Verdict::Delivered);
        assert_eq!(verdict(Answer::Status(410), 0), Verdict::Dead);
        assert!(matches!(
            verdict(Answer::Status(429), 7),
            Verdict::RetryAt(_)
        ));
        assert!(matches!(
            verdict(Answer::Status(400), 1),
            Verdict::RetryAt(_)
        ));
        assert_eq!(verdict(Answer::Status(400), 2), Verdict::Dead);
        let w = wait(verdict(Answer::Status(503), 0), now);
        assert!(w < 0.01, "scaled: {w}");
        let longer = schedule.verdict(
            Answer::Status(429),
            0,
            now,
            now,
            Some(Duration::from_secs(20)),
        );
        assert!(wait(longer, now) >= 20.0 || longer == Verdict::Dead);
    }
}
