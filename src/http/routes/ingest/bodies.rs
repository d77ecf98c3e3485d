//! The write API's bodies: what each request may hold, its limits, and
//! its conversion into the [`ingest`](crate::write::ingest) types. A body
//! that parses is a change the job's state may still refuse; one that does
//! not is a 400 naming the field, before any store is asked.

use std::time::Duration;

use serde::Deserialize;

use crate::http::body::present;

use crate::{
    domain::{
        DetailError, FailurePolicy, JobId, JobKind, JobName, JobStatus, MAX_CANCEL_REASON, Message,
        Metadata, ResultUrl, ScheduleId, check_metadata, steps,
    },
    http::ApiError,
    write::{
        Detail, JobSpec,
        ingest::{CancelAsk, Declaration, Finish, Outcome, Report},
    },
};

/// The largest count or total: 2^53 - 1, what JavaScript holds exactly.
pub const MAX_COUNT: u64 = (1 << 53) - 1;
/// The longest pause between chunks and refresh interval: one day.
pub const MAX_INTERVAL_MS: u64 = 24 * 3600 * 1000;
/// The longest error message, in characters.
pub const MAX_ERROR_MESSAGE: usize = 2048;
/// The most updates in one batch.
pub const MAX_BATCH: usize = 1000;

/// `PUT /api/v1/jobs/{jobId}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DeclareBody {
    #[serde(default, deserialize_with = "present")]
    pub(super) total: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub(super) total_chunks: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub(super) chunk_size: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub(super) pause_ms: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub(super) schedule_id: Option<ScheduleId>,
    #[serde(default)]
    pub(super) status: DeclaredStatus,
    #[serde(default, deserialize_with = "present")]
    pub(super) refresh_interval_ms: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub(super) name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) kind: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) steps: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub(super) stage: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) message: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "present")]
    pub(super) attempt: Option<u32>,
    #[serde(default, deserialize_with = "present")]
    pub(super) resume: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub(super) parent_job_id: Option<JobId>,
    #[serde(default, deserialize_with = "present")]
    pub(super) complete_with_children: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub(super) expected_children: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub(super) failure_policy: Option<FailurePolicy>,
}

/// The statuses a job may be declared with.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum DeclaredStatus {
    Preparing,
    #[default]
    InProgress,
}

/// `POST /api/v1/jobs/{jobId}/progress`, and one item of a batch (with
/// `jobId`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ProgressBody {
    pub(super) success_count: u64,
    pub(super) failure_count: u64,
    #[serde(default, deserialize_with = "present")]
    pub(super) current_chunk: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub(super) total: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub(super) name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) stage: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) skipped: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub(super) message: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) metadata: Option<Metadata>,
    #[serde(default, deserialize_with = "present")]
    pub(super) attempt: Option<u32>,
}

/// `POST .../complete` (and `.../fail`, with its message).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct FinishBody {
    #[serde(default, deserialize_with = "present")]
    pub(super) success_count: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub(super) failure_count: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub(super) error_message: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) result_url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) message: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) metadata: Option<Metadata>,
}

/// `POST .../cancel`: why, optionally.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CancelBody {
    #[serde(default, deserialize_with = "present")]
    pub(super) reason: Option<String>,
}

impl CancelBody {
    /// The request, from `by`; a reason is one line of at most
    /// [`MAX_CANCEL_REASON`] characters.
    pub(super) fn ask(self, by: String) -> Result<CancelAsk, ApiError> {
        if let Some(reason) = &self.reason {
            let len = reason.chars().count();
            if len > MAX_CANCEL_REASON || reason.chars().any(|c| c.is_control() && c != '\t') {
                return Err(ApiError::BadRequest(format!(
                    "invalid body: reason: at most {MAX_CANCEL_REASON} characters of one line, got {len}"
                )));
            }
        }
        Ok(CancelAsk {
            by,
            reason: self.reason,
        })
    }
}

pub(super) fn within(field: &str, value: u64, max: u64) -> Result<u64, ApiError> {
    if value > max {
        return Err(ApiError::BadRequest(format!(
            "invalid body: {field}: at most {max}, got {value}"
        )));
    }
    Ok(value)
}

/// An attempt number: 1 for a job's first run.
fn attempt_of(field: &str, attempt: u32) -> Result<u32, ApiError> {
    if attempt == 0 {
        return Err(ApiError::BadRequest(format!(
            "invalid body: {field}: at least 1 (the first run is 1)"
        )));
    }
    Ok(attempt)
}

/// A 400 for a field over its limit; `at` places it in a batch.
fn invalid(at: &str, err: DetailError) -> ApiError {
    ApiError::BadRequest(format!("invalid body: {at}{err}"))
}

/// What an update says besides its counts, each part checked against its
/// limit; `at` places the fields in a batch (`updates[3].`).
fn detail(
    at: &str,
    name: Option<String>,
    stage: Option<String>,
    skipped: Option<Vec<String>>,
    message: Option<String>,
    metadata: Option<Metadata>,
) -> Result<Detail, ApiError> {
    let bad = |err| invalid(at, err);
    if let Some(stage) = &stage {
        steps::check_step_name("stage", stage).map_err(bad)?;
    }
    let skipped = skipped.unwrap_or_default();
    if skipped.len() > steps::MAX_STEPS {
        return Err(bad(DetailError {
            field: "skipped",
            reason: format!("at most {} names", steps::MAX_STEPS),
        }));
    }
    for name in &skipped {
        steps::check_step_name("skipped", name).map_err(bad)?;
    }
    if let Some(metadata) = &metadata {
        check_metadata(metadata).map_err(bad)?;
    }
    Ok(Detail {
        name: name.map(JobName::parse).transpose().map_err(bad)?,
        stage,
        skipped,
        message: message.map(Message::parse).transpose().map_err(bad)?,
        metadata,
    })
}

impl DeclareBody {
    pub(super) fn parse(self) -> Result<Declaration, ApiError> {
        let mut spec = JobSpec::staged();
        spec.total = self
            .total
            .map(|total| within("total", total, MAX_COUNT))
            .transpose()?;
        let steps = self.steps.unwrap_or_default();
        spec.expected_children = self
            .expected_children
            .map(|n| match n {
                0 => Err(ApiError::BadRequest(
                    "invalid body: expectedChildren: at least 1".into(),
                )),
                n => within("expectedChildren", n, MAX_COUNT),
            })
            .transpose()?;
        spec.complete_with_children = self.complete_with_children.unwrap_or(false);
        if spec.complete_with_children && spec.expected_children.is_none() {
            return Err(ApiError::BadRequest(
                "invalid body: expectedChildren: required with completeWithChildren".into(),
            ));
        }
        spec.failure_policy = self.failure_policy;
        spec.parent = self.parent_job_id;
        // A parent that expects children may leave its total to them.
        if spec.total.is_none() && steps.is_empty() && spec.expected_children.is_none() {
            return Err(ApiError::BadRequest(
                "invalid body: total: required unless the job declares steps or expectedChildren"
                    .into(),
            ));
        }
        spec.steps = steps::plan(&steps).map_err(|err| invalid("", err))?;
        spec.kind = self
            .kind
            .map(JobKind::parse)
            .transpose()
            .map_err(|err| invalid("", err))?;
        let detail = detail("", self.name, self.stage, None, self.message, self.metadata)?;
        spec.name.clone_from(&detail.name);
        if let Some(size) = self.chunk_size {
            if size == 0 {
                return Err(ApiError::BadRequest(
                    "invalid body: chunkSize: at least 1".into(),
                ));
            }
            spec.chunk_size = Some(within("chunkSize", size, MAX_COUNT)?);
            spec.total_chunks = spec.total.map(|total| total.div_ceil(size));
        }
        if let Some(chunks) = self.total_chunks {
            spec.total_chunks = Some(within("totalChunks", chunks, MAX_COUNT)?);
        }
        spec.pause = self
            .pause_ms
            .map(|ms| within("pauseMs", ms, MAX_INTERVAL_MS).map(Duration::from_millis))
            .transpose()?;
        spec.schedule_id = self.schedule_id;
        let refresh_interval = self
            .refresh_interval_ms
            .map(|ms| match ms {
                0 => Err(ApiError::BadRequest(
                    "invalid body: refreshIntervalMs: at least 1".into(),
                )),
                ms => within("refreshIntervalMs", ms, MAX_INTERVAL_MS).map(Duration::from_millis),
            })
            .transpose()?;
        let attempt = self.attempt.map(|n| attempt_of("attempt", n)).transpose()?;
        Ok(Declaration {
            attempt,
            resume: self.resume.unwrap_or(false),
            spec,
            detail: Detail {
                name: None,
                ..detail
            },
            status: match self.status {
                DeclaredStatus::Preparing => JobStatus::Preparing,
                DeclaredStatus::InProgress => JobStatus::InProgress,
            },
            refresh_interval,
        })
    }
}

impl ProgressBody {
    pub(super) fn parse(self, at: &str) -> Result<Report, ApiError> {
        let field = |name: &str| format!("{at}{name}");
        Ok(Report {
            attempt: self
                .attempt
                .map(|n| attempt_of(&field("attempt"), n))
                .transpose()?,
            succeeded: within(&field("successCount"), self.success_count, MAX_COUNT)?,
            failed: within(&field("failureCount"), self.failure_count, MAX_COUNT)?,
            chunk: self
                .current_chunk
                .map(|chunk| within(&field("currentChunk"), chunk, MAX_COUNT))
                .transpose()?,
            total: self
                .total
                .map(|total| within(&field("total"), total, MAX_COUNT))
                .transpose()?,
            detail: detail(
                at,
                self.name,
                self.stage,
                self.skipped,
                self.message,
                self.metadata,
            )?,
        })
    }
}

impl FinishBody {
    /// `/complete`'s body: optional final counts, and no message.
    pub(super) fn completion(mut self) -> Result<Finish, ApiError> {
        if self.error_message.is_some() {
            return Err(ApiError::BadRequest(
                "invalid body: errorMessage: a completed job has none; use /fail".into(),
            ));
        }
        let result = self
            .result_url
            .take()
            .map(ResultUrl::parse)
            .transpose()
            .map_err(|err| invalid("", err))?;
        self.parse(Outcome::Completed(result))
    }

    /// `/cancelled`'s body: optional final counts, a message, metadata.
    pub(super) fn cancellation(self) -> Result<Finish, ApiError> {
        if self.error_message.is_some() || self.result_url.is_some() {
            return Err(ApiError::BadRequest(
                "invalid body: a cancelled job has no errorMessage or resultUrl".into(),
            ));
        }
        self.parse(Outcome::Cancelled)
    }

    /// `/fail`'s body: a message that says why (not blank, at most
    /// [`MAX_ERROR_MESSAGE`] characters), and optional final counts.
    pub(super) fn failure(mut self) -> Result<Finish, ApiError> {
        if self.result_url.is_some() {
            return Err(ApiError::BadRequest(
                "invalid body: resultUrl: a failed job has no result; use /complete".into(),
            ));
        }
        let message = match self.error_message.take() {
            Some(message) if message.chars().all(is_blank) => {
                return Err(ApiError::BadRequest(
                    "invalid body: errorMessage: must say why the job failed".into(),
                ));
            }
            Some(message) if message.chars().count() > MAX_ERROR_MESSAGE => {
                return Err(ApiError::BadRequest(format!(
                    "invalid body: errorMessage: at most {MAX_ERROR_MESSAGE} characters, got {}",
                    message.chars().count()
                )));
            }
            Some(message) => message,
            None => {
                return Err(ApiError::BadRequest(
                    "invalid body: missing field `errorMessage`".into(),
                ));
            }
        };
        self.parse(Outcome::Failed(message))
    }

    fn parse(self, outcome: Outcome) -> Result<Finish, ApiError> {
        Ok(Finish {
            outcome,
            succeeded: self
                .success_count
                .map(|n| within("successCount", n, MAX_COUNT))
                .transpose()?,
            failed: self
                .failure_count
                .map(|n| within("failureCount", n, MAX_COUNT))
                .transpose()?,
            detail: detail("", None, None, None, self.message, self.metadata)?,
        })
    }
}

/// White space as openapi.yaml's pattern (`\S`, ECMAScript) sees it, so
/// a message the document admits is never refused as blank.
fn is_blank(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}
