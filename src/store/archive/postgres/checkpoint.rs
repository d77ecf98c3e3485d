//! Writing checkpoints: any number of records in one statement
//! ([`CHECKPOINT_SQL`]), bound as one array per column.
//!
//! Both [`Archive::checkpoint`](crate::store::Archive::checkpoint) (one
//! record) and [`Archive::checkpoint_many`](crate::store::Archive::checkpoint_many)
//! (a batch, from `write/checkpoints.rs`) come here, so there is one upsert
//! and one never-backwards rule, whatever the batch size. When some webhook
//! subscription wants the events a batch makes happen, the same statement
//! writes them to the outbox (`CHECKPOINT_WITH_OUTBOX_SQL`).

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{
    PgArchive,
    sql::{CHECKPOINT_SQL, CHECKPOINT_WITH_OUTBOX_SQL},
};
use crate::{
    domain::{JobId, JobKind, JobName, ProgressRecord, ScheduleId},
    store::{
        OutboxEvent, StoreError, WriteOutcome,
        archive::rows::{bigint, cancel_json, detail_json},
        outbox::micros,
    },
};

/// The records, one vector per column of the upsert, in its order.
#[derive(Default)]
struct Columns<'a> {
    job_id: Vec<&'a str>,
    status: Vec<&'static str>,
    total_target_count: Vec<Option<i64>>,
    current_sent_count: Vec<i64>,
    success_count: Vec<i64>,
    failure_count: Vec<i64>,
    total_chunks: Vec<Option<i64>>,
    current_chunk: Vec<Option<i64>>,
    started_at: Vec<Option<DateTime<Utc>>>,
    updated_at: Vec<DateTime<Utc>>,
    completed_at: Vec<Option<DateTime<Utc>>>,
    estimated_end_at: Vec<Option<DateTime<Utc>>>,
    estimated_remaining_seconds: Vec<Option<i64>>,
    rate_per_second: Vec<Option<f64>>,
    error_message: Vec<Option<&'a str>>,
    schedule_id: Vec<Option<&'a str>>,
    refresh_interval_ms: Vec<Option<i64>>,
    estimated_end_earliest: Vec<Option<DateTime<Utc>>>,
    estimated_end_latest: Vec<Option<DateTime<Utc>>>,
    name: Vec<Option<&'a str>>,
    kind: Vec<Option<&'a str>>,
    detail: Vec<Option<String>>,
    attempt: Vec<i64>,
    cancel_requested: Vec<Option<String>>,
    parent_job_id: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    fn of(records: &'a [ProgressRecord]) -> Self {
        let mut c = Columns::default();
        let now = Utc::now();
        for r in records {
            c.job_id.push(r.job_id.as_str());
            c.status.push(r.status.as_str());
            c.total_target_count.push(r.total_target_count.map(bigint));
            c.current_sent_count.push(bigint(r.current_sent_count));
            c.success_count.push(bigint(r.success_count));
            c.failure_count.push(bigint(r.failure_count));
            c.total_chunks.push(r.total_chunks.map(bigint));
            c.current_chunk.push(r.current_chunk.map(bigint));
            c.started_at.push(r.started_at);
            c.updated_at.push(r.updated_at.unwrap_or(now));
            c.completed_at.push(r.completed_at);
            c.estimated_end_at.push(r.estimated_end_at);
            c.estimated_remaining_seconds
                .push(r.estimated_remaining_seconds.map(bigint));
            c.rate_per_second.push(r.rate_per_second);
            c.error_message.push(r.error_message.as_deref());
            c.schedule_id
                .push(r.schedule_id.as_ref().map(ScheduleId::as_str));
            c.refresh_interval_ms
                .push(r.refresh_interval_ms.map(bigint));
            c.estimated_end_earliest
                .push(r.estimated_end_range.map(|range| range.earliest));
            c.estimated_end_latest
                .push(r.estimated_end_range.map(|range| range.latest));
            c.name.push(r.name.as_ref().map(JobName::as_str));
            c.kind.push(r.kind.as_ref().map(JobKind::as_str));
            c.detail.push(detail_json(r));
            c.attempt.push(i64::from(r.attempt()));
            c.cancel_requested.push(cancel_json(r));
            c.parent_job_id
                .push(r.parent_job_id.as_ref().map(JobId::as_str));
        }
        c
    }
}

/// The candidate webhook events, one vector per column of the outbox part
/// of the upsert (`CHECKPOINT_WITH_OUTBOX_SQL`).
struct EventColumns<'a> {
    id: Vec<&'a str>,
    job_id: Vec<&'a str>,
    attempt: Vec<i64>,
    event_type: Vec<&'static str>,
    payload: Vec<&'a str>,
}

impl<'a> EventColumns<'a> {
    fn of(events: &'a [OutboxEvent]) -> Self {
        Self {
            id: events.iter().map(|e| e.id.as_str()).collect(),
            job_id: events.iter().map(|e| e.job_id.as_str()).collect(),
            attempt: events.iter().map(|e| i64::from(e.attempt)).collect(),
            event_type: events.iter().map(|e| e.event.as_str()).collect(),
            payload: events.iter().map(|e| e.payload.as_str()).collect(),
        }
    }
}

impl PgArchive {
    /// Upserts `records` (each job at most once) in one statement, under
    /// the guard; says, per record in order, whether it was written or
    /// stale.
    pub(super) async fn upsert(
        &self,
        records: &[ProgressRecord],
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let c = Columns::of(records);
        let events = OutboxEvent::of_checkpoints(records, self.events.get());
        let sql = if events.is_empty() {
            CHECKPOINT_SQL.as_str()
        } else {
            CHECKPOINT_WITH_OUTBOX_SQL.as_str()
        };
        let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(c.job_id)
            .bind(c.status)
            .bind(c.total_target_count)
            .bind(c.current_sent_count)
            .bind(c.success_count)
            .bind(c.failure_count)
            .bind(c.total_chunks)
            .bind(c.current_chunk)
            .bind(c.started_at)
            .bind(c.updated_at)
            .bind(c.completed_at)
            .bind(c.estimated_end_at)
            .bind(c.estimated_remaining_seconds)
            .bind(c.rate_per_second)
            .bind(c.error_message)
            .bind(c.schedule_id)
            .bind(c.refresh_interval_ms)
            .bind(c.estimated_end_earliest)
            .bind(c.estimated_end_latest)
            .bind(c.name)
            .bind(c.kind)
            .bind(c.detail)
            .bind(c.attempt)
            .bind(c.cancel_requested)
            .bind(c.parent_job_id);
        if !events.is_empty() {
            let e = EventColumns::of(&events);
            query = query
                .bind(e.id)
                .bind(e.job_id)
                .bind(e.attempt)
                .bind(e.event_type)
                .bind(e.payload)
                .bind(micros(Utc::now()));
        }
        let written: Vec<String> = self.guarded.call(query.fetch_all(&self.writer)).await?;
        let written: HashSet<String> = written.into_iter().collect();
        Ok(WriteOutcome::of_each(records, &written))
    }
}
