//! The read path: HTTP -> [cache] -> hot store -> archive -> [envelope].
//!
//! [`ProgressReader`] answers the progress reads. Each answer is rendered
//! once (status, envelope bytes, ETag) and cached for the cache period, so a
//! thousand pollers of one job cost one hot-store read a second. The hot
//! store is asked first; when it does not know the job, fails or times out,
//! the archive's checkpoint answers. What cannot be answered is a
//! [`ReadError`], which knows its status.
//!
//! A job's load is batched with the other jobs' loads of the moment
//! (`loads.rs`, `batch.rs`): one hot-store round trip and at most one
//! archive query for all of them.
//!
//! A parent's children (`children.rs`) are paged from the archive's
//! parent index, each with its live record where the hot store has it.
//!
//! A job's log (`logs.rs`) takes the same path without the cache: a
//! worker's line should show at once, and a page is one store call.

mod batch;
pub mod cache;
mod children;
pub mod envelope;
mod error;
mod loads;
mod logs;
mod reader;
mod rollups;

pub use children::{ChildrenPage, MAX_CHILDREN_PAGE};
pub use error::ReadError;
pub use reader::{Page, ProgressReader, Readiness};
