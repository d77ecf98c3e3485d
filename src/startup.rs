//! Building and running the API server.

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_cors::Cors;
use actix_web::{App, HttpServer, dev::Server, http::header, middleware::Condition, web};
use anyhow::Context as _;

use crate::{
    config::ServeSettings,
    http::{
        self, AppState,
        edge::REQUEST_ID_HEADER,
        limit::RateLimit,
        respond::{SOURCE_HEADER, TOTAL_HEADER},
    },
    metrics::{ServerMetrics, process as process_metrics},
    notify::{self, Webhooks},
    push::{Bus, Hub, Publisher},
    read::{ProgressReader, cache::ResponseCache},
    store::{AnyArchive, Archive, HotStore},
    write::{WriterConfig, ingest::Ingest},
};

/// How long a stopping server waits for the checkpoints of progress
/// written over HTTP to reach the archive.
const CHECKPOINT_DRAIN: Duration = Duration::from_secs(5);

/// actix-server's default cap of connections per worker.
const ACTIX_MAX_CONNECTIONS: usize = 25_600;

/// A bound, not yet running, API server.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the stores the settings name (lazily: either may be down),
    /// says loudly in the log which they are, applies migrations unless
    /// told not to, starts the retention task (`RETENTION_DAYS`), and binds
    /// the listener.
    pub async fn build(settings: ServeSettings) -> anyhow::Result<Self> {
        // Before the stores exist, so their first calls are counted.
        process_metrics::install();
        let hot = settings.redis.open()?;
        // The active list leaves out what the hot store would have dropped.
        let mut archive = settings
            .database
            .archive()?
            .with_active_ttl(Duration::from_secs(settings.redis.progress_ttl_secs));
        // A bad subscriptions file stops the start before anything runs.
        let webhooks = webhooks(&settings, &archive)?;
        if let Some(webhooks) = &webhooks {
            archive = archive.with_webhook_events(webhooks.wanted());
        }
        let shared = archive.shared();
        announce(hot.store.as_ref(), &archive, shared.as_ref());
        if !settings.skip_migrations {
            migrate(&archive).await?;
        }
        if let Some(retention) = settings.retention() {
            retention.spawn(Arc::clone(&shared), archive.outbox());
        }
        let publisher = settings
            .redis
            .publisher()
            .await
            .context("cannot reach the bus to publish progress written over HTTP")?;
        let app = Self::build_over(
            &settings,
            hot.store,
            shared,
            (Some(hot.bus), publisher),
            webhooks.clone(),
        )?;
        if let Some(webhooks) = webhooks {
            webhooks.spawn(&app.state.hub)?;
        }
        Ok(app)
    }

    /// Binds a server over the given stores (tests hand in their own),
    /// subscribed to `bus` for live streams (without one, streams poll);
    /// progress written over HTTP is published to `publisher` when the bus
    /// is not the hot store itself. Must be called inside a Tokio runtime.
    pub fn build_with(
        settings: &ServeSettings,
        hot: Arc<dyn HotStore>,
        archive: Arc<dyn Archive>,
        bus: Option<Bus>,
        publisher: Option<Publisher>,
    ) -> anyhow::Result<Self> {
        Self::build_over(settings, hot, archive, (bus, publisher), None)
    }

    /// [`Self::build_with`], with the server's webhooks (shown by the
    /// webhook routes; their loop is started by the caller, which holds
    /// the outbox).
    fn build_over(
        settings: &ServeSettings,
        hot: Arc<dyn HotStore>,
        archive: Arc<dyn Archive>,
        (bus, publisher): (Option<Bus>, Option<Publisher>),
        webhooks: Option<Arc<Webhooks>>,
    ) -> anyhow::Result<Self> {
        // First: a bad tokens file must stop the start before anything runs.
        let access = Arc::new(settings.access.access()?);
        process_metrics::install();
        let metrics = ServerMetrics::new();
        metrics.spawn_upkeep();
        let cache = ResponseCache::new(
            Duration::from_millis(settings.cache_ttl_ms),
            settings.cache_capacity,
        );
        let hub = Arc::new(Hub::new(
            settings.push.sse_max_streams,
            settings.push.sse_max_streams_per_client,
            settings.stall_policy(),
        ));
        hub.spawn_stall_watch();
        if let Some(bus) = bus {
            bus.spawn_subscriber(Arc::clone(&hub));
        }
        let limits = settings.access.rate_limit();
        if let Some(limits) = &limits {
            RateLimit::spawn_cleanup(Arc::downgrade(limits));
        }
        let mut ingest = Ingest::new(
            Arc::clone(&hot),
            Arc::clone(&archive),
            WriterConfig {
                checkpoint_interval: Duration::from_secs(settings.checkpoint_interval_secs),
                ..WriterConfig::default()
            },
        );
        if let Some(publisher) = publisher {
            ingest = ingest.with_publisher(publisher);
        }
        let state = AppState {
            ingest,
            reader: ProgressReader::new(hot, archive, cache, settings.stall_policy())
                .observed_by(metrics.clone()),
            hub,
            streams: settings.push.streams(),
            access,
            limits,
            metrics,
            webhooks,
        };
        let listener = TcpListener::bind(settings.listen_addr)
            .with_context(|| format!("cannot listen on {}", settings.listen_addr))?;
        let port = listener.local_addr()?.port();
        let server = run(listener, state.clone(), settings)?;
        Ok(Self {
            port,
            server,
            state,
        })
    }

    /// The port the server listens on (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the handlers share.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT or SIGTERM. Then event streams end at once
    /// (with a retry hint, so clients reconnect to another instance) and
    /// other in-flight requests are drained.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (server, hub) = (self.server.handle(), Arc::clone(&self.state.hub));
        tokio::spawn(async move {
            if stop_signal().await.is_ok() {
                tracing::info!("stopping: closing event streams, draining requests");
                hub.shut_down();
                server.stop(true).await;
            }
        });
        let served = self.server.await;
        if !self.state.ingest.shutdown(CHECKPOINT_DRAIN).await {
            tracing::warn!("stopped with checkpoints still on their way to the archive");
        }
        served
    }
}

/// The webhooks `WEBHOOKS_FILE` names, delivered from `archive`'s outbox;
/// `None` when it is unset.
fn webhooks(
    settings: &ServeSettings,
    archive: &AnyArchive,
) -> anyhow::Result<Option<Arc<Webhooks>>> {
    let config = &settings.webhooks;
    let Some(file) = &config.webhooks_file else {
        return Ok(None);
    };
    let options = notify::Options {
        retry_scale: config.webhooks_retry_scale,
        allow_private: config.webhooks_allow_private,
        public_url: config.public_url.clone(),
    };
    Ok(Some(Arc::new(Webhooks::load(
        file,
        options,
        archive.outbox(),
    )?)))
}

/// SIGINT or SIGTERM, whichever comes first.
async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            interrupted = tokio::signal::ctrl_c() => interrupted,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}

/// Says which stores this process uses, loudly where they cannot be
/// shared, so no one runs the embedded default in a fleet by accident.
fn announce(hot: &dyn HotStore, archive: &AnyArchive, opened: &dyn Archive) {
    tracing::info!(
        hot = hot.name(),
        archive = opened.name(),
        "stores: live progress: {}; checkpoints: {}",
        hot.name(),
        archive.location()
    );
    if hot.name() == "in-process" {
        tracing::warn!(
            "live progress is kept in this process's memory (REDIS_URL is unset): run ONE \
             API instance; workers report over HTTP. Set REDIS_URL for several instances, \
             or for workers that write to the hot store directly"
        );
    }
    if archive.is_embedded() {
        tracing::warn!(
            "checkpoints are kept in {}: fine for one machine; set \
             DATABASE_URL=postgres://... for API instances on several machines",
            archive.location()
        );
    }
}

/// Applies the migrations, saying so in the log.
async fn migrate(archive: &AnyArchive) -> anyhow::Result<()> {
    match archive.migrate().await {
        Ok(()) => {
            tracing::info!("database migrations applied");
            Ok(())
        }
        Err(err) => Err(err.context(
            "the archive must be reachable at start to apply migrations \
             (or start with --skip-migrations)",
        )),
    }
}

/// The CORS policy for `origins` (see `docs/operations.md`, "Access"): reads only (a
/// worker reports from a server, not a web page), the
/// headers a dashboard sends, and the ones it wants to read back.
fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "HEAD"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("last-event-id"),
            REQUEST_ID_HEADER,
        ])
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            SOURCE_HEADER,
            TOTAL_HEADER,
            REQUEST_ID_HEADER,
        ])
        // Browsers cap it anyway (Chrome at 2 h); an hour saves a
        // preflight per request without pinning a changed policy for long.
        .max_age(3600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

fn run(listener: TcpListener, state: AppState, settings: &ServeSettings) -> anyhow::Result<Server> {
    let data = web::Data::new(state);
    let proxies = settings.access.trusted_proxies();
    let origins = settings.access.cors_allowed_origins.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            // Innermost, around the router: one job's progress is
            // answered before routing (`http::hot`).
            .wrap(http::hot::HotRead)
            // Inside the edge, so preflights and refusals are logged too;
            // absent, not merely permissive, when no origin is configured.
            .wrap(Condition::new(!origins.is_empty(), cors(&origins)))
            .wrap(http::Edge)
            .app_data(data.clone())
            // Read by `http::client::address`, the one home of a client's
            // address.
            .app_data(proxies.clone())
            .configure(http::configure)
            .default_service(web::to(http::not_found))
    })
    .shutdown_timeout(settings.shutdown_timeout_secs)
    // Nagle's algorithm held small stream events back until the client's
    // delayed ACK (p99 37 ms on the active-list stream, BENCHMARKS.md
    // scenario 7); answers here are written whole, so nothing is gained
    // by it.
    .tcp_nodelay(true)
    // A client that closes its end is gone: the connection ends at its
    // EOF, dropping a stream's body and its slot at once. Allowing half-
    // closed connections (actix's default) would keep a stream's body
    // until a write failed, at the second heartbeat after the close. HTTP
    // clients do not half-close to wait for an answer.
    .h1_allow_half_closed(false)
    // Signals are ours: streams must end before the drain (run_until_stopped).
    .disable_signals()
    // A worker stops accepting at this many connections (actix's default
    // is 25,600): each open stream holds one, so a worker may hold all of
    // SSE_MAX_STREAMS besides the default's room for other clients.
    .max_connections(ACTIX_MAX_CONNECTIONS + settings.push.sse_max_streams);
    if let Some(workers) = settings.workers {
        server = server.workers(workers);
    }
    Ok(server.listen(listener)?.run())
}
