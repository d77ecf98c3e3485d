//! Reaching the test's own PostgreSQL database from elsewhere: a child
//! process's `DATABASE_URL`, the server's address for a proxy, a pool
//! through that proxy.

use std::time::Duration;

use sqlx::PgPool;

/// A PostgreSQL URL where nothing listens.
pub const DEAD_POSTGRES: &str = "postgres://postgres@127.0.0.1:1/postgres";

/// `DATABASE_URL` pointed at the test's own database, for child processes.
pub fn database_url_for(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set by scripts/test.sh");
    let database = pool
        .connect_options()
        .get_database()
        .unwrap_or("postgres")
        .to_owned();
    let (server, _) = base
        .rsplit_once('/')
        .expect("DATABASE_URL ends in /<database>");
    format!("{server}/{database}")
}

/// Where the test's PostgreSQL server listens (from `DATABASE_URL`).
pub async fn postgres_addr(pool: &PgPool) -> std::net::SocketAddr {
    let options = pool.connect_options();
    tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await
        .expect("the PostgreSQL host resolves")
        .next()
        .expect("the PostgreSQL host has an address")
}

/// A pool reaching the test's database through another port (a proxy).
pub fn pool_via(pool: &PgPool, port: u16) -> PgPool {
    let options = (*pool.connect_options()).clone().port(port);
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy_with(options)
}
