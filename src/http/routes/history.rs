//! `GET /api/v1/jobs/{jobId}/history`: a job's progress samples.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::{
    domain::JobId,
    http::{ApiError, AppState, respond::respond},
};

/// The job's progress history, oldest sample first.
#[tracing::instrument(name = "get_history", level = "debug", skip_all, fields(job_id = %path.as_str()))]
pub async fn history(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = ApiError::parse_id("job", JobId::parse(path.into_inner()))?;
    let served = state.reader.history(id).await;
    Ok(respond(&request, &served))
}
