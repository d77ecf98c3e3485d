//! The outbox's statements, one text for both databases: PostgreSQL's,
//! turned into SQLite's by [`dialect`] (numbered `?N` for `$N`, and no row
//! locks: SQLite has one writer at a time).

use std::borrow::Cow;

/// PostgreSQL's row lock that lets two instances claim at once without
/// taking the same rows.
const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

/// `sql` for PostgreSQL (`postgres`) or SQLite.
pub(super) fn dialect(sql: &'static str, postgres: bool) -> Cow<'static, str> {
    if postgres {
        Cow::Borrowed(sql)
    } else {
        Cow::Owned(sql.replace(SKIP_LOCKED, "").replace('$', "?"))
    }
}

pub(super) const ENQUEUE: &str = "INSERT INTO webhook_outbox \
    (id, job_id, attempt, event_type, episode, payload, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";

pub(super) const UNROUTED: &str = "SELECT id, job_id, event_type, payload, created_at FROM webhook_outbox \
    WHERE routed_at IS NULL ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED";

pub(super) const ROUTE_ONE: &str = "INSERT INTO webhook_deliveries (message_id, subscription, event_type, \
    job_id, created_at, payload, state, attempts, next_attempt_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7) ON CONFLICT DO NOTHING";

pub(super) const ROUTED: &str = "UPDATE webhook_outbox SET routed_at = $1 WHERE id = $2";

pub(super) const CLAIM: &str = "UPDATE webhook_deliveries SET next_attempt_at = $1 \
    WHERE (message_id, subscription) IN ( \
        SELECT message_id, subscription FROM webhook_deliveries \
        WHERE state = 'pending' AND next_attempt_at <= $2 \
        ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
    RETURNING message_id, subscription, event_type, job_id, created_at, payload, attempts";

pub(super) const KEEP_ATTEMPT: &str = "INSERT INTO webhook_attempts (message_id, subscription, \
    attempted_at, status_code, duration_ms, outcome, response) \
    VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(super) const MOVE_DELIVERY: &str = "UPDATE webhook_deliveries \
    SET state = $1, attempts = attempts + 1, next_attempt_at = $2, updated_at = $3 \
    WHERE message_id = $4 AND subscription = $5";

pub(super) const DISABLE: &str = "INSERT INTO webhook_disabled (subscription, disabled_at) \
    VALUES ($1, $2) ON CONFLICT DO NOTHING";

pub(super) const GIVE_UP_PENDING: &str = "UPDATE webhook_deliveries SET state = 'dead', updated_at = $2 \
    WHERE subscription = $1 AND state = 'pending'";

pub(super) const DISABLED: &str = "SELECT subscription FROM webhook_disabled ORDER BY subscription";

pub(super) const COUNTS: &str = "SELECT state, COUNT(*) FROM webhook_deliveries \
    WHERE subscription = $1 AND state IN ('dead', 'pending') GROUP BY state";

/// The columns of an attempt, in `AttemptRow`'s order (`mod.rs`).
pub(super) const ATTEMPTS: &str = "SELECT a.id, a.message_id, a.subscription, d.event_type, d.job_id, \
    a.attempted_at, a.status_code, a.duration_ms, a.outcome, a.response, d.state \
    FROM webhook_attempts a LEFT JOIN webhook_deliveries d \
        ON d.message_id = a.message_id AND d.subscription = a.subscription \
    WHERE a.subscription = $1 AND a.id < $2 ORDER BY a.id DESC LIMIT $3";

pub(super) const RETRY: &str = "UPDATE webhook_deliveries \
    SET state = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1 \
    WHERE subscription = $2 AND message_id = $3 AND state = 'dead'";

pub(super) const OLDEST: &str = "SELECT MIN(created_at) FROM ( \
    SELECT MIN(created_at) AS created_at FROM webhook_outbox WHERE routed_at IS NULL \
    UNION ALL \
    SELECT MIN(created_at) FROM webhook_deliveries WHERE state = 'pending') AS waiting";

/// Retention's deletes, each at most `$2` rows older than `$1`.
pub(super) const PRUNE: [&str; 3] = [
    "DELETE FROM webhook_attempts WHERE id IN ( \
        SELECT id FROM webhook_attempts WHERE attempted_at < $1 LIMIT $2)",
    "DELETE FROM webhook_deliveries WHERE (message_id, subscription) IN ( \
        SELECT message_id, subscription FROM webhook_deliveries \
        WHERE created_at < $1 AND state <> 'pending' LIMIT $2)",
    "DELETE FROM webhook_outbox WHERE id IN ( \
        SELECT id FROM webhook_outbox WHERE created_at < $1 AND routed_at IS NOT NULL LIMIT $2)",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_statements_number_their_parameters_and_lock_nothing() {
        assert_eq!(
            dialect(CLAIM, false).matches("?").count(),
            3,
            "three parameters"
        );
        assert!(!dialect(CLAIM, false).contains("SKIP LOCKED"));
        assert!(dialect(CLAIM, true).contains("SKIP LOCKED"));
        assert!(!dialect(UNROUTED, false).contains('$'));
    }
}
