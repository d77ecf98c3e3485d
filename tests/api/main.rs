//! Integration tests: the real app, real Redis, real PostgreSQL.

mod helpers;

mod cache;
mod errors;
mod fallback;
mod health;
mod progress;
mod schedules;
mod writer;
