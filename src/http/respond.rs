//! Turns a [`Served`] response into HTTP: headers, ETag and `304`.

use actix_web::{
    HttpRequest, HttpResponse,
    http::header::{self, EntityTag, Header as _, HeaderName, HeaderValue, IfNoneMatch},
};

use crate::read::cache::Served;

/// `X-Progress-Source`: `cache`, `redis` or `database`.
pub const SOURCE_HEADER: HeaderName = HeaderName::from_static("x-progress-source");
/// `X-Total-Count`: how many items a list has in all.
pub const TOTAL_HEADER: HeaderName = HeaderName::from_static("x-total-count");
/// `Content-Type` of every envelope.
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The response for `served`, or `304 Not Modified` when the client's
/// `If-None-Match` already names its ETag.
pub fn respond(request: &HttpRequest, served: &Served) -> HttpResponse {
    let rendered = &served.response;
    let mut response = HttpResponse::build(rendered.status);
    if let Some(source) = served.source() {
        response.insert_header((SOURCE_HEADER, HeaderValue::from_static(source.as_str())));
    }
    // Progress changes all the time: clients must revalidate, and the ETag
    // makes that cheap.
    response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")));
    if let Some(total) = rendered.total_count {
        response.insert_header((TOTAL_HEADER, total));
    }
    if let Some(etag) = &rendered.etag {
        response.insert_header((header::ETAG, etag.value.clone()));
        if matches_none_match(request, &etag.tag) {
            return response
                .status(actix_web::http::StatusCode::NOT_MODIFIED)
                .finish();
        }
    }
    // A static value: `ContentType::json()` would parse and copy the
    // media type on every answer.
    response
        .insert_header((header::CONTENT_TYPE, JSON))
        .body(rendered.body.clone())
}

/// `If-None-Match` uses the weak comparison (RFC 9110 13.1.2); `*` matches
/// any current representation. A malformed header matches nothing.
pub(crate) fn matches_none_match(request: &HttpRequest, etag: &EntityTag) -> bool {
    if !request.headers().contains_key(header::IF_NONE_MATCH) {
        return false; // the common case, without parsing
    }
    match IfNoneMatch::parse(request) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|tag| tag.weak_eq(etag)),
        Err(_) => false,
    }
}
