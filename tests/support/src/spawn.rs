//! Spawning the real app on port 0 over a store pair, one isolated world
//! per test: a fresh database from `#[sqlx::test]` and a random Redis key
//! prefix, or the embedded pair in a folder of its own.

use std::{num::NonZeroU16, sync::Arc, time::Duration};

use job_progress::{
    config::ServeSettings,
    http::AppState,
    push::{Bus, Publisher},
    startup::Application,
    store::{AnyArchive, Archive, HotStore, Keys, MemoryStore, PgArchive, RedisStore, Ttls},
    telemetry,
    write::{ProgressWriter, WriterConfig},
};
use sqlx::PgPool;

use crate::{
    counting_store::{CountingStore, Gate},
    raw_redis::redis_url,
};

/// What a test can tune before the app starts.
pub struct Options {
    /// The Redis the app uses (default `REDIS_URL`).
    pub redis_url: String,
    /// The archive (default: PostgreSQL on the test's database).
    pub archive: Option<PgArchive>,
    /// How long the read cache keeps an answer.
    pub cache_ttl: Duration,
    /// The rest of the server's settings.
    pub settings: ServeSettings,
    /// Hold the hot store's single-job reads at this gate.
    pub gate: Option<Arc<Gate>>,
    /// Share another app's key prefix (a second API instance).
    pub keys: Option<Keys>,
    /// The bus (default: Redis pub/sub on the test's Redis and prefix).
    pub nats: Option<String>,
    /// `redis_url` is a node of a Redis Cluster: keys in this many buckets.
    pub cluster_buckets: Option<NonZeroU16>,
    /// How long the hot store keeps records (default: the server's).
    pub ttls: Ttls,
}

/// The stores a test runs on: Redis and a fresh PostgreSQL database, or
/// the embedded pair (the in-process store and SQLite in a folder of its
/// own). Tests that hold for both take a `Stores` and are run on each by
/// [`on_both_stores!`](crate::on_both_stores).
pub enum Stores {
    /// Redis under a random key prefix, and this database.
    Real(PgPool),
    /// What a server with neither `REDIS_URL` nor `DATABASE_URL` runs on.
    Embedded,
}

impl From<PgPool> for Stores {
    fn from(pool: PgPool) -> Self {
        Stores::Real(pool)
    }
}

impl Stores {
    /// The app on these stores.
    pub async fn spawn(self) -> TestApp {
        self.spawn_with(|_| {}).await
    }

    /// The app on these stores, tuned by `tune` first.
    pub async fn spawn_with(self, tune: impl FnOnce(&mut Options)) -> TestApp {
        match self {
            Stores::Real(pool) => spawn_app_with(pool, tune).await,
            Stores::Embedded => spawn_embedded_with(tune).await,
        }
    }
}

/// Runs `async fn $test(stores: Stores)` twice: as
/// `$test::on_redis_and_postgres` and `$test::on_embedded_stores`.
#[macro_export]
macro_rules! on_both_stores {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[sqlx::test(migrations = "migrations/postgres")]
            async fn on_redis_and_postgres(pool: sqlx::PgPool) {
                super::$test($crate::Stores::Real(pool)).await
            }
            #[tokio::test]
            async fn on_embedded_stores() {
                super::$test($crate::Stores::Embedded).await
            }
        }
    )*};
}

/// A running app and handles on everything behind it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// A client for the app (10 s timeout).
    pub client: reqwest::Client,
    /// The app's Redis key layout (its random prefix).
    pub keys: Keys,
    redis: Option<RedisStore>,
    /// The hot store, counting what reaches it.
    pub hot: Arc<CountingStore>,
    /// The archive behind the app.
    pub archive: Arc<dyn Archive>,
    pool: Option<PgPool>,
    /// What the app's handlers share, to mount extra test-only services
    /// over the same configuration.
    pub state: AppState,
    /// The embedded archive's folder, removed when the test ends.
    _data: Option<tempfile::TempDir>,
}

/// The app over a fresh database and its own key prefix.
pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, |_| {}).await
}

fn test_options() -> Options {
    telemetry::init_for_tests();
    Options {
        redis_url: redis_url(),
        archive: None,
        cache_ttl: Duration::from_secs(1),
        settings: ServeSettings::defaults(),
        gate: None,
        keys: None,
        nats: None,
        cluster_buckets: None,
        ttls: Ttls::default(),
    }
}

/// The app over a fresh database and its own key prefix, tuned by `tune`.
pub async fn spawn_app_with(pool: PgPool, tune: impl FnOnce(&mut Options)) -> TestApp {
    let mut options = test_options();
    tune(&mut options);

    let keys = options
        .keys
        .clone()
        .unwrap_or_else(|| Keys::new(format!("test-{}:", uuid::Uuid::new_v4())));
    let keys = match options.cluster_buckets {
        Some(buckets) => keys.bucketed(buckets),
        None => keys,
    };
    let connect = if keys.is_bucketed() {
        RedisStore::cluster
    } else {
        RedisStore::new
    };
    let redis = connect(
        &options.redis_url,
        keys.clone(),
        options.ttls,
        Duration::from_millis(200),
    )
    .expect("redis store");
    let archive = options
        .archive
        .take()
        .unwrap_or_else(|| PgArchive::from_pool(pool.clone(), Duration::from_secs(2)));
    // With NATS as the bus, as in production: the store publishes
    // nothing, and what is written over HTTP is published to NATS.
    let (redis, bus, publisher) = match options.nats.take() {
        None => (redis.clone(), job_progress::config::redis_bus(&redis), None),
        Some(url) => {
            let publisher = Publisher::nats(&url, keys.events_channel())
                .await
                .expect("a NATS publisher");
            let bus = Bus::Nats {
                url,
                subject: keys.events_channel(),
            };
            (redis.without_publishing(), bus, Some(publisher))
        }
    };
    let mut app = launch(
        options,
        Arc::new(redis.clone()),
        Arc::new(archive),
        (bus, publisher),
        keys,
    );
    app.redis = Some(redis);
    app.pool = Some(pool);
    app
}

/// The app on the embedded stores: the in-process hot store and SQLite in
/// a folder of its own.
pub async fn spawn_embedded_with(tune: impl FnOnce(&mut Options)) -> TestApp {
    let mut options = test_options();
    tune(&mut options);
    let data = tempfile::tempdir().expect("a folder for SQLite");
    let archive =
        AnyArchive::sqlite_file(&data.path().join("job-progress.db"), Duration::from_secs(2))
            .expect("a SQLite archive");
    archive.migrate().await.expect("the SQLite migrations");
    let hot = MemoryStore::new(options.ttls, job_progress::push::FEED_CAPACITY);
    let bus = Bus::InProcess(hot.events());
    let keys = Keys::new("embedded:");
    let mut app = launch(options, Arc::new(hot), archive.shared(), (bus, None), keys);
    app._data = Some(data);
    app
}

/// Builds and runs the app over these stores.
fn launch(
    options: Options,
    hot: Arc<dyn HotStore>,
    archive: Arc<dyn Archive>,
    (bus, publisher): (Bus, Option<Publisher>),
    keys: Keys,
) -> TestApp {
    let hot = Arc::new(CountingStore::new(hot, options.gate));
    let mut settings = options.settings;
    settings.listen_addr = "127.0.0.1:0".parse().unwrap();
    settings.cache_ttl_ms = options.cache_ttl.as_millis() as u64;
    settings.workers = Some(2);
    settings.shutdown_timeout_secs = 1;
    let app = Application::build_with(
        &settings,
        Arc::clone(&hot) as Arc<dyn HotStore>,
        Arc::clone(&archive),
        Some(bus),
        publisher,
    )
    .expect("the app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());

    TestApp {
        address,
        client: job_progress::outbound::client_builder(None)
            .expect("the TLS setup")
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        keys,
        redis: None,
        hot,
        archive,
        pool: None,
        state,
        _data: None,
    }
}

impl TestApp {
    /// The Redis store behind the app; only apps on Redis have one.
    pub fn redis(&self) -> &RedisStore {
        self.redis
            .as_ref()
            .expect("this test runs on Redis (Stores::Real)")
    }

    /// The app's PostgreSQL database; only apps on PostgreSQL have one.
    pub fn pool(&self) -> &PgPool {
        self.pool
            .as_ref()
            .expect("this test runs on PostgreSQL (Stores::Real)")
    }

    /// A writer over this app's stores (through the counting hot store).
    pub fn writer(&self, config: WriterConfig) -> ProgressWriter {
        ProgressWriter::new(
            Arc::clone(&self.hot) as Arc<dyn HotStore>,
            Arc::clone(&self.archive),
            config,
        )
    }
}
