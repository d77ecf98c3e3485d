//! Logging: structured `tracing` output, JSON or human-readable.
//!
//! Filtered by `RUST_LOG` (default `info`). Every HTTP answer is logged
//! with its request id, which is also returned in `X-Request-Id` (see
//! [`crate::http::Edge`]).

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// Installs the global subscriber. Call once, at the start of `main`.
pub fn init(format: LogFormat) {
    // rustls-platform-verifier logs each refused certificate at ERROR;
    // the caller reports the same failure with its context (see
    // `outbound`).
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,rustls_platform_verifier=off"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second call (tests, examples) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// For tests: logs only when `TEST_LOG` is set, so test output stays quiet.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init(LogFormat::Pretty);
    }
}
