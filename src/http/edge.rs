//! The middleware at the edge of every request: request ids, the header
//! size limit, and the log line of every answer.

use std::sync::{
    Arc, OnceLock,
    atomic::{AtomicU64, Ordering},
};

use actix_web::{
    FromRequest, HttpMessage as _, HttpRequest,
    body::{BoxBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
};

use super::ApiError;

/// `X-Request-Id`: the request's id, as its log lines carry it.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, as [`edge`] gave it; handlers take it as an extractor
/// to name the request in the log lines of the reads it starts.
#[derive(Debug, Clone)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromRequest for RequestId {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = request.extensions().get::<RequestId>().cloned();
        std::future::ready(Ok(id.unwrap_or_else(|| RequestId(Arc::from("-")))))
    }
}

/// The most header bytes (names and values) a request may carry. A
/// dashboard or curl sends well under 2 KiB; the limit keeps memory per
/// connection small. (actix-web answers a bare 431 itself for requests far
/// beyond this, or with more than 96 headers.)
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The middleware itself:
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
    let id: Arc<str> = request_id(&request).into();
    request.extensions_mut().insert(RequestId(Arc::clone(&id)));
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
