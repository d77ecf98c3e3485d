//! Configuration: one `clap` struct per concern, each field a flag with an
//! environment fallback. `serve`, `migrate`, `demo` and the examples
//! flatten the ones they need, so every program reads `REDIS_URL` the same
//! way. Which stores those name is `stores.rs`. The command line that
//! gathers them (the subcommands) is `main.rs`'s own: this module is
//! below every program, and imports none of them.
//!
//! A setting that can hold a secret (a URL with a password, a token) is
//! declared with `hide_env_values = true`, so `--help` never prints the
//! value it found in the environment.

mod stores;
mod webhooks;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use clap::{Args, Parser, ValueEnum};

use crate::{
    domain::StallPolicy,
    http::{
        auth::Access,
        client::{ProxyNetwork, TrustedProxies},
        job_token::SigningKeys,
        limit::RateLimit,
        routes::events::StreamSettings,
        tokens::{MetricsToken, Tokens},
    },
    store::Retention,
    write::WriterConfig,
};

pub use stores::{DatabaseSettings, OpenedHot, RedisSettings, redis_bus};
pub use webhooks::WebhookSettings;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines, for a terminal.
    Pretty,
}

/// How often a writer talks to the stores.
#[derive(Debug, Clone, Args)]
pub struct WriterSettings {
    /// At most one Redis write per job per this many milliseconds.
    #[arg(long, env = "FLUSH_INTERVAL_MS", default_value_t = 1000)]
    pub flush_interval_ms: u64,
    /// At most one PostgreSQL checkpoint per job per this many seconds
    /// while only the counts move.
    #[arg(long, env = "CHECKPOINT_INTERVAL_SECS", default_value_t = 30)]
    pub checkpoint_interval_secs: u64,
    /// Rewrite a running job's record at least this often, in
    /// milliseconds, even when nothing changes (heartbeat).
    #[arg(long, env = "HEARTBEAT_MS", default_value_t = 15_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub heartbeat_ms: u64,
}

impl WriterSettings {
    /// The writer configuration.
    pub fn config(&self) -> WriterConfig {
        WriterConfig {
            flush_interval: Duration::from_millis(self.flush_interval_ms),
            checkpoint_interval: Duration::from_secs(self.checkpoint_interval_secs),
            heartbeat_interval: Duration::from_millis(self.heartbeat_ms),
            ..WriterConfig::default()
        }
    }
}

/// `job-progress serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen_addr: SocketAddr,
    /// The hot store: Redis, or this process's memory.
    #[command(flatten)]
    pub redis: RedisSettings,
    /// The archive: PostgreSQL, or SQLite.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// How long a response is cached in-process, in milliseconds (0: off).
    #[arg(long, env = "CACHE_TTL_MS", default_value_t = 1000)]
    pub cache_ttl_ms: u64,
    /// Most responses the cache holds.
    #[arg(long, env = "CACHE_CAPACITY", default_value_t = 100_000)]
    pub cache_capacity: u64,
    /// Do not apply migrations at start.
    #[arg(long, env = "SKIP_MIGRATIONS")]
    pub skip_migrations: bool,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "HTTP_WORKERS")]
    pub workers: Option<usize>,
    /// An active job counts as stalled after three missed heartbeats, but
    /// never sooner than this many seconds after its last update.
    #[arg(long, env = "STALL_FLOOR_SECS", default_value_t = 30)]
    pub stall_floor_secs: u64,
    /// ...and always after this many seconds without an update.
    #[arg(long, env = "STALL_CEILING_SECS", default_value_t = 3600)]
    pub stall_ceiling_secs: u64,
    /// Jobs written over HTTP: at most one PostgreSQL checkpoint per job
    /// per this many seconds while only the counts move (a status change
    /// is checkpointed at once), as the Rust writer does.
    #[arg(long, env = "CHECKPOINT_INTERVAL_SECS", default_value_t = 30)]
    pub checkpoint_interval_secs: u64,
    /// Checkpoints of completed and failed jobs are deleted this many days
    /// after their last write (0: kept for ever).
    #[arg(long, env = "RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,
    /// On SIGTERM, how long in-flight requests may take to finish, in seconds.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,
    /// Live streams.
    #[command(flatten)]
    pub push: PushSettings,
    /// Tokens, rate limits, CORS.
    #[command(flatten)]
    pub access: AccessSettings,
    /// Webhook subscriptions and deliveries.
    #[command(flatten)]
    pub webhooks: WebhookSettings,
}

/// Who may call the API, how often, and from which web pages.
#[derive(Debug, Clone, Args)]
pub struct AccessSettings {
    /// The tokens file: one `<scope> <sha256 of the token, hex> <name>` a
    /// line (`job-progress token new` prints one). Unset: no tokens.
    #[arg(long, env = "TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,
    /// Reads need a `read` (or `write`) token too. `/healthz`, `/readyz`
    /// and `/openapi.yaml` stay open.
    #[arg(long, env = "REQUIRE_READ_TOKEN")]
    pub require_read_token: bool,
    /// Requests a second each client (a token, or an address without one)
    /// may make to `/api/v1`, on average (0: no limit).
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value_t = 50)]
    pub rate_limit_per_second: u32,
    /// ...and at once, after a quiet spell.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,
    /// Web origins (`https://dash.example.com`, comma-separated, or `*`)
    /// whose pages may call the API from a browser. Unset: no CORS headers.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',',
          value_parser = parse_origin)]
    pub cors_allowed_origins: Vec<String>,
    /// The proxies in front of this server (comma-separated CIDRs or
    /// addresses: `10.0.0.0/8,192.0.2.7`): a request from one is counted,
    /// for rate limits, stream caps and logs, as the client its
    /// `X-Forwarded-For` (else `Forwarded`) names, the rightmost address
    /// that is not itself a trusted proxy. Unset: the TCP peer is the
    /// client and those headers are ignored.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ProxyNetwork>,
    /// The bearer token `GET /metrics` requires (16-256 visible ASCII
    /// characters; only its hash is kept). Unset: `/metrics` is open.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true,
          value_parser = MetricsToken::parse)]
    pub metrics_token: Option<MetricsToken>,
    /// The keys that sign read tokens for end users
    /// (`POST /api/v1/jobs/{jobId}/read-tokens`): comma-separated secrets
    /// of at least 32 characters; the first signs, all verify, so a new key
    /// goes first and an old one stays until its tokens expire (24 h at
    /// most). Every instance needs the same list. Unset: no read tokens
    /// (the endpoint answers 501).
    #[arg(long, env = "TOKEN_SIGNING_KEY", hide_env_values = true,
          value_parser = SigningKeys::parse)]
    pub token_signing_key: Option<SigningKeys>,
}

/// An origin as browsers send it: `scheme://host[:port]`, no path.
fn parse_origin(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"));
    match rest {
        _ if raw == "*" => Ok(raw.to_owned()),
        Some(host) if !host.is_empty() && !host.contains('/') => Ok(raw.to_owned()),
        _ => Err(format!(
            "'{raw}' is not an origin: expected scheme://host[:port] (no path, no trailing slash), or *"
        )),
    }
}

impl AccessSettings {
    /// The access policy: reads the tokens file.
    pub fn access(&self) -> anyhow::Result<Access> {
        let tokens = match &self.tokens_file {
            Some(path) => Tokens::load(path)?,
            None => Tokens::default(),
        };
        if self.require_read_token && tokens.is_empty() {
            anyhow::bail!(
                "REQUIRE_READ_TOKEN is set but no token is configured: set TOKENS_FILE \
                 (`job-progress token new` makes a token and its line)"
            );
        }
        if let Some(path) = &self.tokens_file {
            tracing::info!(tokens = tokens.len(), file = %path.display(), "tokens loaded");
        }
        Ok(Access::new(tokens, self.require_read_token)
            .with_metrics_token(self.metrics_token.clone())
            .with_signing_keys(self.token_signing_key.clone()))
    }

    /// The proxies whose forwarding headers are believed.
    pub fn trusted_proxies(&self) -> TrustedProxies {
        TrustedProxies::new(self.trusted_proxies.iter().map(|network| network.0))
    }

    /// The rate limit, unless it is off.
    pub fn rate_limit(&self) -> Option<Arc<RateLimit>> {
        RateLimit::new(self.rate_limit_per_second, self.rate_limit_burst).map(Arc::new)
    }
}

/// How event streams behave.
#[derive(Debug, Clone, Args)]
pub struct PushSettings {
    /// A comment on every stream this often, in seconds, so that proxies
    /// and load balancers (an ALB cuts after 60 s idle) keep it open.
    #[arg(long, env = "SSE_HEARTBEAT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sse_heartbeat_secs: u64,
    /// Most streams open at once on this instance; beyond it, 503 with
    /// `Retry-After`.
    #[arg(long, env = "SSE_MAX_STREAMS", default_value_t = 10_000)]
    pub sse_max_streams: usize,
    /// Most streams one client address (after `TRUSTED_PROXIES`; tokens
    /// do not change it) may hold open at once on this instance; beyond
    /// it, 429 with `Retry-After`. 0: no cap per client.
    #[arg(long, env = "SSE_MAX_STREAMS_PER_CLIENT", default_value_t = 256)]
    pub sse_max_streams_per_client: usize,
    /// The `retry:` hint, in milliseconds: how long a browser waits before
    /// it reconnects a stream that ended.
    #[arg(long, env = "SSE_RETRY_MS", default_value_t = 3000)]
    pub sse_retry_ms: u64,
    /// How often, at most, in milliseconds, a stream of the active list
    /// sends: what changed on its page within one window leaves together,
    /// each job once in its latest state (a page of 50 jobs writing once a
    /// second is then 4 sends a second, not 50).
    #[arg(long, env = "SSE_BATCH_MS", default_value_t = 250,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sse_batch_ms: u64,
}

impl PushSettings {
    /// The streams' wire settings.
    pub fn streams(&self) -> StreamSettings {
        StreamSettings {
            heartbeat: Duration::from_secs(self.sse_heartbeat_secs),
            retry: Duration::from_millis(self.sse_retry_ms),
            batch: Duration::from_millis(self.sse_batch_ms),
        }
    }
}

/// `serve`'s settings as a command of their own.
#[derive(Parser)]
struct OnlyServe {
    #[command(flatten)]
    serve: ServeSettings,
}

impl ServeSettings {
    /// `serve`'s arguments with their environment fallbacks removed.
    fn command_without_env() -> clap::Command {
        use clap::CommandFactory as _;
        OnlyServe::command().mut_args(|arg| arg.env(None))
    }

    /// What retention deletes, unless it is off.
    pub fn retention(&self) -> Option<Retention> {
        (self.retention_days > 0).then(|| {
            Retention::keeping(Duration::from_secs(u64::from(self.retention_days) * 86_400))
        })
    }

    /// When an active job counts as stalled.
    pub fn stall_policy(&self) -> StallPolicy {
        StallPolicy {
            floor: Duration::from_secs(self.stall_floor_secs),
            ceiling: Duration::from_secs(self.stall_ceiling_secs),
            ..StallPolicy::default()
        }
    }

    /// The defaults, whatever the environment holds (no flag is given and
    /// no variable is read); for tests.
    pub fn defaults() -> Self {
        use clap::FromArgMatches as _;
        let matches = Self::command_without_env().get_matches_from(["serve"]);
        match OnlyServe::from_arg_matches(&matches) {
            Ok(only) => only.serve,
            // Every field has a default; a failure is a bug in this file.
            Err(err) => panic!("the serve defaults do not parse: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_defaults_read_no_environment_variable() {
        use clap::CommandFactory as _;
        let reads_env =
            |command: &clap::Command| command.get_arguments().any(|arg| arg.get_env().is_some());
        assert!(reads_env(&OnlyServe::command()), "serve reads variables");
        assert!(!reads_env(&ServeSettings::command_without_env()));
        let settings = ServeSettings::defaults();
        assert_eq!(settings.cache_ttl_ms, 1000);
        assert_eq!(settings.redis.key_prefix, "job:");
        assert!(!settings.access.require_read_token);
        assert!(settings.access.cors_allowed_origins.is_empty());
        assert!(settings.access.trusted_proxies().is_empty());
        assert!(settings.access.token_signing_key.is_none());
    }

    #[test]
    fn help_never_shows_the_signing_keys() {
        use clap::CommandFactory as _;
        let command = OnlyServe::command();
        let key = command
            .get_arguments()
            .find(|arg| arg.get_id() == "token_signing_key")
            .expect("the setting exists");
        assert!(key.is_hide_env_values_set());
    }

    #[test]
    fn origins_are_scheme_and_host_only() {
        assert!(parse_origin("https://dash.example.com").is_ok());
        assert!(parse_origin("http://localhost:3000").is_ok());
        assert!(parse_origin("*").is_ok());
        for bad in ["dash.example.com", "https://dash.example.com/", "https://"] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
