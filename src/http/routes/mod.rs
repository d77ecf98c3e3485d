//! One file per group of endpoints.

pub mod health;
pub mod jobs;
pub mod schedules;
