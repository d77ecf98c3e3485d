//! Integration tests: the real app, real Redis, real PostgreSQL.

mod auth;
mod chaos;
mod helpers;
mod sse;

mod cache;
mod clients;
mod errors;
mod events;
mod fallback;
mod faults;
mod health;
mod ingest;
mod limits;
mod progress;
mod schedules;
mod writer;
