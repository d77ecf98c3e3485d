//! [`SqlArchive`]: an archive on one SQL database, the type both
//! [`PgArchive`](super::PgArchive) and
//! [`SqliteArchive`](super::SqliteArchive) are, with the settings and the
//! migrations written once. Each database's folder opens it (`open.rs`)
//! and implements [`Archive`](super::Archive) for it (`mod.rs`).
//!
//! Generic over sqlx's [`Database`], so each database gets its own
//! compiled copy: the same code as two hand-written types, at no run-time
//! cost.

use std::time::Duration;

use sqlx::{
    Database, Pool,
    migrate::{Migrate, Migrator},
};

use super::{
    DEFAULT_ACTIVE_TTL, calls,
    guard::{ErrorKind, Guarded},
};
use crate::{domain::WantedEvents, store::BreakerConfig};

/// An archive on the database `DB`. Cloning shares the pools.
pub struct SqlArchive<DB: Database> {
    /// Every write. SQLite's is one connection (see its module); on
    /// PostgreSQL it is the same pool as `readers`.
    pub(super) writer: Pool<DB>,
    /// Every read.
    pub(super) readers: Pool<DB>,
    /// Timeout (bounding one whole call, the wait for a connection
    /// included, so a hung database delays a request by at most this
    /// much) and breaker.
    pub(super) guarded: Guarded<sqlx::Error>,
    /// An active checkpoint not updated for this long is left out of the
    /// active list: its worker is long gone (see [`Self::with_active_ttl`]).
    pub(super) active_ttl: Duration,
    /// The webhook events a checkpoint writes to the outbox (see
    /// [`Self::with_webhook_events`]); none by default.
    pub(super) events: WantedEvents,
    /// The database's migrations, embedded in the binary.
    migrator: &'static Migrator,
}

impl<DB: Database> SqlArchive<DB> {
    /// The archive on `writer` and `readers` (which may be one pool),
    /// guarded by `timeout` and the default breaker, with the default
    /// active TTL.
    pub(super) fn new(
        store: &'static str,
        classify: fn(&sqlx::Error) -> ErrorKind,
        migrator: &'static Migrator,
        (writer, readers): (Pool<DB>, Pool<DB>),
        timeout: Duration,
    ) -> Self
    where
        DB::Arguments: sqlx::IntoArguments<DB>,
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    {
        Self {
            guarded: calls::guarded(store, timeout, classify, &readers),
            writer,
            readers,
            active_ttl: DEFAULT_ACTIVE_TTL,
            events: WantedEvents::default(),
            migrator,
        }
    }

    /// Leaves out of the active list the `preparing` and `in_progress`
    /// checkpoints not updated for longer than `ttl`, as the hot store drops
    /// an active job whose record outlived its in-progress TTL
    /// (`PROGRESS_TTL_SECS`): its worker vanished long ago, and it would
    /// otherwise show as stalled for ever. Its checkpoint is still served
    /// by id. Default 24 h.
    pub fn with_active_ttl(mut self, ttl: Duration) -> Self {
        self.active_ttl = ttl;
        self
    }

    /// Writes an outbox row for each event a checkpoint makes happen (a
    /// job reaching `in_progress`, `completed`, `failed`, `cancelled`) that
    /// `events` holds at the time, in the checkpoint's own transaction:
    /// the events some webhook subscription wants. With none (the
    /// default) a checkpoint is the statement it always was. A writer
    /// that checkpoints on its own, not knowing the subscriptions, passes
    /// `WantedEvents::new(EventSet::ALL)`.
    pub fn with_webhook_events(mut self, events: WantedEvents) -> Self {
        self.events = events;
        self
    }

    /// Replaces the default circuit breaker (3 failures, 250 ms cool-off).
    pub fn with_breaker(mut self, config: BreakerConfig) -> Self {
        self.guarded.set_breaker(config);
        self
    }

    /// The pool every write goes through (on SQLite one connection), for
    /// migrations and tests.
    pub fn pool(&self) -> &Pool<DB> {
        &self.writer
    }

    /// Applies the embedded migrations.
    pub async fn migrate(&self) -> anyhow::Result<()>
    where
        DB::Connection: Migrate,
    {
        calls::migrate(self.migrator, &self.writer).await
    }
}

impl<DB: Database> Clone for SqlArchive<DB> {
    fn clone(&self) -> Self {
        Self {
            writer: self.writer.clone(),
            readers: self.readers.clone(),
            guarded: self.guarded.clone(),
            active_ttl: self.active_ttl,
            events: self.events.clone(),
            migrator: self.migrator,
        }
    }
}

impl<DB: Database> std::fmt::Debug for SqlArchive<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlArchive")
            .field("database", &DB::NAME)
            .field("guarded", &self.guarded)
            .field("active_ttl", &self.active_ttl)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}
