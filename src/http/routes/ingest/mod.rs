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
//! Bodies are parsed (`bodies.rs`; a batch's, `batch.rs`) into the [`ingest`](crate::write::ingest) types;
//! everything a job's state decides (ordering, the ETA, checkpoints) is
//! decided there, by the code the Rust writer uses.
//!
//! A 2xx for a status change (a declaration, a job's first progress after
//! `preparing`, an ending; and the same per item of a batch) is sent only
//! once the archive has committed it; past
//! [`COMMIT_WAIT`](crate::write::COMMIT_WAIT) the answer is 503 with
//! `Retry-After`, and the same request retried is idempotent.

mod batch;
mod bodies;

pub use batch::batch;
pub use bodies::{MAX_BATCH, MAX_COUNT, MAX_ERROR_MESSAGE, MAX_INTERVAL_MS};

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};

use self::bodies::{CancelBody, DeclareBody, FinishBody, ProgressBody};
use crate::{
    domain::JobId,
    http::{
        ApiError, AppState,
        auth::{Credentials, Presented},
        body::{self, MAX_BODY},
    },
    metrics::IngestOutcome,
    read::envelope::serialize,
    write::{
        WriteError,
        ingest::{Accepted, IngestError},
    },
};

/// The path's job id, or a 400.
fn job_id(path: web::Path<String>) -> Result<JobId, ApiError> {
    ApiError::parse_id("job", JobId::parse(path.into_inner()))
}

/// Counts the update's outcome (`job_progress_ingest_updates_total`).
fn count<T>(state: &AppState, result: &Result<T, IngestError>) {
    let outcome = match result {
        Ok(_) => IngestOutcome::Accepted,
        Err(IngestError::Stale(_) | IngestError::Refused(WriteError::CountsDecreased { .. })) => {
            IngestOutcome::Stale
        }
        // The store's trouble, not the update's: the worker retries it.
        Err(
            IngestError::Unavailable(_) | IngestError::Contended(_) | IngestError::NotDurable(_),
        ) => return,
        Err(_) => IngestOutcome::Refused,
    };
    state.metrics.ingest_update(outcome);
}

/// Counts an update's outcome and answers it: the stored record, or the
/// refusal.
fn answer(
    state: &AppState,
    result: Result<Accepted, IngestError>,
) -> Result<HttpResponse, ApiError> {
    count(state, &result);
    Ok(stored(&result.map_err(ApiError::from)?))
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
    let body: FinishBody = body::optional(&request, payload).await?;
    let finish = body.completion()?;
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
    let body: FinishBody = body::json(&request, payload, MAX_BODY).await?;
    let finish = body.failure()?;
    let result = state.ingest.finish(id, finish).await;
    answer(&state, result)
}

/// Ends a job `cancelled`: its worker stopped because it was asked to.
#[tracing::instrument(name = "cancelled_job", level = "debug", skip_all, fields(job_id = %path.as_str()))]
pub async fn cancelled(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(path)?;
    let body: FinishBody = body::optional(&request, payload).await?;
    let finish = body.cancellation()?;
    let result = state.ingest.finish(id, finish).await;
    answer(&state, result)
}

/// Asks a job to stop (a `control` token). The request is recorded as
/// from the token's name.
#[tracing::instrument(name = "cancel_job", level = "debug", skip_all, fields(job_id = %path.as_str()))]
pub async fn cancel(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(path)?;
    let body: CancelBody = body::optional(&request, payload).await?;
    let by = match Credentials::of(&request, &state.access).valid() {
        Some(Presented::Known(token)) => token.name.to_string(),
        // The route admits control tokens only; should access ever be
        // open, the request still says it came from nobody known.
        _ => "anonymous".to_owned(),
    };
    let ask = body.ask(by)?;
    let result = state.ingest.cancel(id, ask).await;
    answer(&state, result)
}
