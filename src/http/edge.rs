//! The middleware at the edge of every request: request ids, the header
//! size limit, the log line and the metrics of every answer.

use std::{
    borrow::Cow,
    future::{Future, Ready, ready},
    pin::Pin,
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, ready},
    time::Instant,
};

use actix_web::{
    FromRequest, HttpMessage as _, HttpRequest,
    body::{EitherBody, MessageBody},
    dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
    http::header::{HeaderName, HeaderValue},
    web,
    web::Bytes,
};
use pin_project_lite::pin_project;

use super::{ApiError, AppState, client};
use crate::metrics::ServerMetrics;

/// `X-Request-Id`: the request's id, as its log lines carry it.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, as [`Edge`] gave it; handlers take it as an extractor
/// to name the request in the log lines of the reads it starts.
///
/// Held as the header value it is sent back in: a client's id is the
/// request's own header, shared, and a fresh one is made once; no copy is
/// made per request.
#[derive(Debug, Clone)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The id as text (always ASCII: [`Edge`] makes sure of it).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or("-")
    }
}

impl FromRequest for RequestId {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = request.extensions().get::<RequestId>().cloned();
        std::future::ready(Ok(
            id.unwrap_or_else(|| RequestId(HeaderValue::from_static("-")))
        ))
    }
}

/// The route pattern a handler names for its request's metrics, so the
/// edge need not ask actix for it (`match_pattern` matches the path
/// against the routes again); set by the most requested route.
#[derive(Debug, Clone, Copy)]
pub struct RoutePattern(pub &'static str);

/// The most header bytes (names and values) a request may carry. A
/// dashboard or curl sends well under 2 KiB; the limit keeps memory per
/// connection small. (actix-web answers a bare 431 itself for requests far
/// beyond this, or with more than 96 headers.)
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The middleware itself, wrapped outermost in `startup.rs`:
///
/// - gives the request an id (the client's `X-Request-Id` when it sends a
///   sane one, so ids follow a request through a load balancer) and returns
///   it in `X-Request-Id`;
/// - refuses oversized headers with the envelope;
/// - logs the answer with the request id, method, path and client address
///   ([`client::address`], after `TRUSTED_PROXIES`): 5xx as errors
///   (the cause was logged where it happened), the rest at debug;
/// - counts it and its latency by route pattern (never the raw path, so
///   unknown ids add no series), method and status
///   ([`ServerMetrics::http_request`](crate::metrics::ServerMetrics::http_request)).
///
/// There is no span per request: `tracing-actix-web`'s span cost more CPU
/// than a cached read itself, and even a three-field span cost a fifth of it
/// (see BENCHMARKS.md), while the store reads that log run in tasks shared
/// by many requests, outside any one request's span anyway.
///
/// Written as a `Transform` with a future of its own rather than with
/// `middleware::from_fn`: that boxes the middleware's future and calls the
/// next service through a boxed one too, and boxes every answer's body,
/// on every request, the cached reads' included.
#[derive(Debug, Clone, Copy, Default)]
pub struct Edge;

impl<S, B> Transform<S, ServiceRequest> for Edge
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = EdgeService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(EdgeService { next: service }))
    }
}

/// [`Edge`] around the rest of the app, `next`.
#[derive(Debug)]
pub struct EdgeService<S> {
    next: S,
}

impl<S, B> Service<ServiceRequest> for EdgeService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = EdgeFuture<S::Future>;

    forward_ready!(next);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let metrics = request
            .app_data::<web::Data<AppState>>()
            .map(|state| state.metrics.clone());
        let id = request_id(&request);
        request.extensions_mut().insert(RequestId(id.clone()));
        let header_bytes: usize = request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        let answer = if header_bytes > MAX_HEADER_BYTES {
            Answer::Refused {
                response: Some(
                    request.into_response(ApiError::HeadersTooLarge.error_response_owned()),
                ),
            }
        } else {
            Answer::Called {
                call: self.next.call(request),
            }
        };
        EdgeFuture {
            answer,
            started,
            id: Some(id),
            metrics,
        }
    }
}

pin_project! {
    /// What [`EdgeService`] waits on: the rest of the app's answer, or its
    /// own refusal.
    #[project = AnswerProjection]
    enum Answer<F> {
        Called { #[pin] call: F },
        Refused { response: Option<ServiceResponse> },
    }
}

pin_project! {
    /// The answer of [`EdgeService`]: the app's, stamped, logged and counted.
    pub struct EdgeFuture<F> {
        #[pin]
        answer: Answer<F>,
        started: Instant,
        id: Option<HeaderValue>,
        metrics: Option<ServerMetrics>,
    }
}

impl<F, B> Future for EdgeFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    B: MessageBody,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.answer.project() {
            AnswerProjection::Called { call } => ready!(call.poll(cx))?.map_into_left_body(),
            AnswerProjection::Refused { response } => match response.take() {
                Some(response) => response.map_into_right_body(),
                // Polled again after it answered: a caller's bug, and
                // nothing is left to give it.
                None => return Poll::Pending,
            },
        };
        let id = this
            .id
            .take()
            .unwrap_or_else(|| HeaderValue::from_static("-"));
        Poll::Ready(Ok(finish(response, *this.started, id, this.metrics.take())))
    }
}

/// Logs and counts an answer, and returns it with the request's id.
fn finish<B>(
    mut response: ServiceResponse<B>,
    started: Instant,
    id: HeaderValue,
    metrics: Option<ServerMetrics>,
) -> ServiceResponse<B> {
    let (status, method, path) = (
        response.status().as_u16(),
        response.request().method(),
        response.request().path(),
    );
    let request_id = id.to_str().unwrap_or("-");
    // Built only when the line is logged (tracing evaluates fields after
    // its level check).
    let client = || client::address(response.request());
    if response.status().is_server_error() {
        tracing::error!(request_id, %method, path, status, client = %client(), "answered with a server error");
    } else {
        tracing::debug!(request_id, %method, path, status, client = %client(), "answered");
    }
    response.headers_mut().insert(REQUEST_ID_HEADER, id);
    if let Some(metrics) = metrics {
        let request = response.request();
        // The pattern a route named for itself, else actix's (which
        // matches the path against the routes again, regex and all).
        let named = request.extensions().get::<RoutePattern>().map(|r| r.0);
        let route = match named {
            Some(pattern) => Some(Cow::Borrowed(pattern)),
            None => request.match_pattern().map(Cow::Owned),
        };
        metrics.http_request(
            route,
            request.method(),
            response.status(),
            started.elapsed(),
        );
    }
    response
}

/// The client's `X-Request-Id` if it is 1-64 characters of
/// `[A-Za-z0-9._:-]`, else a fresh one: this process's random prefix and a
/// counter (unique, and cheaper than a UUID per request).
fn request_id(request: &ServiceRequest) -> HeaderValue {
    static PREFIX: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let given = request.headers().get(&REQUEST_ID_HEADER).filter(|id| {
        (1..=64).contains(&id.len())
            && id
                .as_bytes()
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    });
    match given {
        Some(id) => id.clone(),
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
            let id = hex_id(*prefix, NEXT.fetch_add(1, Ordering::Relaxed));
            // Hex digits and a dash: always a valid value; taken, not copied.
            HeaderValue::from_maybe_shared(Bytes::from(id))
                .unwrap_or_else(|_| HeaderValue::from_static("-"))
        }
    }
}

/// `<prefix as 8 hex digits>-<n in hex>`, as `format!("{prefix:08x}-{n:x}")`
/// writes it, without the formatting machinery (it ran on every request).
fn hex_id(prefix: u32, n: u64) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = Vec::with_capacity(8 + 1 + 16);
    id.extend(
        (0..8)
            .rev()
            .map(|i| HEX[(prefix >> (i * 4)) as usize & 0xf]),
    );
    id.push(b'-');
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
    id.extend(
        (0..digits)
            .rev()
            .map(|i| HEX[(n >> (i * 4)) as usize & 0xf]),
    );
    id
}

#[cfg(test)]
mod tests {
    use super::hex_id;

    #[test]
    fn a_fresh_request_id_is_the_prefix_and_the_counter_in_hex() {
        for (prefix, n) in [(0, 0), (0xdead_beef, 1), (7, 0x1f), (u32::MAX, u64::MAX)] {
            assert_eq!(
                String::from_utf8(hex_id(prefix, n)).unwrap(),
                format!("{prefix:08x}-{n:x}")
            );
        }
    }
}
