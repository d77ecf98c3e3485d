//! `GET /api/v1/schedules/active` and `GET /api/v1/schedules/{id}/progress`.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::{
    domain::ScheduleId,
    http::{ApiError, AppState, RequestId, respond::respond},
};

/// Scheduled sends that have started and not ended, with live counts.
#[tracing::instrument(name = "get_active_schedules", level = "debug", skip_all)]
pub async fn active(
    request: HttpRequest,
    state: web::Data<AppState>,
    request_id: RequestId,
) -> HttpResponse {
    let served = state.reader.active_schedules(request_id.as_str()).await;
    respond(&request, &served)
}

/// One scheduled send with its job's progress.
#[tracing::instrument(name = "get_schedule_progress", level = "debug", skip_all, fields(schedule_id = %path.as_str()))]
pub async fn progress(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let id = ApiError::parse_id("schedule", ScheduleId::parse(path.into_inner()))?;
    let served = state.reader.schedule(id, request_id.as_str()).await;
    Ok(respond(&request, &served))
}
