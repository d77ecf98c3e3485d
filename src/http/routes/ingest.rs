//! The write API: workers in any language report progress over HTTP.
//!
//! | method | path                              | does |
//! |--------|-----------------------------------|------|
//! | PUT    | `/api/v1/jobs/{jobId}`            | [`declare`] a job (201 when new, 200 when repeated) |
//! | POST   | `/api/v1/jobs/{jobId}/progress`   | [`progress`]: absolute counts |
//! | POST   | `/api/v1/jobs/{jobId}/complete`   | [`complete`], optionally with final counts |
//! | POST   | `/api/v1/jobs/{jobId}/fail`       | [`fail`], with `errorMessage` |
//! | POST   | `/api/v1/progress`                | [`batch`]: many jobs' counts, a result each |
//!
//! Bodies are parsed here into the [`ingest`](crate::write::ingest) types;
//! everything a job's state decides (ordering, the ETA, checkpoints) is
//! decided there, by the code the Rust writer uses.

use std::time::Duration;

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{JobId, JobStatus, ProgressRecord, ScheduleId},
    error::error_chain,
    http::{
        ApiError, AppState,
        body::{self, MAX_BATCH_BODY, MAX_BODY},
    },
    metrics::IngestOutcome,
    read::envelope::serialize,
    write::{
        JobSpec, WriteError,
        ingest::{Accepted, Declaration, Finish, IngestError, Outcome, Report},
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
struct DeclareBody {
    total: u64,
    #[serde(default, deserialize_with = "present")]
    total_chunks: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    chunk_size: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pause_ms: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    schedule_id: Option<ScheduleId>,
    #[serde(default)]
    status: DeclaredStatus,
    #[serde(default, deserialize_with = "present")]
    refresh_interval_ms: Option<u64>,
}

/// The statuses a job may be declared with.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DeclaredStatus {
    Preparing,
    #[default]
    InProgress,
}

/// `POST /api/v1/jobs/{jobId}/progress`, and one item of a batch (with
/// `jobId`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProgressBody {
    success_count: u64,
    failure_count: u64,
    #[serde(default, deserialize_with = "present")]
    current_chunk: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    total: Option<u64>,
}

/// One item of a batch: a job and its counts (serde cannot refuse unknown
/// fields through `flatten`, so the fields are repeated here).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BatchItem {
    job_id: JobId,
    success_count: u64,
    failure_count: u64,
    #[serde(default, deserialize_with = "present")]
    current_chunk: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    total: Option<u64>,
}

/// `POST .../complete` (and `.../fail`, with its message).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FinishBody {
    #[serde(default, deserialize_with = "present")]
    success_count: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    failure_count: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    error_message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    /// Objects: anything else refuses the whole batch (400); an object
    /// that is not a valid item gets its own 400 result.
    updates: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// One item's result in a batch: an envelope with the item's job.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemResult {
    /// The item's job, when it names a valid one.
    job_id: Option<JobId>,
    status_code: u16,
    message: String,
    data: Option<ProgressRecord>,
}

/// An optional field that, when given, must hold a value: `null` is
/// refused (the document says the field is a number or a string), and
/// only leaving the field out means "none".
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

fn within(field: &str, value: u64, max: u64) -> Result<u64, ApiError> {
    if value > max {
        return Err(ApiError::BadRequest(format!(
            "invalid body: {field}: at most {max}, got {value}"
        )));
    }
    Ok(value)
}

impl DeclareBody {
    fn parse(self) -> Result<Declaration, ApiError> {
        let total = within("total", self.total, MAX_COUNT)?;
        let mut spec = JobSpec::new(total);
        if let Some(size) = self.chunk_size {
            if size == 0 {
                return Err(ApiError::BadRequest(
                    "invalid body: chunkSize: at least 1".into(),
                ));
            }
            spec.chunk_size = Some(within("chunkSize", size, MAX_COUNT)?);
            spec.total_chunks = Some(total.div_ceil(size));
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
        Ok(Declaration {
            spec,
            status: match self.status {
                DeclaredStatus::Preparing => JobStatus::Preparing,
                DeclaredStatus::InProgress => JobStatus::InProgress,
            },
            refresh_interval,
        })
    }
}

impl ProgressBody {
    fn parse(self, at: &str) -> Result<Report, ApiError> {
        let field = |name: &str| format!("{at}{name}");
        Ok(Report {
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
        })
    }
}

impl FinishBody {
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

/// The path's job id, or a 400.
fn job_id(path: web::Path<String>) -> Result<JobId, ApiError> {
    ApiError::parse_id("job", JobId::parse(path.into_inner()))
}

/// A body that may be left out (complete, fail): empty means `{}`.
async fn optional_body<T: serde::de::DeserializeOwned + Default>(
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    let empty = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok())
        .is_some_and(|length| length.trim() == "0")
        || (!request.headers().contains_key(header::CONTENT_LENGTH)
            && !request.headers().contains_key(header::TRANSFER_ENCODING));
    if empty {
        return Ok(T::default());
    }
    body::json(request, payload, MAX_BODY).await
}

/// Counts the update's outcome (`job_progress_ingest_updates_total`).
fn count<T>(state: &AppState, result: &Result<T, IngestError>) {
    let outcome = match result {
        Ok(_) => IngestOutcome::Accepted,
        Err(IngestError::Stale(_) | IngestError::Refused(WriteError::CountsDecreased { .. })) => {
            IngestOutcome::Stale
        }
        // The store's trouble, not the update's: the worker retries it.
        Err(IngestError::Unavailable(_) | IngestError::Contended(_)) => return,
        Err(_) => IngestOutcome::Refused,
    };
    state.metrics.ingest_update(outcome);
}

/// What an update's refusal looks like to the client.
fn refusal(err: IngestError) -> ApiError {
    let message = err.to_string();
    match err {
        IngestError::UnknownJob(_) => ApiError::NotFound(message),
        IngestError::Refused(_) | IngestError::Redeclared { .. } | IngestError::Stale(_) => {
            ApiError::Conflict(message)
        }
        IngestError::Contended(_) => ApiError::Unavailable(message),
        IngestError::Unavailable(cause) => {
            tracing::error!(error = %error_chain(&cause), "a progress update could not be stored");
            ApiError::Unavailable("progress cannot be stored right now; retry shortly".into())
        }
    }
}

/// Counts an update's outcome and answers it: the stored record, or the
/// refusal.
fn answer(
    state: &AppState,
    result: Result<Accepted, IngestError>,
) -> Result<HttpResponse, ApiError> {
    count(state, &result);
    Ok(stored(&result.map_err(refusal)?))
}

/// The stored record in the envelope.
fn stored(accepted: &Accepted) -> HttpResponse {
    let status = if accepted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = HttpResponse::build(status);
    if accepted.created {
        response.insert_header((
            header::LOCATION,
            format!("/api/v1/jobs/{}/progress", accepted.record.job_id),
        ));
    }
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type(header::ContentType::json())
        .body(serialize(status, "OK", Some(&accepted.record)))
}

/// Declares a job.
#[tracing::instrument(name = "declare_job", level = "debug", skip_all, fields(job_id = %path.as_str()))]
pub async fn declare(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(path)?;
    let declaration = body::json::<DeclareBody>(&request, payload, MAX_BODY)
        .await?
        .parse()?;
    let result = state.ingest.declare(id, declaration).await;
    answer(&state, result)
}

/// Records a job's absolute counts.
#[tracing::instrument(name = "report_progress", level = "debug", skip_all, fields(job_id = %path.as_str()))]
pub async fn progress(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(path)?;
    let report = body::json::<ProgressBody>(&request, payload, MAX_BODY)
        .await?
        .parse("")?;
    let result = state.ingest.report(id, report).await;
    answer(&state, result)
}

/// Completes a job.
#[tracing::instrument(name = "complete_job", level = "debug", skip_all, fields(job_id = %path.as_str()))]
pub async fn complete(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(path)?;
    let body: FinishBody = optional_body(&request, payload).await?;
    if body.error_message.is_some() {
        return Err(ApiError::BadRequest(
            "invalid body: errorMessage: a completed job has none; use /fail".into(),
        ));
    }
    let finish = body.parse(Outcome::Completed)?;
    let result = state.ingest.finish(id, finish).await;
    answer(&state, result)
}

/// Fails a job.
#[tracing::instrument(name = "fail_job", level = "debug", skip_all, fields(job_id = %path.as_str()))]
pub async fn fail(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(path)?;
    let mut body: FinishBody = body::json(&request, payload, MAX_BODY).await?;
    let message = match body.error_message.take() {
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
    let finish = body.parse(Outcome::Failed(message))?;
    let result = state.ingest.finish(id, finish).await;
    answer(&state, result)
}

/// Many jobs' counts in one request; each item gets its own result, and a
/// bad item does not stop the others.
#[tracing::instrument(name = "report_batch", level = "debug", skip_all)]
pub async fn batch(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let batch: BatchBody = body::json(&request, payload, MAX_BATCH_BODY).await?;
    if batch.updates.len() > MAX_BATCH {
        return Err(ApiError::BadRequest(format!(
            "invalid body: updates: at most {MAX_BATCH} items, got {}",
            batch.updates.len()
        )));
    }
    let mut results: Vec<Option<ItemResult>> = Vec::with_capacity(batch.updates.len());
    let mut reports = Vec::new();
    for (index, item) in batch.updates.into_iter().enumerate() {
        let parsed =
            serde_path_to_error::deserialize::<_, BatchItem>(serde_json::Value::Object(item))
                .map_err(|err| {
                    ApiError::BadRequest(format!(
                        "invalid item: updates[{index}].{}: {}",
                        err.path(),
                        err.inner()
                    ))
                })
                .and_then(|item| {
                    let update = ProgressBody {
                        success_count: item.success_count,
                        failure_count: item.failure_count,
                        current_chunk: item.current_chunk,
                        total: item.total,
                    };
                    let report = update.parse(&format!("updates[{index}]."))?;
                    Ok((item.job_id, report))
                });
        match parsed {
            Ok(report) => {
                reports.push((index, report));
                results.push(None);
            }
            Err(err) => results.push(Some(item_result(None, Err(err)))),
        }
    }
    let (indexes, reports): (Vec<usize>, Vec<(JobId, Report)>) = reports.into_iter().unzip();
    let ids: Vec<JobId> = reports.iter().map(|(id, _)| id.clone()).collect();
    let outcomes = state.ingest.report_many(reports).await;
    for outcome in &outcomes {
        count(&state, outcome);
    }
    for ((index, id), outcome) in indexes.into_iter().zip(ids).zip(outcomes) {
        results[index] = Some(item_result(Some(id), outcome.map_err(refusal)));
    }
    let results: Vec<ItemResult> = results.into_iter().flatten().collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type(header::ContentType::json())
        .body(serialize(StatusCode::OK, "OK", Some(&results))))
}

fn item_result(job_id: Option<JobId>, outcome: Result<Accepted, ApiError>) -> ItemResult {
    match outcome {
        Ok(accepted) => ItemResult {
            job_id,
            status_code: StatusCode::OK.as_u16(),
            message: "OK".into(),
            data: Some(accepted.record),
        },
        Err(err) => ItemResult {
            job_id,
            status_code: actix_web::ResponseError::status_code(&err).as_u16(),
            message: err.to_string(),
            data: None,
        },
    }
}
