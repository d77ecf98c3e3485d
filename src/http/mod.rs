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
use tracing::Instrument as _;

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

/// Middleware at the edge of every request:
///
/// - gives the request an id (the client's `X-Request-Id` when it sends a
///   sane one, so ids follow a request through a load balancer), runs it in
///   a `request` span carrying that id, and returns it in `X-Request-Id`;
/// - refuses oversized headers with the envelope;
/// - logs 5xx answers as errors (the cause was logged where it happened) and
///   the rest at debug.
///
/// This replaces `tracing-actix-web`'s `TracingLogger`: its span records a
/// dozen fields per request and rewrites them at the end, which cost more
/// CPU than the cached read itself (see BENCHMARKS.md).
pub async fn edge(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = request_id(&request);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.path()
    );
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let mut response = if header_bytes > MAX_HEADER_BYTES {
        request.into_response(ApiError::HeadersTooLarge.error_response_owned())
    } else {
        next.call(request)
            .instrument(span.clone())
            .await?
            .map_into_boxed_body()
    };
    let status = response.status();
    if status.is_server_error() {
        tracing::error!(parent: &span, status = status.as_u16(), "answered with a server error");
    } else {
        tracing::debug!(parent: &span, status = status.as_u16(), "answered");
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
