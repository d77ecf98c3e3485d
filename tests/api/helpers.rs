//! Spawning the real app against real Redis and PostgreSQL, one isolated
//! world per test: a fresh database from `#[sqlx::test]` and a random Redis
//! key prefix.

use std::{
    num::NonZeroU16,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use job_progress::{
    config::ServeSettings,
    domain::{JobId, ProgressRecord},
    http::AppState,
    push::Bus,
    startup::Application,
    store::{
        AnyArchive, Archive, Held, HotStore, HotWrite, Keys, MemoryStore, PgArchive, RedisStore,
        Replaced, StoreError, Ttls, keys::Bucket,
    },
    telemetry,
    write::{ProgressWriter, WriterConfig},
};
use sqlx::PgPool;
use tokio::sync::Notify;

/// Redis for the tests (`REDIS_URL`, default the local one).
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// An address where nothing listens: a store that is down.
pub const DEAD_REDIS: &str = "redis://127.0.0.1:1";
/// A PostgreSQL URL where nothing listens.
pub const DEAD_POSTGRES: &str = "postgres://postgres@127.0.0.1:1/postgres";

/// Holds a store's reads until the test opens it: `entered` is signalled
/// when a read arrives, the read goes on once `open` is.
#[derive(Default)]
pub struct Gate {
    pub entered: Notify,
    pub open: Notify,
}

/// A hot store that counts the calls it passes on to the real one, and
/// holds its single-job reads at a gate when it has one.
pub struct CountingStore {
    inner: Arc<dyn HotStore>,
    gate: Option<Arc<Gate>>,
    pub reads: AtomicU64,
    pub writes: AtomicU64,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn HotStore>, gate: Option<Arc<Gate>>) -> Self {
        Self {
            inner,
            gate,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        }
    }
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl HotStore for CountingStore {
    async fn write(&self, record: &ProgressRecord) -> Result<HotWrite, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.write(record).await
    }
    async fn replace(
        &self,
        record: &ProgressRecord,
        state: &[u8],
        expected: u64,
    ) -> Result<Replaced, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.replace(record, state, expected).await
    }
    async fn load(&self, id: &JobId) -> Result<Option<Held>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(id).await
    }
    async fn read(&self, id: &JobId) -> Result<Option<ProgressRecord>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.entered.notify_one();
            gate.open.notified().await;
        }
        self.inner.read(id).await
    }
    async fn read_many(&self, ids: &[JobId]) -> Result<Vec<Option<ProgressRecord>>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_many(ids).await
    }
    async fn active(
        &self,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<ProgressRecord>, u64), StoreError> {
        self.inner.active(limit, offset).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

/// What a test can tune before the app starts.
pub struct Options {
    pub redis_url: String,
    pub archive: Option<PgArchive>,
    pub cache_ttl: Duration,
    pub settings: ServeSettings,
    /// Hold the hot store's single-job reads at this gate.
    pub gate: Option<Arc<Gate>>,
    /// Share another app's key prefix (a second API instance).
    pub keys: Option<Keys>,
    /// The bus (default: Redis pub/sub on the test's Redis and prefix).
    pub nats: Option<String>,
    /// `redis_url` is a node of a Redis Cluster: keys in this many buckets.
    pub cluster_buckets: Option<NonZeroU16>,
}

/// The stores a test runs on: Redis and a fresh PostgreSQL database, or
/// the embedded pair (the in-process store and SQLite in a folder of its
/// own). Tests that hold for both take a `Stores` and are run on each by
/// [`on_both_stores!`].
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
    pub async fn spawn(self) -> TestApp {
        self.spawn_with(|_| {}).await
    }

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
                super::$test($crate::helpers::Stores::Real(pool)).await
            }
            #[tokio::test]
            async fn on_embedded_stores() {
                super::$test($crate::helpers::Stores::Embedded).await
            }
        }
    )*};
}

/// A running app and handles on everything behind it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub keys: Keys,
    redis: Option<RedisStore>,
    pub hot: Arc<CountingStore>,
    pub archive: Arc<dyn Archive>,
    pool: Option<PgPool>,
    /// What the app's handlers share, to mount extra test-only services
    /// over the same configuration.
    pub state: AppState,
    /// The embedded archive's folder, removed when the test ends.
    _data: Option<tempfile::TempDir>,
}

pub fn job(id: &str) -> JobId {
    JobId::parse(id).expect("a valid test job id")
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
    }
}

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
        Ttls::default(),
        Duration::from_millis(200),
    )
    .expect("redis store");
    let archive = options
        .archive
        .take()
        .unwrap_or_else(|| PgArchive::from_pool(pool.clone(), Duration::from_secs(2)));
    let bus = match options.nats.take() {
        None => job_progress::config::redis_bus(&redis),
        Some(url) => Bus::Nats {
            url,
            subject: keys.events_channel(),
        },
    };
    let mut app = launch(
        options,
        Arc::new(redis.clone()),
        Arc::new(archive),
        bus,
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
    let hot = MemoryStore::new(Ttls::default(), job_progress::push::FEED_CAPACITY);
    let bus = Bus::InProcess(hot.events());
    let keys = Keys::new("embedded:");
    let mut app = launch(options, Arc::new(hot), archive.shared(), bus, keys);
    app._data = Some(data);
    app
}

/// Builds and runs the app over these stores.
fn launch(
    options: Options,
    hot: Arc<dyn HotStore>,
    archive: Arc<dyn Archive>,
    bus: Bus,
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
        None,
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

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("the request is answered")
    }

    /// GET `path` with one extra request header.
    pub async fn get_with(&self, path: &str, header: &str, value: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .header(header, value)
            .send()
            .await
            .expect("the request is answered")
    }

    /// GET `path` with `Authorization: Bearer <token>`.
    pub async fn get_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.get_with(path, "Authorization", &format!("Bearer {token}"))
            .await
    }

    pub async fn get_progress(&self, id: &str) -> reqwest::Response {
        self.get(&format!("/api/v1/jobs/{id}/progress")).await
    }

    pub async fn get_active(&self, query: &str) -> reqwest::Response {
        self.get(&format!("/api/v1/jobs/active{query}")).await
    }

    /// A writer over this app's stores (through the counting hot store).
    pub fn writer(&self, config: WriterConfig) -> ProgressWriter {
        ProgressWriter::new(
            Arc::clone(&self.hot) as Arc<dyn HotStore>,
            Arc::clone(&self.archive),
            config,
        )
    }

    /// A raw Redis connection, to look behind the store.
    pub async fn raw_redis(&self) -> redis::aio::MultiplexedConnection {
        raw_redis_at(&redis_url()).await
    }

    pub async fn ttl(&self, id: &str) -> i64 {
        let mut conn = self.raw_redis().await;
        redis::cmd("TTL")
            .arg(self.keys.progress(&job(id)))
            .query_async(&mut conn)
            .await
            .unwrap()
    }

    pub async fn index_members(&self) -> Vec<String> {
        self.index_members_at(&redis_url()).await
    }

    /// Members of the by-start index, in order.
    pub async fn by_start_members(&self) -> Vec<String> {
        zset_members(&redis_url(), &self.keys.by_start_index(self.only_bucket())).await
    }

    pub async fn index_members_at(&self, url: &str) -> Vec<String> {
        zset_members(url, &self.keys.active_index(self.only_bucket())).await
    }

    /// The one bucket of the one-Redis layout.
    fn only_bucket(&self) -> Bucket {
        let [only] = self.keys.buckets().collect::<Vec<_>>()[..] else {
            panic!("the app is on one Redis, which has one bucket");
        };
        only
    }

    pub async fn delete_key(&self, id: &str) {
        let mut conn = self.raw_redis().await;
        let _: i64 = redis::cmd("DEL")
            .arg(self.keys.progress(&job(id)))
            .query_async(&mut conn)
            .await
            .unwrap();
    }

    pub async fn set_raw(&self, id: &str, value: &str) {
        let mut conn = self.raw_redis().await;
        let _: () = redis::cmd("SET")
            .arg(self.keys.progress(&job(id)))
            .arg(value)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

/// A response's envelope, checked: `statusCode` equals the HTTP status.
pub async fn envelope(response: reqwest::Response) -> serde_json::Value {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("a JSON envelope");
    assert_eq!(
        body["statusCode"], status,
        "statusCode must equal the HTTP status: {body}"
    );
    assert!(
        body["message"].is_string(),
        "every envelope has a message: {body}"
    );
    body
}

async fn raw_redis_at(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("redis answers")
}

/// Every member of the sorted set `key`, in order.
async fn zset_members(url: &str, key: &str) -> Vec<String> {
    let mut conn = raw_redis_at(url).await;
    redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// An example program, built by `cargo test` beside the test binary.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let binary = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        binary.exists(),
        "{} is built by cargo test",
        binary.display()
    );
    binary
}

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

/// A tokens file holding `lines`, in a temporary directory that lives as
/// long as the returned guard.
pub fn tokens_file(lines: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    std::fs::write(&path, format!("# test tokens\n\n{}\n", lines.join("\n"))).unwrap();
    (dir, path)
}

/// An HTTP client for tests, built where every client of the crate is
/// (`job_progress::outbound`): reqwest has no default TLS provider here,
/// so `reqwest::Client::new()` and `reqwest::get` would panic.
pub fn http_client() -> reqwest::Client {
    job_progress::outbound::client_builder(None)
        .expect("the TLS setup")
        .build()
        .expect("the client builds")
}

/// `GET url` with [`http_client`], as `reqwest::get` would.
pub async fn http_get(url: impl reqwest::IntoUrl) -> reqwest::Result<reqwest::Response> {
    http_client().get(url).send().await
}

/// Polls `check` every 25 ms until it holds, for at most `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("not within {limit:?}: {what}");
}

/// A writer configuration that writes every change at once.
pub fn eager() -> WriterConfig {
    WriterConfig {
        flush_interval: Duration::ZERO,
        checkpoint_interval: Duration::ZERO,
        ..WriterConfig::default()
    }
}

/// The `jobId`s of a list response's `data`, in order.
pub fn job_ids(body: &serde_json::Value) -> Vec<String> {
    body["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|record| record["jobId"].as_str().expect("a jobId").to_owned())
        .collect()
}
