//! The response envelope `{statusCode, message, data}` and the rendered,
//! cacheable form of a response.

use actix_web::{
    http::{
        StatusCode,
        header::{EntityTag, HeaderValue},
    },
    web::Bytes,
};
use serde::Serialize;

use super::ReadError;
use crate::domain::Source;

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

/// An ETag, and the same ready to be sent: built once per cache period,
/// not per request.
#[derive(Debug, Clone)]
pub struct Etag {
    /// For comparison with `If-None-Match`.
    pub tag: EntityTag,
    /// The `ETag` header's value.
    pub value: HeaderValue,
}

impl Etag {
    /// The strong tag of `body`: a hash of its bytes, so every API instance
    /// gives the same tag for the same content.
    fn of(body: &[u8]) -> Self {
        let tag = EntityTag::new_strong(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(body)));
        // Hex digits and quotes: always a valid header value.
        let value = HeaderValue::from_str(&tag.to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("\"\""));
        Self { tag, value }
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
    /// Strong validator of the body (successful responses only).
    pub etag: Option<Etag>,
    /// Where the data came from (progress responses only).
    pub source: Option<Source>,
    /// For lists: how many items there are in all (`X-Total-Count`).
    pub total_count: Option<u64>,
    /// Where `data` lies in `body` (successful responses only).
    data: Option<std::ops::Range<usize>>,
}

impl Rendered {
    /// A `200` carrying `data`, with an ETag derived from the body so every
    /// API instance gives the same tag for the same content.
    pub fn ok<T: Serialize>(data: &T, source: Source) -> Self {
        // The envelope around the data, written out so that the data's
        // place in the body is known (live streams send the data alone).
        const HEAD: &[u8] = br#"{"statusCode":200,"message":"OK","data":"#;
        let data = match serde_json::to_vec(data) {
            Ok(data) => data,
            Err(err) => {
                tracing::error!(error = %err, "cannot serialize a response");
                return Self::error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
        };
        let mut body = Vec::with_capacity(HEAD.len() + data.len() + 1);
        body.extend_from_slice(HEAD);
        body.extend_from_slice(&data);
        body.push(b'}');
        Self {
            status: StatusCode::OK,
            etag: Some(Etag::of(&body)),
            data: Some(HEAD.len()..HEAD.len() + data.len()),
            body: Bytes::from(body),
            source: Some(source),
            total_count: None,
        }
    }

    /// The `data` of a successful response (a view of the body, no copy).
    pub fn data(&self) -> Option<Bytes> {
        self.data.clone().map(|range| self.body.slice(range))
    }

    /// Served from the fallback store, or a server error: an answer to
    /// replace as soon as Redis can give a better one.
    pub fn is_fallback(&self) -> bool {
        self.source == Some(Source::Archive) || self.status.is_server_error()
    }

    /// An error envelope with `message` and `data: null`.
    pub fn error(status: StatusCode, message: &str) -> Self {
        Self {
            status,
            body: serialize::<()>(status, message, None),
            etag: None,
            source: None,
            total_count: None,
            data: None,
        }
    }
}

impl From<ReadError> for Rendered {
    fn from(err: ReadError) -> Self {
        Rendered::error(err.status(), &err.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_out_envelope_is_the_serialized_one_and_knows_its_data() {
        let data = serde_json::json!({"jobId": "a", "counts": [1, 2]});
        let rendered = Rendered::ok(&data, Source::Hot);
        assert_eq!(rendered.body, serialize(StatusCode::OK, "OK", Some(&data)));
        assert_eq!(rendered.data().unwrap(), serde_json::to_vec(&data).unwrap());
        assert_eq!(Rendered::error(StatusCode::NOT_FOUND, "no").data(), None);
    }
}
