//! Integration tests: the real app, real Redis, real PostgreSQL.

mod auth;
mod browser;
mod chaos;
mod helpers;
mod sse;

mod cache;
mod dashboard;
mod errors;
mod events;
mod fallback;
mod faults;
mod finished;
mod health;
mod limits;
mod progress;
mod schedules;
mod writer;
