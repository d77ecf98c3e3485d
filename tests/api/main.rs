//! Integration tests: the real app, real Redis, real PostgreSQL.

mod auth;
mod browser;
mod chaos;
mod helpers;
mod redis_cluster;
mod sse;

mod cache;
mod checkpoints;
mod cli;
mod clients;
mod cluster;
mod config;
mod conflicts;
mod dashboard;
mod durability;
mod embedded;
mod errors;
mod events;
mod fallback;
mod faults;
mod finished;
mod health;
mod ingest;
mod limits;
mod metrics;
mod objects;
mod progress;
mod proxies;
mod retention;
mod schedules;
mod stalls;
mod stream_slots;
mod writer;
