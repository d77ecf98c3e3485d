//! [`ApiError`]: what the HTTP edge answers when a request cannot be served.

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header, header::ContentType},
};

use serde::Serialize;

use super::{auth::Refusal, limit, tokens::Scope};
use crate::{
    domain::IdError,
    error::error_chain,
    read::envelope::serialize,
    write::{ConflictReason, WriteError, ingest::IngestError},
};

/// The `Retry-After` of a refused stream: a few seconds, so that streams
/// that end meanwhile make room, and a client spread over a fleet finds
/// another instance.
pub const RETRY_AFTER_SECS: u64 = 5;

/// An error answered with the envelope. Each variant says its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request's path or query is invalid; the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such endpoint.
    #[error("{0}")]
    NotFound(String),
    /// 405: the endpoint exists but not for this method; `Allow` lists
    /// the ones it answers.
    #[error("method not allowed: this endpoint answers {allow}")]
    MethodNotAllowed {
        /// The methods it answers, as in `Allow`.
        allow: &'static str,
    },
    /// 409: the update contradicts the job's state (counts going down, a
    /// finished job); nothing changed. `data.reason` names why.
    #[error("{message}")]
    Conflict {
        /// What is wrong, in prose.
        message: String,
        /// Why, by a name a client branches on.
        reason: ConflictReason,
    },
    /// 413: the body is larger than the endpoint takes.
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The largest body taken, in bytes.
        limit: usize,
    },
    /// 415: the body is not JSON.
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// 503: the write cannot be taken now (the hot store is down, or the
    /// job is contended); answered with `Retry-After`.
    #[error("{0}")]
    Unavailable(String),
    /// 503: this instance has as many open streams as it may
    /// (`SSE_MAX_STREAMS`); answered with `Retry-After`.
    #[error("too many open event streams on this server; retry in a few seconds, or poll")]
    TooManyStreams,
    /// 431: the request's headers are larger than
    /// [`MAX_HEADER_BYTES`](super::edge::MAX_HEADER_BYTES).
    #[error("request headers too large: at most 16 KiB in all")]
    HeadersTooLarge,
    /// 401: the endpoint needs a token and the request carries none;
    /// answered with a `WWW-Authenticate` challenge.
    #[error("this endpoint needs a token: send `Authorization: Bearer <token>`")]
    MissingToken,
    /// 401: the token presented is not one this server knows (mistyped,
    /// revoked, or another server's); `error="invalid_token"`.
    #[error("the token is not valid here: check it, or ask for a new one")]
    InvalidToken,
    /// 403: the token is valid but its scope does not allow this;
    /// `error="insufficient_scope"`, naming the scopes that would.
    #[error("this endpoint needs a {} token; this token's scope does not include it", scope_list(.0))]
    InsufficientScope(&'static [Scope]),
    /// 403: a job's read token, used for another job, a list or
    /// `/metrics`; `error="insufficient_scope"`, `scope="read"`.
    #[error(
        "this token reads only the job it was made for (and that job's children); \
         other jobs and lists need a `read` token"
    )]
    JobTokenOnly,
    /// 501: this server makes no read tokens: `TOKEN_SIGNING_KEY` is not
    /// set. A setting to change, not a condition to wait out, hence not
    /// a 503.
    #[error(
        "this server makes no read tokens: set TOKEN_SIGNING_KEY (comma-separated keys of \
         at least 32 characters) on every instance"
    )]
    ReadTokensOff,
    /// 429: this client (its token, or its address) made more requests than
    /// the rate limit lets through; answered with `Retry-After`.
    #[error("too many requests: retry in {retry_after_secs} s")]
    TooManyRequests {
        /// Seconds until the next request is let through.
        retry_after_secs: u64,
        /// The burst, for `X-RateLimit-Limit`.
        limit: u32,
    },
}

/// The `data` of a 409: `{"reason": ...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// Why the update conflicts with the job's state.
    pub reason: ConflictReason,
}

impl From<IngestError> for ApiError {
    /// The answer to an update over HTTP that was not taken: a conflict
    /// with its reason (a [`WriteError`](crate::write::WriteError) names
    /// its own; a stale update and a changed declaration are named here),
    /// an unknown job, or the store's trouble (logged with its cause,
    /// answered without it).
    fn from(err: IngestError) -> Self {
        let message = err.to_string();
        let conflict = |reason| ApiError::Conflict {
            message: message.clone(),
            reason,
        };
        match err {
            IngestError::UnknownJob(_) => ApiError::NotFound(message),
            IngestError::Refused(WriteError::Invalid(_)) => ApiError::BadRequest(message),
            IngestError::Parent { .. } => ApiError::BadRequest(message),
            IngestError::Refused(refused) => conflict(refused.reason()),
            IngestError::Redeclared { .. } => conflict(ConflictReason::Redeclared),
            IngestError::UnknownParent { .. } | IngestError::OwnParent(_) => {
                conflict(ConflictReason::UnknownParent)
            }
            IngestError::Stale(_) => conflict(ConflictReason::Stale),
            IngestError::Contended(_) => ApiError::Unavailable(message),
            IngestError::NotDurable(id) => {
                tracing::warn!(job_id = %id, "a status change was not committed to the archive in time; answered 503");
                ApiError::Unavailable(message)
            }
            IngestError::Unavailable(cause) => {
                tracing::error!(error = %error_chain(&cause), "a progress update could not be stored");
                ApiError::Unavailable("progress cannot be stored right now; retry shortly".into())
            }
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Missing => ApiError::MissingToken,
            Refusal::Invalid => ApiError::InvalidToken,
            Refusal::InsufficientScope(scopes) => ApiError::InsufficientScope(scopes),
            Refusal::JobOnly => ApiError::JobTokenOnly,
        }
    }
}

/// `scopes` for a person: "`write` or `control`".
fn scope_list(scopes: &[Scope]) -> String {
    let names: Vec<String> = scopes.iter().map(|scope| format!("`{scope}`")).collect();
    names.join(" or ")
}

/// The realm of every `WWW-Authenticate` challenge.
const REALM: &str = "job-progress";

impl ApiError {
    /// An id from the path, or a 400 saying what is wrong with it; `what`
    /// names the kind of id (`job`, `schedule`).
    pub fn parse_id<T>(what: &str, parsed: Result<T, IdError>) -> Result<T, ApiError> {
        parsed.map_err(|err| ApiError::BadRequest(format!("invalid {what} id: {err}")))
    }
}

impl ApiError {
    /// The `data` of a 409, which says why; `None` for other errors.
    pub fn conflict(&self) -> Option<Conflict> {
        match self {
            ApiError::Conflict { reason, .. } => Some(Conflict { reason: *reason }),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::TooManyStreams => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::MissingToken | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope(_) | ApiError::JobTokenOnly => StatusCode::FORBIDDEN,
            ApiError::ReadTokensOff => StatusCode::NOT_IMPLEMENTED,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        response.content_type(ContentType::json());
        match self {
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, *allow));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, 1));
            }
            ApiError::TooManyStreams => {
                response.insert_header(("Retry-After", RETRY_AFTER_SECS.to_string()));
            }
            // RFC 6750 §3: no error code when no credentials were sent.
            ApiError::MissingToken => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!("Bearer realm=\"{REALM}\""),
                ));
            }
            ApiError::InvalidToken => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!("Bearer realm=\"{REALM}\", error=\"invalid_token\""),
                ));
            }
            ApiError::InsufficientScope(scopes) => {
                // RFC 6750 §3: `scope` is a space-delimited list.
                let scopes: Vec<&str> = scopes.iter().map(|scope| scope.as_str()).collect();
                let scopes = scopes.join(" ");
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!(
                        "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{scopes}\""
                    ),
                ));
            }
            ApiError::JobTokenOnly => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    format!(
                        "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"read\""
                    ),
                ));
            }
            ApiError::TooManyRequests {
                retry_after_secs,
                limit,
            } => {
                response
                    .insert_header((header::RETRY_AFTER, *retry_after_secs))
                    .insert_header((limit::AFTER_HEADER, *retry_after_secs))
                    .insert_header((limit::LIMIT_HEADER, *limit))
                    .insert_header((limit::REMAINING_HEADER, 0));
            }
            _ => {}
        }
        response.body(serialize(
            status,
            &self.to_string(),
            self.conflict().as_ref(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody as _;

    use super::*;
    use crate::domain::JobId;

    fn body(err: ApiError) -> (StatusCode, serde_json::Value) {
        let response = err.error_response();
        let status = response.status();
        let bytes = response.into_body().try_into_bytes().unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn a_409_says_why_in_data_and_other_errors_carry_no_data() {
        // A stale update meets only a writer racing the API (the store
        // refuses a state older than its own), so it is shown here.
        let stale = IngestError::Stale(JobId::parse("j").unwrap());
        let (status, envelope) = body(ApiError::from(stale));
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(envelope["statusCode"], 409);
        assert_eq!(envelope["data"], serde_json::json!({ "reason": "stale" }));
        assert!(envelope["message"].as_str().unwrap().contains("ahead"));

        let (status, envelope) = body(ApiError::BadRequest("no".into()));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(envelope["data"].is_null());
    }
}
