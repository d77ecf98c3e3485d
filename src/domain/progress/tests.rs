//! Tests of `progress.rs`, kept apart so the module reads in one sitting.

use super::*;

#[test]
fn percentage_rounds_down_and_handles_empty_jobs() {
    assert_eq!(percentage(0, 0), 0);
    assert_eq!(percentage(5, 0), 0);
    assert_eq!(percentage(999, 1000), 99);
    assert_eq!(percentage(1000, 1000), 100);
    assert_eq!(percentage(2000, 1000), 100);
    assert_eq!(percentage(u64::MAX, u64::MAX), 100);
}

#[test]
fn reads_a_record_written_without_the_newer_fields() {
    let json = r#"{"jobId":"old-1","status":"in_progress","totalTargetCount":10,
        "currentSentCount":4,"successCount":3,"failureCount":1,"progressPercentage":40,
        "startedAt":"2026-01-01T00:00:00.000Z"}"#;
    let record: ProgressRecord = serde_json::from_str(json).unwrap();
    assert_eq!(record.current_sent_count, 4);
    assert_eq!(record.schedule_id, None);
    assert_eq!(record.estimated_end_at, None);
    assert!(record.started_at.is_some());
}

#[test]
fn a_job_is_stalled_after_three_missed_refreshes_within_floor_and_ceiling() {
    let policy = StallPolicy {
        floor: std::time::Duration::from_secs(30),
        ceiling: std::time::Duration::from_secs(600),
        default_refresh: std::time::Duration::from_secs(60),
    };
    let now = Utc::now();
    let mut record =
        ProgressRecord::new(JobId::parse("j").unwrap(), JobStatus::InProgress, Some(8));
    record.refresh_interval_ms = Some(15_000);
    record.updated_at = Some(now - chrono::Duration::seconds(44));
    assert!(!record.is_stalled(now, &policy));
    record.updated_at = Some(now - chrono::Duration::seconds(46));
    assert!(record.is_stalled(now, &policy));

    record.refresh_interval_ms = Some(1_000); // 3 s, raised to the floor
    record.updated_at = Some(now - chrono::Duration::seconds(20));
    assert!(!record.is_stalled(now, &policy));
    record.refresh_interval_ms = Some(3_600_000); // 3 h, cut to the ceiling
    record.updated_at = Some(now - chrono::Duration::seconds(601));
    assert!(record.is_stalled(now, &policy));

    record.refresh_interval_ms = None; // 3 min by default
    record.updated_at = Some(now - chrono::Duration::seconds(170));
    assert!(!record.is_stalled(now, &policy));

    record.status = JobStatus::Completed;
    record.updated_at = Some(now - chrono::Duration::days(2));
    assert!(
        !record.is_stalled(now, &policy),
        "finished jobs never stall"
    );
}

#[test]
fn the_stored_form_drops_nulls_and_derived_fields_and_reads_back_the_same() {
    let mut record =
        ProgressRecord::new(JobId::parse("j").unwrap(), JobStatus::InProgress, Some(8));
    let now = Utc::now();
    record.updated_at = Some(now);
    record.estimated_end_at = Some(now + chrono::Duration::seconds(90));
    record.estimated_remaining_seconds = Some(90);
    let stored = record.to_stored_json().unwrap();
    assert!(
        !stored.contains("null") && !stored.contains("stalled"),
        "{stored}"
    );
    assert!(!stored.contains("estimatedRemainingSeconds"), "{stored}");
    let full = serde_json::to_string(&record).unwrap();
    assert!(
        full.contains("\"completedAt\":null") && full.contains("\"stalled\":false"),
        "{full}"
    );
    let back: ProgressRecord = serde_json::from_str(&stored).unwrap();
    assert_eq!(back.normalized(), record);
}

#[test]
fn the_stored_form_names_every_wire_field_but_the_derived_ones() {
    let now = Utc::now();
    let mut record = ProgressRecord::new(JobId::parse("j").unwrap(), JobStatus::Failed, Some(8));
    record.version = 7;
    record.total_chunks = Some(2);
    record.current_chunk = Some(1);
    record.started_at = Some(now);
    record.updated_at = Some(now);
    record.completed_at = Some(now);
    record.estimated_end_at = Some(now);
    record.estimated_end_range = Some(EndRange {
        earliest: now,
        latest: now,
    });
    record.estimated_remaining_seconds = Some(0);
    record.rate_per_second = Some(1.5);
    record.error_message = Some("boom".into());
    record.schedule_id = Some(ScheduleId::parse("s").unwrap());
    record.refresh_interval_ms = Some(1000);
    record.name = Some(JobName::parse("Nightly import").unwrap());
    record.kind = Some(JobKind::parse("import").unwrap());
    record.steps = steps::plan(&["fetch".into(), "load".into()]).unwrap();
    record.stage = Some("fetch".into());
    record.message = Some(Message::parse("waiting").unwrap());
    record.result_url = Some(ResultUrl::parse("/r/1").unwrap());
    record.metadata.insert("rows".into(), 12.into());
    record.attempt = Some(2);
    record.attempts = vec![record.attempt_summary()];
    record.cancel_requested = Some(CancelRequest {
        at: now,
        by: "ops".into(),
        reason: Some("wrong list".into()),
    });
    record.parent_job_id = Some(JobId::parse("parent").unwrap());
    record.children = Some(crate::domain::ChildrenSummary {
        total: 3,
        running: 1,
        completed: 1,
        failed: 1,
        cancelled: 0,
    });
    record.complete_with_children = true;
    record.expected_children = Some(3);
    record.failure_policy = Some(crate::domain::FailurePolicy::Continue);
    let keys = |json: serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    let mut wire = keys(serde_json::to_value(&record).unwrap());
    wire.retain(|key| key != "estimatedRemainingSeconds" && key != "stalled");
    let stored = keys(serde_json::to_value(StoredRecord(&record)).unwrap());
    assert_eq!(stored, wire);
    let back: ProgressRecord = serde_json::from_str(&record.to_stored_json().unwrap()).unwrap();
    assert_eq!(back.normalized(), record);
}

#[test]
fn fields_and_a_status_from_a_later_release_are_kept_and_written_back() {
    let json = r#"{"version":9,"jobId":"j","status":"paused_by_rule","currentSentCount":1,
        "successCount":1,"failureCount":0,"progressPercentage":0,
        "laterField":{"deep":[1,2]},"laterFlag":true}"#;
    let record = ProgressRecord::from_stored_json(json.as_bytes()).unwrap();
    assert_eq!(record.status.as_str(), "paused_by_rule");
    assert_eq!(record.total_target_count, None);
    let stored: serde_json::Value =
        serde_json::from_str(&record.to_stored_json().unwrap()).unwrap();
    assert_eq!(stored["laterField"], serde_json::json!({"deep": [1, 2]}));
    assert_eq!(stored["laterFlag"], true);
    assert_eq!(stored["status"], "paused_by_rule");
    assert!(
        stored.get("totalTargetCount").is_none(),
        "no total: left out, never null"
    );
    let wire = serde_json::to_value(&record).unwrap();
    assert_eq!(wire["laterFlag"], true);
    assert!(wire.get("totalTargetCount").is_none());
}

#[test]
fn a_record_without_the_newer_fields_serializes_as_before() {
    let mut record =
        ProgressRecord::new(JobId::parse("j").unwrap(), JobStatus::InProgress, Some(8));
    record.success_count = 2;
    let wire = serde_json::to_string(&record.normalized()).unwrap();
    assert_eq!(
        wire,
        r#"{"version":0,"jobId":"j","status":"in_progress","totalTargetCount":8,"currentSentCount":2,"successCount":2,"failureCount":0,"progressPercentage":25,"totalChunks":null,"currentChunk":null,"startedAt":null,"updatedAt":null,"completedAt":null,"estimatedEndAt":null,"estimatedEndRange":null,"estimatedRemainingSeconds":null,"ratePerSecond":null,"errorMessage":null,"scheduleId":null,"refreshIntervalMs":null,"stalled":false}"#
    );
}

#[test]
fn a_job_without_a_total_counts_its_steps() {
    let mut record = ProgressRecord::new(JobId::parse("j").unwrap(), JobStatus::InProgress, None);
    record.steps = steps::plan(&["a".into(), "b".into()]).unwrap();
    steps::enter(&mut record.steps, "b", &[], Utc::now()).unwrap();
    assert_eq!(record.normalized().progress_percentage, 75);
}

#[test]
fn normalizing_derives_the_percentage_from_the_counts() {
    let mut record =
        ProgressRecord::new(JobId::parse("j").unwrap(), JobStatus::InProgress, Some(8));
    record.success_count = 3;
    record.failure_count = 1;
    record.progress_percentage = 99;
    let record = record.normalized();
    assert_eq!(record.current_sent_count, 4);
    assert_eq!(record.progress_percentage, 50);
}
