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
    Handler, HttpResponse, Responder, Route,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    guard,
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
    web,
};
use std::sync::{
    OnceLock,
    atomic::{AtomicU64, Ordering},
};

pub use self::error::ApiError;
use crate::read::ProgressReader;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The read path.
    pub reader: ProgressReader,
}

/// `X-Request-Id`: the request's id, as its log lines carry it.
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

/// Middleware at the edge of every request:
///
/// - gives the request an id (the client's `X-Request-Id` when it sends a
///   sane one, so ids follow a request through a load balancer) and returns
///   it in `X-Request-Id`;
/// - refuses oversized headers with the envelope;
/// - logs the answer with the request id, method and path: 5xx as errors
///   (the cause was logged where it happened), the rest at debug.
///
/// There is no span per request: `tracing-actix-web`'s span cost more CPU
/// than a cached read itself, and even a three-field span cost a fifth of it
/// (see BENCHMARKS.md), while the store reads that log run in tasks shared
/// by many requests, outside any one request's span anyway.
pub async fn edge(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = request_id(&request);
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
    let (status, method, path) = (
        response.status().as_u16(),
        response.request().method(),
        response.request().path(),
    );
    if response.status().is_server_error() {
        tracing::error!(request_id = %id, %method, path, status, "answered with a server error");
    } else {
        tracing::debug!(request_id = %id, %method, path, status, "answered");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

/// The client's `X-Request-Id` if it is 1-64 characters of
/// `[A-Za-z0-9._:-]`, else a fresh one: this process's random prefix and a
/// counter (unique, and cheaper than a UUID per request).
fn request_id(request: &ServiceRequest) -> String {
    static PREFIX: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let given = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        });
    match given {
        Some(id) => id.to_owned(),
        None => {
            let prefix = PREFIX.get_or_init(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                let seed = [
                    nanos.to_le_bytes(),
                    u128::from(std::process::id()).to_le_bytes(),
                ];
                xxhash_rust::xxh3::xxh3_64(seed.as_flattened()) as u32
            });
            format!("{prefix:08x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
        }
    }
}
