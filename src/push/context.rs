//! [`Context`]: what every stream task needs, in a file of its own so the
//! stream and its log cursor both take it from here, and neither from the
//! other.

use std::sync::Arc;

use super::hub::Hub;
use crate::read::ProgressReader;

/// What every stream task needs.
#[derive(Debug, Clone)]
pub struct Context {
    /// The instance's hub.
    pub hub: Arc<Hub>,
    /// The read path, for snapshots.
    pub reader: ProgressReader,
    /// Names the request in the log lines of the reads a stream makes.
    pub request_id: String,
}
