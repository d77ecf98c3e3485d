//! Opening the archive: a pool for `DATABASE_URL`, or one handed in.

use std::{str::FromStr, time::Duration};

use anyhow::Context as _;
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::{MIGRATOR, PgArchive, STORE, classify};

impl PgArchive {
    /// A lazily connecting pool for `url`: it can be built while PostgreSQL
    /// is down. `acquire_timeout` bounds the wait for a connection,
    /// `timeout` a whole call.
    pub fn connect_lazy(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .context("invalid DATABASE_URL")?
            .application_name("job-progress");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .connect_lazy_with(options);
        Ok(Self::from_pool(pool, timeout))
    }

    /// Wraps an existing pool (tests hand in the one `#[sqlx::test]` made).
    pub fn from_pool(pool: PgPool, timeout: Duration) -> Self {
        // One pool serves writes and reads alike.
        Self::new(STORE, classify, &MIGRATOR, (pool.clone(), pool), timeout)
    }
}
