//! One file per group of endpoints.

pub mod children;
pub mod dashboard;
pub mod events;
pub mod finished;
pub mod health;
pub mod history;
pub mod ingest;
pub mod jobs;
pub mod logs;
pub mod metrics;
pub mod read_tokens;
pub mod schedules;
pub mod token;
pub mod webhooks;
