//! Opening the file: the writer's and the readers' pools, with the
//! settings the module documentation explains.

use std::{path::Path, str::FromStr, time::Duration};

use anyhow::{Context as _, bail};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{READERS, SqliteArchive};

impl SqliteArchive {
    /// The archive in the SQLite file at `path`, created (with its parent
    /// folder) if missing. Connects lazily; `timeout` bounds each call,
    /// the wait for a connection or a lock included.
    pub fn open(path: &Path, timeout: Duration) -> anyhow::Result<Self> {
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create the folder {}", folder.display()))?;
        }
        // Created here, not at the first connection, so a path that cannot
        // be written stops the start with its reason. An empty file is an
        // empty database.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open or create {}", path.display()))?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(timeout)
            .synchronous(SqliteSynchronous::Normal);
        // Only the writer sets the journal mode: switching to WAL takes a
        // lock that cannot be waited for, and the mode, once set, is kept
        // in the file for every connection.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(timeout)
            .connect_lazy_with(options.clone().journal_mode(SqliteJournalMode::Wal));
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(timeout)
            .connect_lazy_with(options);
        Ok(Self::from_pools(writer, readers, timeout))
    }

    /// The archive `url` names: `sqlite://<path>` (`sqlite:///<absolute
    /// path>`), as [`Self::open`] does. An in-memory database
    /// (`sqlite::memory:`) is refused (see the module documentation), and
    /// so are URL options (`?mode=...`): the archive sets its own.
    pub fn from_url(url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        else {
            bail!("not a SQLite URL (expected sqlite://<path>): {url}");
        };
        if rest == ":memory:" || rest.contains("mode=memory") {
            bail!(
                "an in-memory SQLite database cannot hold the archive (it would be locked table \
                 by table and lost with its last connection): name a file, sqlite://<path>, \
                 in a temporary folder if it should not last"
            );
        }
        if rest.contains('?') {
            bail!("options in a SQLite URL are not supported, the archive sets its own: {url}");
        }
        if rest.is_empty() {
            bail!("the SQLite URL names no file (expected sqlite://<path>): {url}");
        }
        // sqlx's parser undoes the URL's percent-encoding.
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("invalid SQLite URL: {url}"))?;
        Self::open(options.get_filename(), timeout)
    }
}
