//! The response envelope `{statusCode, message, data}` and the rendered,
//! cacheable form of a response.

use actix_web::{
    http::{StatusCode, header::HeaderValue},
    web::Bytes,
};
use serde::Serialize;

/// Every JSON response body. The HTTP status always equals `statusCode`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<'a, T: Serialize> {
    /// The HTTP status, repeated for clients that only see the body.
    pub status_code: u16,
    /// A human sentence: "OK", or what went wrong and what to do.
    pub message: &'a str,
    /// The payload; `null` on errors.
    pub data: Option<T>,
}

/// Where a response's progress data came from (`X-Progress-Source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The in-process cache (the data itself came from one of the others
    /// less than a cache period ago).
    Cache,
    /// Redis: live.
    Redis,
    /// PostgreSQL: the last checkpoint.
    Database,
}

impl Source {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Redis => "redis",
            Source::Database => "database",
        }
    }

    /// The header value, ready to send.
    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }
}

/// A response rendered once and served to every poller of the same cache
/// period: status, JSON body and the headers derived from them.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// HTTP status.
    pub status: StatusCode,
    /// The envelope, serialized.
    pub body: Bytes,
    /// Strong validator of the body (successful responses only), ready to
    /// be sent: built once per cache period, not per request.
    pub etag: Option<HeaderValue>,
    /// Where the data came from (progress responses only).
    pub source: Option<Source>,
    /// For lists: how many items there are in all (`X-Total-Count`).
    pub total_count: Option<u64>,
}

impl Rendered {
    /// A `200` carrying `data`, with an ETag derived from the body so every
    /// API instance gives the same tag for the same content.
    pub fn ok<T: Serialize>(data: &T, source: Source) -> Self {
        let body = serialize(StatusCode::OK, "OK", Some(data));
        let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&body));
        Self {
            status: StatusCode::OK,
            body,
            // Hex digits and quotes: always a valid header value.
            etag: HeaderValue::from_str(&etag).ok(),
            source: Some(source),
            total_count: None,
        }
    }

    /// Served from the fallback store, or a server error: an answer to
    /// replace as soon as Redis can give a better one.
    pub fn is_fallback(&self) -> bool {
        self.source == Some(Source::Database) || self.status.is_server_error()
    }

    /// An error envelope with `message` and `data: null`.
    pub fn error(status: StatusCode, message: &str) -> Self {
        Self {
            status,
            body: serialize::<()>(status, message, None),
            etag: None,
            source: None,
            total_count: None,
        }
    }
}

/// Serializes an envelope. Our payloads are plain data (no maps with
/// non-string keys), so this cannot fail; if it ever did, the client gets a
/// bare 500 envelope instead of a panic.
pub fn serialize<T: Serialize>(status: StatusCode, message: &str, data: Option<T>) -> Bytes {
    let envelope = Envelope {
        status_code: status.as_u16(),
        message,
        data,
    };
    match serde_json::to_vec(&envelope) {
        Ok(body) => Bytes::from(body),
        Err(err) => {
            tracing::error!(error = %err, "cannot serialize a response");
            Bytes::from_static(br#"{"statusCode":500,"message":"internal error","data":null}"#)
        }
    }
}
