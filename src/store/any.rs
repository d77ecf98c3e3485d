//! [`AnyArchive`]: the archive a process opened, whichever database it is,
//! for what start-up does before it only needs the [`Archive`] interface
//! (migrations, the active TTL, where it lives).

use std::{path::Path, sync::Arc, time::Duration};

use super::{Archive, Outbox, PgArchive, SqliteArchive};
use crate::domain::WantedEvents;

/// The archive a process opened.
#[derive(Debug, Clone)]
pub enum AnyArchive {
    /// PostgreSQL: shared by any number of API instances.
    Postgres(PgArchive),
    /// A SQLite file: this machine only.
    Sqlite {
        /// The archive.
        archive: SqliteArchive,
        /// Its file, for the start-up log.
        location: String,
    },
}

impl AnyArchive {
    /// A SQLite archive in the file at `path` (created, with its folder,
    /// when missing).
    pub fn sqlite_file(path: &Path, timeout: Duration) -> anyhow::Result<Self> {
        Ok(AnyArchive::Sqlite {
            archive: SqliteArchive::open(path, timeout)?,
            location: path.display().to_string(),
        })
    }

    /// A SQLite archive at a `sqlite://path` URL.
    pub fn sqlite_url(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(AnyArchive::Sqlite {
            archive: SqliteArchive::from_url(url, timeout)?,
            location: url.to_owned(),
        })
    }

    /// Leaves out of the active list the active checkpoints not updated
    /// for longer than `ttl` (see [`PgArchive::with_active_ttl`]).
    pub fn with_active_ttl(self, ttl: Duration) -> Self {
        match self {
            AnyArchive::Postgres(archive) => AnyArchive::Postgres(archive.with_active_ttl(ttl)),
            AnyArchive::Sqlite { archive, location } => AnyArchive::Sqlite {
                archive: archive.with_active_ttl(ttl),
                location,
            },
        }
    }

    /// Writes the webhook `events` a checkpoint makes happen to the outbox
    /// (see [`PgArchive::with_webhook_events`]).
    pub fn with_webhook_events(self, events: WantedEvents) -> Self {
        match self {
            AnyArchive::Postgres(archive) => {
                AnyArchive::Postgres(archive.with_webhook_events(events))
            }
            AnyArchive::Sqlite { archive, location } => AnyArchive::Sqlite {
                archive: archive.with_webhook_events(events),
                location,
            },
        }
    }

    /// Applies the embedded migrations of its database.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            AnyArchive::Postgres(archive) => archive.migrate().await,
            AnyArchive::Sqlite { archive, .. } => archive.migrate().await,
        }
    }

    /// Where it keeps checkpoints, for the start-up log (never a password).
    pub fn location(&self) -> String {
        match self {
            AnyArchive::Postgres(_) => "PostgreSQL at DATABASE_URL".to_owned(),
            AnyArchive::Sqlite { location, .. } => format!("SQLite at {location}"),
        }
    }

    /// A file of this machine's (SQLite), not a server several machines
    /// share.
    pub fn is_embedded(&self) -> bool {
        matches!(self, AnyArchive::Sqlite { .. })
    }

    /// The webhook outbox on the same database.
    pub fn outbox(&self) -> Arc<dyn Outbox> {
        match self {
            AnyArchive::Postgres(archive) => Arc::new(archive.clone()),
            AnyArchive::Sqlite { archive, .. } => Arc::new(archive.clone()),
        }
    }

    /// The archive behind its interface.
    pub fn shared(&self) -> Arc<dyn Archive> {
        match self {
            AnyArchive::Postgres(archive) => Arc::new(archive.clone()),
            AnyArchive::Sqlite { archive, .. } => Arc::new(archive.clone()),
        }
    }
}
