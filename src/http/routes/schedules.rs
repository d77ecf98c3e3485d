//! `GET /api/v1/schedules/active` and `GET /api/v1/schedules/{id}/progress`.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::{
    domain::ScheduleId,
    http::{ApiError, AppState, respond::respond},
};

/// Scheduled sends that have started and not ended, with live counts.
#[tracing::instrument(name = "get_active_schedules", level = "debug", skip_all)]
pub async fn active(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let served = state.reader.active_schedules().await;
    respond(&request, &served)
}

/// One scheduled send with its job's progress.
#[tracing::instrument(name = "get_schedule_progress", level = "debug", skip_all, fields(schedule_id = %path.as_str()))]
pub async fn progress(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = ScheduleId::parse(path.into_inner())
        .map_err(|err| ApiError::BadRequest(format!("invalid schedule id: {err}")))?;
    let served = state.reader.schedule(id).await;
    Ok(respond(&request, &served))
}
