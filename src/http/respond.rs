//! Turns a [`Served`] response into HTTP: headers, ETag and `304`.

use actix_web::{
    HttpRequest, HttpResponse,
    http::header::{self, ContentType, HeaderValue},
};

use crate::read::{cache::Served, envelope::Source};

/// `X-Progress-Source`: `cache`, `redis` or `database`.
pub const SOURCE_HEADER: &str = "x-progress-source";
/// `X-Total-Count`: how many items a list has in all.
pub const TOTAL_HEADER: &str = "x-total-count";

/// The response for `served`, or `304 Not Modified` when the client's
/// `If-None-Match` already names its ETag.
pub fn respond(request: &HttpRequest, served: &Served) -> HttpResponse {
    let rendered = &served.response;
    let mut response = HttpResponse::build(rendered.status);
    if let Some(source) = rendered.source {
        let source = if served.from_cache {
            Source::Cache
        } else {
            source
        };
        response.insert_header((SOURCE_HEADER, source.header_value()));
    }
    // Progress changes all the time: clients must revalidate, and the ETag
    // makes that cheap.
    response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")));
    if let Some(total) = rendered.total_count {
        response.insert_header((TOTAL_HEADER, total));
    }
    if let Some(etag) = &rendered.etag {
        response.insert_header((header::ETAG, etag.clone()));
        if matches_none_match(request, etag.as_bytes()) {
            return response
                .status(actix_web::http::StatusCode::NOT_MODIFIED)
                .finish();
        }
    }
    response
        .content_type(ContentType::json())
        .body(rendered.body.clone())
}

/// `If-None-Match` uses the weak comparison (RFC 9110 13.1.2): `W/` is
/// ignored on both sides; `*` matches any current representation.
fn matches_none_match(request: &HttpRequest, etag: &[u8]) -> bool {
    let ours = std::str::from_utf8(etag).unwrap_or_default();
    request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}
