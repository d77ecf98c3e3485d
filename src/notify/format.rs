//! What a delivery posts: the Standard Webhooks event, or a Slack message.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Url;
use serde_json::Value;

use super::config::Format;
use crate::store::Claimed;

/// The body `claimed` is posted with, in `format`; `public_url` is where
/// people open the dashboard (a Slack message links the job's page).
pub fn body(claimed: &Claimed, format: Format, public_url: Option<&Url>) -> Vec<u8> {
    match format {
        Format::Standard => standard(claimed),
        Format::Slack => slack(claimed, public_url),
    }
}

/// `{"type": ..., "timestamp": ..., "data": <the record>}`; the record is
/// the outbox's JSON as it was written, spliced in unchanged.
fn standard(claimed: &Claimed) -> Vec<u8> {
    let timestamp = claimed
        .created_at
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    format!(
        "{{\"type\":{},\"timestamp\":{},\"data\":{}}}",
        Value::from(claimed.event_type.as_str()),
        Value::from(timestamp),
        claimed.payload
    )
    .into_bytes()
}

/// `{"text": ...}`: the job's name, what happened, its counts and
/// duration, and a link to its page when `public_url` is set.
fn slack(claimed: &Claimed, public_url: Option<&Url>) -> Vec<u8> {
    let record: Value = serde_json::from_str(&claimed.payload).unwrap_or(Value::Null);
    let count = |key: &str| record.get(key).and_then(Value::as_u64).unwrap_or(0);
    let time = |key: &str| {
        record
            .get(key)
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let name = record
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(&claimed.job_id);
    let what = match claimed.event_type.as_str() {
        "job.started" => "started",
        "job.completed" => "completed",
        "job.failed" => "failed",
        "job.cancelled" => "was cancelled",
        "job.stalled" => "stalled",
        other => other,
    };
    let mut text = format!("Job {} {what}", escape(name));
    let total = record.get("totalTargetCount").and_then(Value::as_u64);
    text.push_str(&format!(
        ": {} succeeded, {} failed",
        count("successCount"),
        count("failureCount")
    ));
    if let Some(total) = total {
        text.push_str(&format!(" of {total}"));
    }
    let end = time("completedAt").or_else(|| time("updatedAt"));
    if let (Some(start), Some(end)) = (time("startedAt"), end) {
        text.push_str(&format!(" in {}", duration((end - start).num_seconds())));
    }
    if let Some(error) = record.get("errorMessage").and_then(Value::as_str) {
        text.push_str(&format!(". Error: {}", escape(error)));
    }
    if let Some(link) = public_url.and_then(|base| job_page(base, &claimed.job_id)) {
        text.push_str(&format!(" (<{link}|open>)"));
    }
    serde_json::json!({ "text": text }).to_string().into_bytes()
}

/// `base`'s page of the job `id` (`/jobs/<id>`, the dashboard's route).
fn job_page(base: &Url, id: &str) -> Option<Url> {
    let mut page = base.clone();
    page.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .push("jobs")
        .push(id);
    Some(page)
}

/// A duration as people read it: `2h 5m`, `3m 12s`, `40s`.
fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

/// Slack's three control characters in message text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimed(event: &str, payload: Value) -> Claimed {
        Claimed {
            message_id: "msg_1".into(),
            subscription: "s".into(),
            event_type: event.into(),
            job_id: "nightly-1".into(),
            created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            payload: payload.to_string(),
            attempts: 0,
        }
    }

    #[test]
    fn standard_wraps_the_record_unchanged() {
        let record = serde_json::json!({"jobId": "nightly-1", "status": "completed"});
        let sent = body(
            &claimed("job.completed", record.clone()),
            Format::Standard,
            None,
        );
        let event: Value = serde_json::from_slice(&sent).unwrap();
        assert_eq!(event["type"], "job.completed");
        assert_eq!(event["timestamp"], "2023-11-14T22:13:20.000Z");
        assert_eq!(event["data"], record);
    }

    #[test]
    fn slack_says_name_counts_duration_and_links_the_page() {
        let record = serde_json::json!({
            "jobId": "nightly-1", "name": "Nightly <export>", "status": "completed",
            "successCount": 950, "failureCount": 50, "totalTargetCount": 1000,
            "startedAt": "2026-01-01T00:00:00Z", "completedAt": "2026-01-01T00:12:03Z",
        });
        let base = Url::parse("https://progress.example.com/").unwrap();
        let linked = body(
            &claimed("job.completed", record.clone()),
            Format::Slack,
            Some(&base),
        );
        let text = serde_json::from_slice::<Value>(&linked).unwrap()["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            text,
            "Job Nightly &lt;export&gt; completed: 950 succeeded, 50 failed of 1000 in 12m 3s \
             (<https://progress.example.com/jobs/nightly-1|open>)"
        );
        let unlinked = body(&claimed("job.completed", record), Format::Slack, None);
        assert!(!String::from_utf8(unlinked).unwrap().contains("open"));
    }
}
