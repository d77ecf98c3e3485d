//! One file per group of endpoints.

pub mod dashboard;
pub mod events;
pub mod finished;
pub mod health;
pub mod jobs;
pub mod schedules;
