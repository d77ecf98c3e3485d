//! The HTTP edge: routes, input parsing, error mapping, headers.
//!
//! | method | path                                | handler                      |
//! |--------|-------------------------------------|------------------------------|
//! | GET    | `/api/v1/jobs/{jobId}/progress`      | [`routes::jobs::progress`]   |
//! | GET    | `/api/v1/jobs/active`                | [`routes::jobs::active`]     |
//! | GET    | `/api/v1/schedules/active`           | [`routes::schedules::active`]|
//! | GET    | `/api/v1/schedules/{id}/progress`    | [`routes::schedules::progress`] |
//! | GET    | `/healthz`, `/readyz`                | [`routes::health`]           |
//! | GET    | `/openapi.yaml`                      | [`routes::health::openapi`]  |

mod error;
pub mod respond;
pub mod routes;

use actix_web::{
    Handler, HttpMessage, HttpResponse, Responder, Route,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    guard,
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
    web,
};
use tracing_actix_web::RequestId;

pub use self::error::ApiError;
use crate::read::ProgressReader;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The read path.
    pub reader: ProgressReader,
}

/// `X-Request-Id`: the id of the request's log span.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// GET and HEAD to `handler`.
fn get<F, Args>(handler: F) -> Route
where
    F: Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::route()
        .guard(guard::Any(guard::Get()).or(guard::Head()))
        .to(handler)
}

/// A read-only resource: GET and HEAD answered, anything else 405.
fn resource<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(get(handler))
        .default_service(web::to(|| async {
            ApiError::MethodNotAllowed.error_response_owned()
        }))
}

impl ApiError {
    fn error_response_owned(self) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}

/// Registers every route, and the extractor settings that turn bad input
/// into envelope errors.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::BadRequest(format!("invalid path: {err}")).into()),
    )
    .app_data(web::QueryConfig::default().error_handler(|err, _| {
        ApiError::BadRequest(format!("invalid query string: {err}")).into()
    }))
    .service(resource("/api/v1/jobs/active", routes::jobs::active))
    .service(resource(
        "/api/v1/jobs/{job_id}/progress",
        routes::jobs::progress,
    ))
    .service(resource(
        "/api/v1/schedules/active",
        routes::schedules::active,
    ))
    .service(resource(
        "/api/v1/schedules/{schedule_id}/progress",
        routes::schedules::progress,
    ))
    .service(resource("/healthz", routes::health::healthz))
    .service(resource("/readyz", routes::health::readyz))
    .service(resource("/openapi.yaml", routes::health::openapi));
}

/// The answer for a path no route knows.
pub async fn not_found() -> HttpResponse {
    ApiError::NotFound("no such endpoint; the API is described at /openapi.yaml".into())
        .error_response_owned()
}

/// The most header bytes (names and values) a request may carry. A
/// dashboard or curl sends well under 2 KiB; the limit keeps memory per
/// connection small. (actix-web answers a bare 431 itself for requests far
/// beyond this, or with more than 96 headers.)
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Middleware at the edge of every request: refuses oversized headers with
/// the envelope, and copies the request id `TracingLogger` gave the request
/// into `X-Request-Id`, so a user can quote it.
pub async fn edge(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = request.extensions().get::<RequestId>().copied();
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let mut response = if header_bytes > MAX_HEADER_BYTES {
        request.into_response(ApiError::HeadersTooLarge.error_response_owned())
    } else {
        next.call(request).await?.map_into_boxed_body()
    };
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id.to_string()).ok()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}
