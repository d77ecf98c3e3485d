//! [`AnyArchive`]: the archive a process opened, whichever database it is,
//! for what start-up does before it only needs the [`Archive`] interface
//! (migrations, the active TTL, retention).

use std::{path::Path, sync::Arc, time::Duration};

use super::{Archive, PgArchive, Retention};

/// The archive a process opened.
#[derive(Debug, Clone)]
pub enum AnyArchive {
    /// PostgreSQL: shared by any number of API instances.
    Postgres(PgArchive),
}

impl AnyArchive {
    /// A SQLite archive in the file at `path` (created, with its folder,
    /// when missing).
    pub fn sqlite_file(path: &Path, timeout: Duration) -> anyhow::Result<Self> {
        let _ = (path, timeout);
        anyhow::bail!("SQLite is not available in this build")
    }

    /// A SQLite archive at a `sqlite://path` URL.
    pub fn sqlite_url(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let _ = (url, timeout);
        anyhow::bail!("SQLite is not available in this build")
    }

    /// Leaves out of the active list the active checkpoints not updated
    /// for longer than `ttl` (see [`PgArchive::with_active_ttl`]).
    pub fn with_active_ttl(self, ttl: Duration) -> Self {
        match self {
            AnyArchive::Postgres(archive) => AnyArchive::Postgres(archive.with_active_ttl(ttl)),
        }
    }

    /// Applies the embedded migrations of its database.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            AnyArchive::Postgres(archive) => archive.migrate().await,
        }
    }

    /// Where it keeps checkpoints, for the start-up log (never a password).
    pub fn location(&self) -> String {
        match self {
            AnyArchive::Postgres(_) => "PostgreSQL at DATABASE_URL".to_owned(),
        }
    }

    /// A file of this machine's (SQLite), not a server several machines
    /// share.
    pub fn is_embedded(&self) -> bool {
        !matches!(self, AnyArchive::Postgres(_))
    }

    /// Deletes old finished checkpoints now and then (see [`Retention`]).
    pub fn spawn_retention(&self, retention: Retention) {
        match self {
            AnyArchive::Postgres(archive) => drop(archive.spawn_retention(retention)),
        }
    }

    /// The archive behind its interface.
    pub fn shared(&self) -> Arc<dyn Archive> {
        match self {
            AnyArchive::Postgres(archive) => Arc::new(archive.clone()),
        }
    }
}
