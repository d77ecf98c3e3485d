//! Numbers and times as a person reads them. Plain ASCII and UTC for
//! logs; the bar shows local times.

use std::time::Duration;

use chrono::{DateTime, Local, Utc};

use crate::domain::{ProgressRecord, StepState};

/// `45s`, `3m 12s`, `2h 05m`, `3d 04h`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// Time left until the server's estimated end, as of `now`: from
/// `estimatedEndAt` when there is one (so it counts down between
/// records), else `estimatedRemainingSeconds`.
pub fn remaining(record: &ProgressRecord, now: DateTime<Utc>) -> Option<Duration> {
    match record.estimated_end_at {
        Some(end) => Some((end - now).to_std().unwrap_or(Duration::ZERO)),
        None => record.estimated_remaining_seconds.map(Duration::from_secs),
    }
}

/// How a time is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// `2026-11-24T20:17:34Z`: logs, where readers sit in any zone.
    Utc,
    /// `20:17:34` (with the date when it is not today): a person's terminal.
    Local,
}

impl Clock {
    /// `at` written for this clock, as of `now`.
    pub fn time(self, at: DateTime<Utc>, now: DateTime<Utc>) -> String {
        match self {
            Clock::Utc => at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            Clock::Local => {
                let (at, now) = (at.with_timezone(&Local), now.with_timezone(&Local));
                if at.date_naive() == now.date_naive() {
                    at.format("%H:%M:%S").to_string()
                } else {
                    at.format("%Y-%m-%d %H:%M").to_string()
                }
            }
        }
    }
}

/// `ETA 20:17:34 (80%: 20:17:33-20:17:37), 5s left`, or `ETA unknown`
/// before the server has an estimate.
pub fn eta(record: &ProgressRecord, clock: Clock, now: DateTime<Utc>) -> String {
    let Some(end) = record.estimated_end_at else {
        return "ETA unknown".into();
    };
    let mut text = format!("ETA {}", clock.time(end, now));
    if let Some(range) = record.estimated_end_range {
        text.push_str(&format!(
            " (80%: {}-{})",
            clock.time(range.earliest, now),
            clock.time(range.latest, now)
        ));
    }
    if let Some(left) = remaining(record, now) {
        text.push_str(&format!(", {} left", duration(left)));
    }
    text
}

/// `516.2/s`, or `-` when the server has no rate yet.
pub fn rate(record: &ProgressRecord) -> String {
    match record.rate_per_second {
        Some(rate) if rate >= 100.0 => format!("{rate:.0}/s"),
        Some(rate) => format!("{rate:.1}/s"),
        None => "-".into(),
    }
}

/// Processed of total, `1500/5000`; a job without a total shows its
/// processed count alone.
pub fn counts(record: &ProgressRecord) -> String {
    match record.total_target_count {
        Some(total) => format!("{}/{}", record.current_sent_count, total),
        None => record.current_sent_count.to_string(),
    }
}

/// What the job is doing, in words: `[2/4 transcribe] chunk 3 of 9`, or
/// `[uploading]` for a stage outside any steps, led by `attempt 2` for a
/// job run again and followed by `(cancel requested by ops)` while a
/// request to stop waits for its worker; `None` when the record says
/// none of it. Shown beside the bar and at the end of a plain line.
pub fn doing(record: &ProgressRecord) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if record.attempt() > 1 {
        parts.push(format!("attempt {}", record.attempt()));
    }
    parts.extend(activity(record));
    if let Some(cancel) = &record.cancel_requested
        && record.status.is_active()
    {
        parts.push(format!("(cancel requested by {})", cancel.by));
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The stage and the message.
fn activity(record: &ProgressRecord) -> Option<String> {
    let running = record
        .steps
        .iter()
        .position(|step| step.state == StepState::Running);
    let stage = match (running, &record.stage) {
        (Some(at), _) => Some(format!(
            "[{}/{} {}]",
            at + 1,
            record.steps.len(),
            record.steps[at].name
        )),
        (None, Some(stage)) => Some(format!("[{stage}]")),
        (None, None) => None,
    };
    let message = record.message.as_ref().map(|m| m.as_str().to_owned());
    match (stage, message) {
        (Some(stage), Some(message)) => Some(format!("{stage} {message}")),
        (one, other) => one.or(other),
    }
}

/// The plain line of one update, as CI logs show it:
/// `import-42 in_progress 1500/5000 30% failed 25 516/s ETA ...`.
pub fn line(record: &ProgressRecord, now: DateTime<Utc>) -> String {
    let mut text = format!(
        "{} {} {} {}% failed {} {}",
        record.job_id,
        record.status,
        counts(record),
        record.progress_percentage,
        record.failure_count,
        rate(record),
    );
    if record.status.is_active() {
        text.push(' ');
        text.push_str(&eta(record, Clock::Utc, now));
    }
    if record.stalled {
        text.push_str(" STALLED");
    }
    if let Some(doing) = doing(record) {
        text.push(' ');
        text.push_str(&doing);
    }
    if let Some(url) = &record.result_url {
        text.push_str(&format!(" result: {}", url.as_str()));
    }
    if let Some(message) = &record.error_message {
        text.push_str(&format!(" error: {message}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EndRange, JobId, JobStatus};

    #[test]
    fn durations_read_at_a_glance() {
        let d = |secs| duration(Duration::from_secs(secs));
        assert_eq!(d(0), "0s");
        assert_eq!(d(59), "59s");
        assert_eq!(d(192), "3m 12s");
        assert_eq!(d(7500), "2h 05m");
        assert_eq!(d(273_600), "3d 04h");
    }

    #[test]
    fn a_plain_line_carries_counts_rate_and_the_servers_eta() {
        let now: DateTime<Utc> = "2026-11-24T20:17:29Z".parse().unwrap();
        let mut record = ProgressRecord::new(
            JobId::parse("demo-1").unwrap(),
            JobStatus::InProgress,
            Some(5000),
        );
        record.success_count = 1475;
        record.failure_count = 25;
        record.rate_per_second = Some(516.17);
        record.estimated_end_at = Some("2026-11-24T20:17:34Z".parse().unwrap());
        record.estimated_end_range = Some(EndRange {
            earliest: "2026-11-24T20:17:33Z".parse().unwrap(),
            latest: "2026-11-24T20:17:37Z".parse().unwrap(),
        });
        let record = record.normalized();
        assert_eq!(
            line(&record, now),
            "demo-1 in_progress 1500/5000 30% failed 25 516/s ETA 2026-11-24T20:17:34Z \
             (80%: 2026-11-24T20:17:33Z-2026-11-24T20:17:37Z), 5s left"
        );
    }

    #[test]
    fn a_plain_line_says_the_running_step_and_the_message() {
        let now = Utc::now();
        let mut record =
            ProgressRecord::new(JobId::parse("p").unwrap(), JobStatus::InProgress, None);
        record.steps = crate::domain::steps::plan(&["fetch".into(), "transcribe".into()]).unwrap();
        record.steps[0].state = StepState::Done;
        record.steps[1].state = StepState::Running;
        record.message = Some(crate::domain::Message::parse("chunk 3 of 9").unwrap());
        let line = line(&record, now);
        assert!(line.ends_with("[2/2 transcribe] chunk 3 of 9"), "{line}");
        record.steps.clear();
        record.stage = Some("uploading".into());
        record.message = None;
        assert_eq!(doing(&record).as_deref(), Some("[uploading]"));

        record.attempt = Some(2);
        record.cancel_requested = Some(crate::domain::CancelRequest {
            at: now,
            by: "ops-console".into(),
            reason: None,
        });
        assert_eq!(
            doing(&record).as_deref(),
            Some("attempt 2 [uploading] (cancel requested by ops-console)")
        );
        record.status = JobStatus::Cancelled;
        assert_eq!(doing(&record).as_deref(), Some("attempt 2 [uploading]"));
    }

    #[test]
    fn without_an_estimate_the_eta_says_so_and_an_overdue_end_is_zero_left() {
        let now = Utc::now();
        let mut record =
            ProgressRecord::new(JobId::parse("j").unwrap(), JobStatus::InProgress, Some(9));
        assert_eq!(eta(&record, Clock::Utc, now), "ETA unknown");
        record.estimated_end_at = Some(now - chrono::Duration::seconds(30));
        assert_eq!(remaining(&record, now), Some(Duration::ZERO));
    }
}
