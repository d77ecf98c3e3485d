//! A job's log and its progress history on the read path: what the hot
//! store keeps, else what the archive kept of a finished job (its last
//! 100 lines, its history downsampled), and 404 for a job neither store
//! knows. Not cached: each is one store call (two or three for a job
//! only the archive holds), and a line a worker just wrote should show at
//! once.

use std::sync::Arc;

use super::{
    ReadError, cache::Served, envelope::Rendered, error::warn_fallback, reader::ProgressReader,
};
use crate::domain::{JobId, JobTail, LogPage, Sample, Source};

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

    /// The job's progress samples: `{"samples":[{at, processed, failed}]}`.
    pub async fn history(&self, id: JobId) -> Served {
        let rendered = self.load_history(id).await.unwrap_or_else(Rendered::from);
        Served {
            response: Arc::new(rendered),
            from_cache: false,
        }
    }

    async fn load_history(&self, id: JobId) -> Result<Rendered, ReadError> {
        #[derive(serde::Serialize)]
        struct Samples {
            samples: Vec<Sample>,
        }
        let samples = match self.hot.history(&id).await {
            Ok(samples) => samples,
            Err(err) => {
                warn_fallback("hot store history read", &err);
                Vec::new()
            }
        };
        if !samples.is_empty() {
            return Ok(Rendered::ok(&Samples { samples }, Source::Hot));
        }
        // As for the log: a finished job's downsampled copy, once the hot
        // store has let go of it.
        let source = self.known(&id).await?;
        let samples = match source {
            Source::Archive => self.archived_tail(&id).await.samples,
            _ => samples,
        };
        Ok(Rendered::ok(&Samples { samples }, source))
    }

    /// What the archive kept of a finished job's log and history; nothing
    /// when it kept none or cannot answer now (logged).
    async fn archived_tail(&self, id: &JobId) -> JobTail {
        match self.archive.tail(id).await {
            Ok(tail) => tail.unwrap_or_default(),
            Err(err) => {
                warn_fallback("archive tail read", &err);
                JobTail::default()
            }
        }
    }

    /// Where the job is known (it has nothing to show, but exists), or
    /// 404.
    async fn known(&self, id: &JobId) -> Result<Source, ReadError> {
        if let Ok(Some(_)) = self.hot.read(id).await {
            return Ok(Source::Hot);
        }
        match self.archive.read(id).await {
            Ok(Some(_)) => Ok(Source::Archive),
            Ok(None) => Err(ReadError::JobNotFound(id.clone())),
            Err(err) => Err(ReadError::unavailable("archive read", &err)),
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
        // No line: the hot store may have let go of a finished job whose
        // last lines the archive kept; else say whether the job exists.
        match self.known(&id).await? {
            Source::Archive => {
                let tail = self.archived_tail(&id).await;
                Ok(Rendered::ok(&tail.page(after, limit), Source::Archive))
            }
            source => Ok(Rendered::ok(&page, source)),
        }
    }
}
