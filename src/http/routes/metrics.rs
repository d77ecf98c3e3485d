//! `GET /metrics`: the Prometheus text exposition (see [`crate::metrics`]).

use actix_web::{HttpRequest, HttpResponse, http::header, web};

use crate::{
    http::{ApiError, AppState},
    metrics::process,
};

/// The exposition format's media type (version 0.0.4 of the text format).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The server's own series, then the process's store and writer series.
/// With `METRICS_TOKEN` set, only `Authorization: Bearer <it>` gets them.
pub async fn metrics(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    state.access.authorize_metrics(&request)?;
    let mut body = state.metrics.render(state.hub.open_streams());
    if let Some(process) = process::install() {
        body.push_str(&process.render());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .body(body))
}
