-- Webhooks: the outbox of events, each event's deliveries (one per
-- subscription that wants it), every attempt, and the subscriptions a
-- receiver disabled (410 Gone). The same tables as
-- migrations/postgres/20261209000201_webhooks.sql, which says what each
-- holds; times are INTEGER microseconds since the epoch on both.

CREATE TABLE webhook_outbox (
    id         TEXT NOT NULL PRIMARY KEY,
    job_id     TEXT NOT NULL,
    attempt    INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    episode    INTEGER NOT NULL DEFAULT 0,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    routed_at  INTEGER,
    UNIQUE (job_id, attempt, event_type, episode)
) STRICT;

CREATE INDEX webhook_outbox_unrouted_idx ON webhook_outbox (created_at) WHERE routed_at IS NULL;
CREATE INDEX webhook_outbox_age_idx ON webhook_outbox (created_at);

CREATE TABLE webhook_deliveries (
    message_id      TEXT NOT NULL,
    subscription    TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    job_id          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (message_id, subscription)
) STRICT, WITHOUT ROWID;

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_subscription_idx ON webhook_deliveries (subscription, state);
CREATE INDEX webhook_deliveries_age_idx ON webhook_deliveries (created_at);

CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY,
    message_id   TEXT NOT NULL,
    subscription TEXT NOT NULL,
    attempted_at INTEGER NOT NULL,
    status_code  INTEGER,
    duration_ms  INTEGER NOT NULL,
    outcome      TEXT NOT NULL,
    response     TEXT NOT NULL
) STRICT;

CREATE INDEX webhook_attempts_subscription_idx ON webhook_attempts (subscription, id DESC);
CREATE INDEX webhook_attempts_age_idx ON webhook_attempts (attempted_at);

CREATE TABLE webhook_disabled (
    subscription TEXT NOT NULL PRIMARY KEY,
    disabled_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
