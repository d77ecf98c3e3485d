//! Contract tests: one suite of store tests, written once against the
//! [`HotStore`](job_progress::store::HotStore) and
//! [`Archive`](job_progress::store::Archive) interfaces and run against
//! every implementation, so a difference in behaviour between Redis and
//! the in-process store, or PostgreSQL and SQLite, is a failing test. The
//! hot store's suite also runs on a local Redis Cluster, started by
//! `support::cluster_harness` (`tests/support/`).

mod archive;
mod hot;
