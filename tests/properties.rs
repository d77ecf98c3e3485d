//! Property tests: job-id parsing and the record's JSON round trip.

use chrono::{DateTime, TimeZone, Utc};
use job_progress::domain::{JobId, JobStatus, MAX_ID_LEN, ProgressRecord, ScheduleId, percentage};
use proptest::prelude::*;

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

/// A valid id: the alphabet, but not the path segments `.` and `..`.
fn valid_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:-]{1,128}".prop_filter("a dot segment", |id| id != "." && id != "..")
}

proptest! {
    #[test]
    fn a_job_id_parses_exactly_when_it_follows_the_rule(raw in "\\PC{0,140}") {
        let expected = !raw.is_empty()
            && raw.chars().count() <= MAX_ID_LEN
            && raw.chars().all(allowed)
            && raw != "."
            && raw != "..";
        prop_assert_eq!(JobId::parse(raw.clone()).is_ok(), expected, "{:?}", raw);
    }

    #[test]
    fn every_valid_id_round_trips(raw in valid_id()) {
        let id = JobId::parse(raw.clone()).unwrap();
        prop_assert_eq!(id.as_str(), raw.as_str());
        let json = serde_json::to_string(&id).unwrap();
        prop_assert_eq!(serde_json::from_str::<JobId>(&json).unwrap(), id);
    }
}

fn status() -> impl Strategy<Value = JobStatus> {
    prop::sample::select(JobStatus::ALL.to_vec())
}

fn time() -> impl Strategy<Value = Option<DateTime<Utc>>> {
    // Milliseconds, as the writer stores them; years 2000 to 2100.
    prop::option::of(
        (946_684_800_000_i64..4_102_444_800_000)
            .prop_map(|ms| Utc.timestamp_millis_opt(ms).unwrap()),
    )
}

prop_compose! {
    fn record()(
        id in valid_id(),
        status in status(),
        total in 0u64..10_000_000,
        success_share in 0u64..=100,
        failure_share in 0u64..=100,
        chunks in prop::option::of(0u64..100_000),
        chunk in prop::option::of(0u64..100_000),
        started in time(), updated in time(), completed in time(), end in time(),
        remaining in prop::option::of(0u64..1_000_000),
        rate in prop::option::of(0.0f64..1e6),
        error in prop::option::of("\\PC{0,64}"),
        schedule in prop::option::of(valid_id()),
        refresh in prop::option::of(1u64..3_600_000),
        stalled in any::<bool>(),
    ) -> ProgressRecord {
        let success = total * success_share / 200;
        let failure = total * failure_share / 200;
        let mut record = ProgressRecord::new(JobId::parse(id).unwrap(), status, Some(total));
        record.success_count = success;
        record.failure_count = failure;
        record.current_sent_count = success + failure;
        record.progress_percentage = percentage(success + failure, total);
        record.total_chunks = chunks;
        record.current_chunk = chunk;
        record.started_at = started;
        record.updated_at = updated;
        record.completed_at = completed;
        record.estimated_end_at = end;
        record.estimated_remaining_seconds = remaining;
        record.rate_per_second = rate.map(|r| (r * 100.0).round() / 100.0);
        record.error_message = error;
        record.schedule_id = schedule.map(|s| ScheduleId::parse(s).unwrap());
        record.refresh_interval_ms = refresh;
        record.stalled = stalled;
        record
    }
}

proptest! {
    #[test]
    fn a_record_survives_the_json_round_trip(record in record()) {
        let json = serde_json::to_string(&record).unwrap();
        let back: ProgressRecord = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &record);
        // The stored form (nulls and derived fields left out) reads back as
        // the same record once the derived fields are derived again.
        let mut expected = record.clone();
        expected.stalled = false;
        expected.estimated_remaining_seconds = None;
        let stored: ProgressRecord = serde_json::from_str(&record.to_stored_json().unwrap()).unwrap();
        prop_assert_eq!(stored.normalized(), expected.normalized());
    }

    /// What the in-process store keeps in place of a record's JSON is what
    /// Redis's reader parses back from it, to the last bit of every float.
    #[test]
    fn a_record_reads_back_from_its_stored_json_as_its_stored_form(
        record in record(),
        rate in any::<f64>().prop_filter("finite", |rate| rate.is_finite()),
        share in any::<f64>().prop_filter("finite", |share| share.is_finite()),
    ) {
        let mut record = record;
        record.rate_per_second = Some(rate);
        record.metadata.insert("share".into(), share.into());
        let back = ProgressRecord::from_stored_json(record.to_stored_json().unwrap().as_bytes()).unwrap();
        prop_assert_eq!(back, record.stored_form());
    }

    #[test]
    fn any_json_value_either_parses_or_is_refused_without_panicking(raw in "\\PC{0,200}") {
        let _ = serde_json::from_str::<ProgressRecord>(&raw);
    }

    #[test]
    fn a_record_with_only_the_old_fields_still_reads(id in valid_id(), status in status(), sent in 0u64..1000) {
        let json = format!(r#"{{"jobId":"{id}","status":"{}","totalTargetCount":1000,"currentSentCount":{sent}}}"#, status.as_str());
        let record: ProgressRecord = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(record.normalized().progress_percentage, percentage(sent, 1000));
    }
}
