//! Request bodies: read up to a limit, parsed as JSON into a typed value,
//! every refusal an envelope that names what is wrong and where.

use actix_web::{HttpRequest, http::header, web};
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;

use super::ApiError;

/// The largest body of a single update: far above any real one (an error
/// message is at most 2 KiB), far below what could hurt.
pub const MAX_BODY: usize = 64 * 1024;

/// The largest body of a batch: 1,000 updates at a generous 1 KiB each.
pub const MAX_BATCH_BODY: usize = 1024 * 1024;

/// The body of `request`, at most `limit` bytes, parsed as `T`. A body
/// that is not JSON, too large, or of the wrong shape is a 4xx whose
/// message names the field (`updates[3].successCount: invalid type`).
pub async fn json<T: DeserializeOwned>(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    if let Some(kind) = request.headers().get(header::CONTENT_TYPE) {
        let is_json = kind
            .to_str()
            .ok()
            .and_then(|kind| kind.split(';').next())
            .is_some_and(|kind| {
                let kind = kind.trim().to_ascii_lowercase();
                kind == "application/json" || kind.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|err| ApiError::BadRequest(format!("cannot read the body: {err}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    parse(&body)
}

/// A body that may be left out (complete, fail, read tokens): none, or an
/// empty one, means `{}`; anything else is [`json`] up to [`MAX_BODY`].
pub async fn optional<T: DeserializeOwned + Default>(
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    let empty = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok())
        .is_some_and(|length| length.trim() == "0")
        || (!request.headers().contains_key(header::CONTENT_LENGTH)
            && !request.headers().contains_key(header::TRANSFER_ENCODING));
    if empty {
        return Ok(T::default());
    }
    json(request, payload, MAX_BODY).await
}

/// `bytes` as JSON of type `T`, or a 400 naming the field at fault.
///
/// Every body this API takes is a JSON object, and anything else is
/// refused before serde sees it: serde reads a struct from an array too,
/// field by field in declaration order, so `[8,2]` would be taken as
/// `{"successCount":8,"failureCount":2}`, which no client means.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|byte| !byte.is_ascii_whitespace()) {
        None => {
            return Err(ApiError::BadRequest(
                "the body is empty; send a JSON object".into(),
            ));
        }
        Some(b'{') => {}
        Some(_) => {
            return Err(ApiError::BadRequest(
                "invalid body: must be a JSON object ({\"field\": value, ...})".into(),
            ));
        }
    }
    // Most bodies are valid: read them at serde_json's own pace, and only
    // read a refused one again to name the field at fault (tracking the
    // path of every field was 7 % of the server's CPU under batches of
    // reports; BENCHMARKS.md, "Ingest on the embedded stores").
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." || path.is_empty() {
            ApiError::BadRequest(format!("invalid body: {inner}"))
        } else {
            ApiError::BadRequest(format!("invalid body: {path}: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|err| ApiError::BadRequest(format!("invalid body: {err}")))?;
    Ok(value)
}

/// An optional field that, when given, must hold a value: `null` is
/// refused (the document says the field is a number or a string), and
/// only leaving the field out means "none". For `deserialize_with` on
/// every request body.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Update {
        success_count: u64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Batch {
        updates: Vec<Update>,
    }

    fn message(err: ApiError) -> String {
        err.to_string()
    }

    #[test]
    fn errors_name_the_field_at_fault() {
        let err = parse::<Batch>(br#"{"updates":[{"successCount":1},{"successCount":"x"}]}"#)
            .unwrap_err();
        assert!(
            message(err).contains("updates[1].successCount"),
            "names the item and field"
        );
        let err = parse::<Update>(br#"{"successCount":1,"sucessCount":2}"#).unwrap_err();
        assert!(message(err).contains("unknown field `sucessCount`"));
        let err = parse::<Update>(br#"{"successCount":-1}"#).unwrap_err();
        assert!(message(err).contains("successCount"));
        let err = parse::<Update>(b"  ").unwrap_err();
        assert!(message(err).contains("empty"));
        let err = parse::<Update>(br#"{"successCount":1} trailing"#).unwrap_err();
        assert!(message(err).contains("trailing"));
    }

    #[test]
    fn only_an_object_is_a_body() {
        assert!(parse::<Update>(b" \n{\"successCount\":1}").is_ok());
        for bad in [&b"[8]"[..], b" [8]", b"8", b"\"x\"", b"null", b"true"] {
            let err = parse::<Update>(bad).unwrap_err();
            assert!(
                message(err).contains("must be a JSON object"),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let err = parse::<Batch>(br#"[[{"successCount":1}]]"#).unwrap_err();
        assert!(message(err).contains("must be a JSON object"));
    }
}
