//! [`Outbox`] on both archives: the statements of the webhook tables
//! (`migrations/*/20261209000201_webhooks.sql`), written once.
//!
//! The tables keep times as microseconds on both databases, so each
//! statement is one text (`sql.rs`). The two implementations are one body instantiated per database
//! by [`outbox_for`]; the checkpoint's own outbox insert lives with the
//! checkpoint (`postgres/checkpoint.rs`, `sqlite/checkpoint.rs`).

mod sql;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use self::sql::{
    ATTEMPTS, CLAIM, COUNTS, DISABLE, DISABLED, ENQUEUE, GIVE_UP_PENDING, KEEP_ATTEMPT,
    MOVE_DELIVERY, OLDEST, PRUNE, RETRY, ROUTE_ONE, ROUTED, UNROUTED, dialect,
};
use super::SqlArchive;
use crate::store::{
    Attempt, Claimed, DeliveryStats, Outbox, OutboxEvent, StoreError, Unrouted, Verdict,
    outbox::{from_micros, micros},
};

/// An attempt's row: id, message, subscription, event type, job, time,
/// status, duration, outcome, answer, delivery state.
type AttemptRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    i64,
    String,
    String,
    Option<String>,
);

fn attempt_of(row: AttemptRow) -> Attempt {
    let (
        id,
        message_id,
        subscription,
        event_type,
        job_id,
        at,
        status,
        duration,
        outcome,
        response,
        state,
    ) = row;
    Attempt {
        id,
        message_id,
        subscription,
        event_type: event_type.unwrap_or_default(),
        job_id: job_id.unwrap_or_default(),
        at: from_micros(at),
        status_code: status.and_then(|s| u16::try_from(s).ok()),
        duration_ms: u64::try_from(duration).unwrap_or_default(),
        outcome,
        response,
        state: state.unwrap_or_default(),
    }
}

/// A claimed delivery's row, in [`CLAIM`]'s order.
type ClaimedRow = (String, String, String, String, i64, String, i64);

fn claimed_of(
    (message_id, subscription, event_type, job_id, created_at, payload, attempts): ClaimedRow,
) -> Claimed {
    Claimed {
        message_id,
        subscription,
        event_type,
        job_id,
        created_at: from_micros(created_at),
        payload,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
    }
}

/// A duration in whole microseconds, saturating.
fn duration_micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// The time a verdict puts the delivery's next attempt at: its retry, or
/// (for a finished one, never read) now.
fn next_attempt(verdict: Verdict, now: DateTime<Utc>) -> i64 {
    match verdict {
        Verdict::RetryAt(at) => micros(at),
        Verdict::Delivered | Verdict::Dead => micros(now),
    }
}

/// [`Outbox`] for `SqlArchive<$db>`, with `$postgres` saying whether it is
/// PostgreSQL. A macro rather than generic code: the bounds sqlx asks for
/// every type bound and read, over any database, would outweigh the body.
macro_rules! outbox_for {
    ($db:ty, $postgres:expr) => {
        #[async_trait]
        impl Outbox for SqlArchive<$db> {
            async fn enqueue(&self, events: &[OutboxEvent]) -> Result<u64, StoreError> {
                let sql = dialect(ENQUEUE, $postgres);
                let now = micros(Utc::now());
                let mut written = 0;
                for event in events {
                    let done = self
                        .guarded
                        .call(
                            sqlx::query(sqlx::AssertSqlSafe(sql.as_ref()))
                                .bind(&event.id)
                                .bind(event.job_id.as_str())
                                .bind(i64::from(event.attempt))
                                .bind(event.event.as_str())
                                .bind(i64::try_from(event.episode).unwrap_or(i64::MAX))
                                .bind(&event.payload)
                                .bind(now)
                                .execute(&self.writer),
                        )
                        .await?;
                    written += done.rows_affected();
                }
                Ok(written)
            }

            async fn route(
                &self,
                limit: u32,
                pick: &(dyn for<'e> Fn(&'e Unrouted) -> Vec<String> + Send + Sync),
            ) -> Result<usize, StoreError> {
                let work = async {
                    let mut tx = self.writer.begin().await?;
                    let rows: Vec<(String, String, String, String, i64)> =
                        sqlx::query_as(sqlx::AssertSqlSafe(dialect(UNROUTED, $postgres)))
                            .bind(i64::from(limit))
                            .fetch_all(&mut *tx)
                            .await?;
                    let now = micros(Utc::now());
                    for (id, job_id, event_type, payload, created_at) in &rows {
                        let event = Unrouted {
                            id: id.clone(),
                            job_id: job_id.clone(),
                            event_type: event_type.clone(),
                            payload: payload.clone(),
                        };
                        for subscription in pick(&event) {
                            sqlx::query(sqlx::AssertSqlSafe(dialect(ROUTE_ONE, $postgres)))
                                .bind(id)
                                .bind(subscription)
                                .bind(event_type)
                                .bind(job_id)
                                .bind(*created_at)
                                .bind(payload)
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                        }
                        sqlx::query(sqlx::AssertSqlSafe(dialect(ROUTED, $postgres)))
                            .bind(now)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(rows.len())
                };
                self.guarded.call(work).await
            }

            async fn claim(&self, limit: u32, lease: Duration) -> Result<Vec<Claimed>, StoreError> {
                let now = micros(Utc::now());
                let rows: Vec<ClaimedRow> = self
                    .guarded
                    .call(
                        sqlx::query_as(sqlx::AssertSqlSafe(dialect(CLAIM, $postgres)))
                            .bind(now.saturating_add(duration_micros(lease)))
                            .bind(now)
                            .bind(i64::from(limit))
                            .fetch_all(&self.writer),
                    )
                    .await?;
                let mut claimed: Vec<Claimed> = rows.into_iter().map(claimed_of).collect();
                // RETURNING gives no order: soonest written first.
                claimed.sort_by_key(|c| c.created_at);
                Ok(claimed)
            }

            async fn settle(&self, attempt: &Attempt, verdict: Verdict) -> Result<(), StoreError> {
                let work = async {
                    let mut tx = self.writer.begin().await?;
                    sqlx::query(sqlx::AssertSqlSafe(dialect(KEEP_ATTEMPT, $postgres)))
                        .bind(&attempt.message_id)
                        .bind(&attempt.subscription)
                        .bind(micros(attempt.at))
                        .bind(attempt.status_code.map(i64::from))
                        .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
                        .bind(&attempt.outcome)
                        .bind(&attempt.response)
                        .execute(&mut *tx)
                        .await?;
                    let now = Utc::now();
                    sqlx::query(sqlx::AssertSqlSafe(dialect(MOVE_DELIVERY, $postgres)))
                        .bind(verdict.state())
                        .bind(next_attempt(verdict, now))
                        .bind(micros(now))
                        .bind(&attempt.message_id)
                        .bind(&attempt.subscription)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await
                };
                self.guarded.call(work).await
            }

            async fn disable(&self, subscription: &str) -> Result<(), StoreError> {
                let work = async {
                    let now = micros(Utc::now());
                    let mut tx = self.writer.begin().await?;
                    sqlx::query(sqlx::AssertSqlSafe(dialect(DISABLE, $postgres)))
                        .bind(subscription)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(sqlx::AssertSqlSafe(dialect(GIVE_UP_PENDING, $postgres)))
                        .bind(subscription)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await
                };
                self.guarded.call(work).await
            }

            async fn disabled(&self) -> Result<Vec<String>, StoreError> {
                self.guarded
                    .call(
                        sqlx::query_scalar(sqlx::AssertSqlSafe(DISABLED)).fetch_all(&self.readers),
                    )
                    .await
            }

            async fn stats(
                &self,
                subscriptions: &[String],
            ) -> Result<Vec<DeliveryStats>, StoreError> {
                let mut all = Vec::with_capacity(subscriptions.len());
                for subscription in subscriptions {
                    let counts: Vec<(String, i64)> = self
                        .guarded
                        .call(
                            sqlx::query_as(sqlx::AssertSqlSafe(dialect(COUNTS, $postgres)))
                                .bind(subscription)
                                .fetch_all(&self.readers),
                        )
                        .await?;
                    let count = |state: &str| {
                        counts
                            .iter()
                            .find(|(s, _)| s == state)
                            .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or_default())
                    };
                    let last = self.attempts(subscription, None, 1).await?.pop();
                    all.push(DeliveryStats {
                        dead: count("dead"),
                        pending: count("pending"),
                        last,
                    });
                }
                Ok(all)
            }

            async fn attempts(
                &self,
                subscription: &str,
                before: Option<i64>,
                limit: u32,
            ) -> Result<Vec<Attempt>, StoreError> {
                let rows: Vec<AttemptRow> = self
                    .guarded
                    .call(
                        sqlx::query_as(sqlx::AssertSqlSafe(dialect(ATTEMPTS, $postgres)))
                            .bind(subscription)
                            .bind(before.unwrap_or(i64::MAX))
                            .bind(i64::from(limit))
                            .fetch_all(&self.readers),
                    )
                    .await?;
                Ok(rows.into_iter().map(attempt_of).collect())
            }

            async fn retry(
                &self,
                subscription: &str,
                message_id: &str,
            ) -> Result<bool, StoreError> {
                let done = self
                    .guarded
                    .call(
                        sqlx::query(sqlx::AssertSqlSafe(dialect(RETRY, $postgres)))
                            .bind(micros(Utc::now()))
                            .bind(subscription)
                            .bind(message_id)
                            .execute(&self.writer),
                    )
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn oldest_waiting(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
                let oldest: Option<i64> = self
                    .guarded
                    .call(sqlx::query_scalar(sqlx::AssertSqlSafe(OLDEST)).fetch_one(&self.readers))
                    .await?;
                Ok(oldest.map(from_micros))
            }

            async fn prune(&self, keep: Duration, batch: u32) -> Result<u64, StoreError> {
                let cutoff = micros(Utc::now()).saturating_sub(duration_micros(keep));
                let mut deleted = 0;
                for sql in PRUNE {
                    let done = self
                        .guarded
                        .call(
                            sqlx::query(sqlx::AssertSqlSafe(dialect(sql, $postgres)))
                                .bind(cutoff)
                                .bind(i64::from(batch))
                                .execute(&self.writer),
                        )
                        .await?;
                    deleted += done.rows_affected();
                }
                Ok(deleted)
            }
        }
    };
}

outbox_for!(sqlx::Postgres, true);
outbox_for!(sqlx::Sqlite, false);
