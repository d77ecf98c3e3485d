//! `POST /api/v1/jobs/{jobId}/read-tokens`: a read token for one job, for
//! the browser of the user who started it (see
//! [`job_token`](crate::http::job_token) for the format and the keys).
//!
//! An application backend (a `write` or `control` token) asks for one
//! when it shows a user their job; the token reads that job (and its
//! children) and its stream, nothing else, until it expires. Nothing is
//! stored: any instance with the same keys verifies it.

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    domain::JobId,
    http::{ApiError, AppState, RequestId, body, job_token::unix_now, respond::respond},
    read::envelope::serialize,
};

/// The longest a read token lives: a working day's page, and a bound on
/// how long a key must stay listed after it stops signing.
pub const MAX_TTL_SECS: u64 = 24 * 60 * 60;
/// How long a read token lives when the body does not say.
pub const DEFAULT_TTL_SECS: u64 = 60 * 60;

/// The body: `{"ttl": seconds}`, or nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    /// Left out: the default. `null` is refused, as the document says
    /// the field is a number.
    #[serde(default, deserialize_with = "crate::http::body::present")]
    ttl: Option<u64>,
}

/// The answer's `data`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Issued {
    token: String,
    expires_at: DateTime<Utc>,
}

/// Makes a read token for the job, if it exists and this server has keys.
#[tracing::instrument(name = "issue_read_token", level = "debug", skip_all, fields(job_id = %path.as_str()))]
pub async fn issue(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let id = ApiError::parse_id("job", JobId::parse(path.into_inner()))?;
    let body: IssueBody = body::optional(&request, payload).await?;
    let ttl = body.ttl.unwrap_or(DEFAULT_TTL_SECS);
    if !(1..=MAX_TTL_SECS).contains(&ttl) {
        return Err(ApiError::BadRequest(format!(
            "invalid body: ttl: must be a whole number of seconds from 1 to {MAX_TTL_SECS} (24 h), got {ttl}"
        )));
    }
    let Some(keys) = state.access.signing_keys() else {
        return Err(ApiError::ReadTokensOff);
    };
    // The job must exist: asked through the read path, so its 404 (or a
    // store's 503) is the one every read answers.
    let served = state.reader.job(id.clone(), request_id.as_str()).await;
    if served.response.status != StatusCode::OK {
        return Ok(respond(&request, &served));
    }
    let expires_at = unix_now() + ttl;
    let token = keys.sign(&id, expires_at);
    let expires_at = i64::try_from(expires_at)
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .unwrap_or_default();
    Ok(HttpResponse::Ok()
        // A credential: no cache may keep it.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type(header::ContentType::json())
        .body(serialize(
            StatusCode::OK,
            "OK",
            Some(&Issued { token, expires_at }),
        )))
}
