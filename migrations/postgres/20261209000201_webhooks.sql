-- Webhooks: the outbox of events, each event's deliveries (one per
-- subscription that wants it), every attempt, and the subscriptions a
-- receiver disabled (410 Gone).
--
-- Times are BIGINT microseconds since the epoch, as on SQLite, so both
-- archives share these statements word for word (src/store/archive/outbox/).

-- One row per event, written in the transaction of the status change that
-- makes it (the checkpoint), or by the instance whose stall watch won the
-- unique key. The key keeps a retried completion from announcing twice; a
-- stall's episode is the record version at which the job stalled (0 for
-- the other events). id is the webhook-id every attempt sends (msg_...).
CREATE TABLE webhook_outbox (
    id         TEXT PRIMARY KEY,
    job_id     TEXT NOT NULL,
    attempt    BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    episode    BIGINT NOT NULL DEFAULT 0,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    routed_at  BIGINT,
    CONSTRAINT webhook_outbox_event_key UNIQUE (job_id, attempt, event_type, episode)
);

-- Events not yet routed to their subscriptions, oldest first.
CREATE INDEX webhook_outbox_unrouted_idx ON webhook_outbox (created_at) WHERE routed_at IS NULL;
-- Retention, by age.
CREATE INDEX webhook_outbox_age_idx ON webhook_outbox (created_at);

-- One row per (event, subscription): the delivery and its schedule.
CREATE TABLE webhook_deliveries (
    message_id      TEXT NOT NULL,
    subscription    TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    job_id          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (message_id, subscription)
);

-- Due deliveries, soonest first.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
-- A subscription's counts (dead letters) and retention.
CREATE INDEX webhook_deliveries_subscription_idx ON webhook_deliveries (subscription, state);
CREATE INDEX webhook_deliveries_age_idx ON webhook_deliveries (created_at);

-- Every attempt: when, the answer's status (none when no answer came), how
-- long it took, and the first 1 KB of the answer or the error.
CREATE TABLE webhook_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id   TEXT NOT NULL,
    subscription TEXT NOT NULL,
    attempted_at BIGINT NOT NULL,
    status_code  BIGINT,
    duration_ms  BIGINT NOT NULL,
    outcome      TEXT NOT NULL,
    response     TEXT NOT NULL
);

-- A subscription's attempts, newest first (the deliveries page).
CREATE INDEX webhook_attempts_subscription_idx ON webhook_attempts (subscription, id DESC);
CREATE INDEX webhook_attempts_age_idx ON webhook_attempts (attempted_at);

-- Subscriptions a receiver answered 410 Gone: no more deliveries until the
-- subscription is renamed or this row deleted.
CREATE TABLE webhook_disabled (
    subscription TEXT PRIMARY KEY,
    disabled_at  BIGINT NOT NULL
);
