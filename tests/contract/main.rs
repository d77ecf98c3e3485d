//! Contract tests: one suite of store tests, written once against the
//! [`HotStore`](job_progress::store::HotStore) and
//! [`Archive`](job_progress::store::Archive) interfaces and run against
//! every implementation, so a difference in behaviour between Redis and
//! the in-process store, or PostgreSQL and SQLite, is a failing test.

mod archive;
mod hot;

// The API tests' local Redis Cluster (three masters on free ports, started
// once per test binary) and what it needs from their helpers, so the hot
// store's contract also runs on a cluster.
#[allow(dead_code, unused_imports)]
#[path = "../api/chaos.rs"]
mod chaos;
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/redis_cluster.rs"]
mod redis_cluster;
