//! The two stores behind small interfaces, each kind in a room of its own.
//!
//! - `hot/` — [`HotStore`]: where live progress is written and read
//!   first. Fast, forgetful (every value has a TTL). Implemented by
//!   [`RedisStore`] (`hot/redis/`), on one Redis or a Redis Cluster, and,
//!   with nothing installed, [`MemoryStore`] (`hot/memory.rs`, this
//!   process only).
//! - `archive/` — [`Archive`]: the durable checkpoint of every job and the
//!   schedules. Implemented by [`PgArchive`] (`archive/postgres/`) and, for
//!   running with nothing installed, [`SqliteArchive`] (`archive/sqlite/`,
//!   one file). Both folders hold the same files for the same ideas
//!   (`open.rs`, `checkpoint.rs`, `reads.rs`, `retention.rs`, `runs.rs`,
//!   `sql.rs`);
//!   what both write alike, the never-backwards condition above all, is
//!   SQL they share (`archive/sql.rs`), both read rows through
//!   `archive/rows.rs`, both are one generic type, [`SqlArchive`]
//!   (`archive/sql_archive.rs`: its settings and migrations), and what
//!   they call alike is `archive/calls.rs`.
//!
//! Beside them, what both kinds use: `guard.rs` (timeout, error kind and
//! the circuit breaker of [`breaker`] around every store call), [`keys`]
//! (the Redis key layout), `retention.rs` ([`Retention`]: old finished
//! checkpoints deleted from either archive) and `any.rs`.
//!
//! The handlers and the writer only see these traits; which pair a process
//! uses is picked in [`crate::config`] ([`AnyArchive`] is the archive it
//! opened). One contract suite (`tests/contract/`) runs against every
//! implementation, so they behave alike.

mod any;
mod archive;
pub mod breaker;
mod guard;
mod hot;
pub mod keys;
mod outbox;
mod retention;

use std::{collections::HashSet, time::Duration};

use crate::domain::ProgressRecord;

pub use self::any::AnyArchive;
pub use self::archive::{Archive, KIND_RUNS_KEPT, KindRun, PgArchive, SqlArchive, SqliteArchive};
pub use self::hot::{
    Held, HotStore, HotWrite, MemoryEvent, MemoryStore, ReadOne, RedisStore, Replaced, Ttls,
};
pub use breaker::BreakerConfig;
pub use keys::Keys;
pub use outbox::{Attempt, Claimed, DeliveryStats, Outbox, OutboxEvent, Unrouted, Verdict};
pub use retention::Retention;

/// What became of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The record was stored.
    Written,
    /// The store already holds a later state of the job (a finished job, or
    /// higher counts); the write was dropped so the job never moves backwards.
    Stale,
}

impl WriteOutcome {
    /// What became of each of `records`, in order, given the ids of the
    /// jobs a store wrote (the others were stale).
    pub(crate) fn of_each(records: &[ProgressRecord], written: &HashSet<String>) -> Vec<Self> {
        records
            .iter()
            .map(|record| {
                if written.contains(record.job_id.as_str()) {
                    WriteOutcome::Written
                } else {
                    WriteOutcome::Stale
                }
            })
            .collect()
    }
}

/// A store could not do what was asked. The caller decides whether to fall
/// back, retry or answer 503; the message never reaches an HTTP client.
///
/// Each store decides which kind an error of its client library is, where
/// the error is made (`classify` in its module): only [`Timeout`] and
/// [`Unavailable`] are [outages](Self::is_outage) that count against its
/// circuit breaker.
///
/// [`Timeout`]: Self::Timeout
/// [`Unavailable`]: Self::Unavailable
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer in time (hung, overloaded, far away).
    #[error("{store} did not answer within {timeout:?}")]
    Timeout {
        /// `redis`, `postgres` or `sqlite`.
        store: &'static str,
        /// The limit that ran out.
        timeout: Duration,
    },
    /// The store could not be reached, or is being skipped by its breaker.
    #[error("{store} failed")]
    Unavailable {
        /// `redis`, `postgres` or `sqlite`.
        store: &'static str,
        /// What the client library (or the breaker) said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store answered, refusing this one command (a constraint, a
    /// script error): says nothing about the store's health.
    #[error("{store} refused the command")]
    Refused {
        /// `redis`, `postgres` or `sqlite`.
        store: &'static str,
        /// What the store said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A value could not be understood (not JSON, wrong types), or could
    /// not be encoded for storage.
    #[error("the value stored under {key} is not a valid progress record")]
    Corrupt {
        /// The key or row holding it.
        key: String,
        /// Why it does not parse.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// A timeout or a lost connection: the store itself is in trouble, as
    /// opposed to refusing one command or holding one bad value.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            StoreError::Timeout { .. } | StoreError::Unavailable { .. }
        )
    }

    /// The value under `key` could not be read, or a value could not be
    /// encoded to be stored there.
    pub(crate) fn corrupt(
        key: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Corrupt {
            key: key.into(),
            source: Box::new(source),
        }
    }

    pub(crate) fn refused(
        store: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Refused {
            store,
            source: Box::new(source),
        }
    }

    pub(crate) fn unavailable(
        store: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Unavailable {
            store,
            source: Box::new(source),
        }
    }
}
