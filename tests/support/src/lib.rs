//! What the integration tests (`tests/api/`, `tests/contract/`) share,
//! one file per idea:
//!
//! - [`spawn`]: the real app on port 0 over a store pair ([`Stores`]),
//!   [`TestApp`] and [`on_both_stores!`]; [`counting_store`] sees what
//!   reached the hot store.
//! - [`http`]: a client, GETs on the app, the checked [`envelope`];
//!   [`tokens`]: a tokens file and [`app_with_tokens`]; [`worker`]:
//!   declare / report / complete over HTTP with a write token.
//! - [`eventually`](fn@eventually): awaiting a condition instead of sleeping.
//! - [`raw_redis`] and [`postgres`]: looking behind the stores.
//! - [`fixtures`]: job ids, an eager writer, example programs.
//! - Tools for faults and harnesses: [`local_server`] (a `redis-server` or
//!   `nats-server` of the test's own), [`tcp_proxy`] (a proxy that cuts
//!   connections), [`cluster_harness`] (a local Redis Cluster),
//!   [`sse_client`] (reads a stream as EventSource would), [`browser`]
//!   (headless Chromium over WebDriver), [`server_process`] (the real
//!   binary, killed and restarted over its data) and [`receiver`] (a
//!   webhook receiver to stop and restart).
//!
//! The common names are re-exported here, so a test imports them from the
//! crate root; the tools keep their module's name (`sse_client::SseStream`).

pub mod browser;
pub mod cluster_harness;
pub mod counting_store;
pub mod eventually;
pub mod fixtures;
pub mod http;
pub mod local_server;
pub mod postgres;
pub mod raw_redis;
pub mod receiver;
pub mod server_process;
pub mod spawn;
pub mod sse_client;
pub mod tcp_proxy;
pub mod tokens;
pub mod worker;

pub use counting_store::{CountingStore, Gate};
pub use eventually::eventually;
pub use fixtures::{eager, example_binary, job};
pub use http::{envelope, http_client, http_get, job_ids};
pub use postgres::{DEAD_POSTGRES, database_url_for, pool_via, postgres_addr};
pub use raw_redis::{DEAD_REDIS, redis_url};
pub use spawn::{Options, Stores, TestApp, spawn_app, spawn_app_with, spawn_embedded_with};
pub use tokens::{AppWithTokens, Tokens, app_with_tokens, tokens_file};
pub use worker::{Worker, counts, declaration};
