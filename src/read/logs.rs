//! A job's log on the read path: the hot store's kept lines, and 404 for
//! a job neither store knows. Not cached: a page is one store call, and a
//! line a worker just wrote should show at once.

use std::sync::Arc;

use super::{
    ReadError, cache::Served, envelope::Rendered, reader::ProgressReader, reader::warn_fallback,
};
use crate::domain::{JobId, LogPage, Source};

impl ProgressReader {
    /// At most `limit` lines of the job's log numbered after `after`.
    pub async fn logs(&self, id: JobId, after: u64, limit: u32) -> Served {
        let rendered = self
            .load_logs(id, after, limit)
            .await
            .unwrap_or_else(Rendered::from);
        Served {
            response: Arc::new(rendered),
            from_cache: false,
        }
    }

    /// A page of the job's log for a stream: `None` when the store cannot
    /// answer now (logged; the stream tries again later).
    pub async fn log_page(&self, id: &JobId, after: u64, limit: u32) -> Option<LogPage> {
        match self.hot.read_log(id, after, limit).await {
            Ok(page) => Some(page),
            Err(err) => {
                warn_fallback("hot store log read", &err);
                None
            }
        }
    }

    async fn load_logs(&self, id: JobId, after: u64, limit: u32) -> Result<Rendered, ReadError> {
        let page = match self.hot.read_log(&id, after, limit).await {
            Ok(page) => page,
            Err(err) => {
                warn_fallback("hot store log read", &err);
                LogPage::default()
            }
        };
        if !page.lines.is_empty() {
            return Ok(Rendered::ok(&page, Source::Hot));
        }
        // No line: say whether the job exists at all.
        if let Ok(Some(_)) = self.hot.read(&id).await {
            return Ok(Rendered::ok(&page, Source::Hot));
        }
        match self.archive.read(&id).await {
            Ok(Some(_)) => Ok(Rendered::ok(&page, Source::Archive)),
            Ok(None) => Err(ReadError::JobNotFound(id)),
            Err(err) => Err(ReadError::unavailable("archive read", &err)),
        }
    }
}
