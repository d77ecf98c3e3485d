//! A job's log: `POST /api/v1/jobs/{jobId}/logs` (write) and
//! `GET /api/v1/jobs/{jobId}/logs?after=&limit=` (read).

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{JobId, LogLevel, MAX_LINES_PER_CALL, NewLogLine},
    http::{ApiError, AppState, body, respond::respond},
    read::envelope::serialize,
};

/// The largest body of `POST .../logs`: 100 lines of 2 KiB, with room for
/// JSON escapes (a `\u0001` is six bytes for one).
pub const MAX_LOG_BODY: usize = 1024 * 1024;

/// The largest page of `GET .../logs`.
pub const MAX_LOG_LIMIT: u32 = crate::domain::MAX_LOG_PAGE;

/// The page size when none is asked for.
pub const DEFAULT_LOG_LIMIT: u32 = 100;

/// `{"lines":[{"level","message","at"}]}`.
#[derive(Debug, Deserialize)]
struct LogsBody {
    lines: Vec<LineBody>,
}

#[derive(Debug, Deserialize)]
struct LineBody {
    level: LogLevel,
    message: String,
    /// Left out: when received. `null` is refused, as the document says
    /// the field is a time.
    #[serde(default, deserialize_with = "crate::http::body::present")]
    at: Option<String>,
}

impl LogsBody {
    /// The lines, checked, or a 400 naming the field at fault.
    fn parse(self) -> Result<Vec<NewLogLine>, ApiError> {
        if self.lines.len() > MAX_LINES_PER_CALL {
            return Err(ApiError::BadRequest(format!(
                "invalid body: lines: at most {MAX_LINES_PER_CALL} lines a call, got {}",
                self.lines.len()
            )));
        }
        let now = Utc::now();
        self.lines
            .into_iter()
            .enumerate()
            .map(|(index, line)| {
                let at = match line.at.as_deref() {
                    None => now,
                    Some(raw) => DateTime::parse_from_rfc3339(raw)
                        .map_err(|err| {
                            ApiError::BadRequest(format!(
                                "invalid body: lines[{index}].at: not an RFC 3339 time ({err}), got '{raw}'"
                            ))
                        })?
                        .with_timezone(&Utc),
                };
                NewLogLine::new(at, line.level, line.message).map_err(|err| {
                    ApiError::BadRequest(format!("invalid body: lines[{index}].{err}"))
                })
            })
            .collect()
    }
}

/// What a `POST .../logs` answers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Appended {
    /// How many lines were taken.
    accepted: usize,
    /// The sequence number of the job's last line.
    last_seq: u64,
}

/// Appends lines to a job's log.
#[tracing::instrument(name = "append_log", level = "debug", skip_all, fields(job_id = %path.as_str()))]
pub async fn append(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = ApiError::parse_id("job", JobId::parse(path.into_inner()))?;
    let lines = body::json::<LogsBody>(&request, payload, MAX_LOG_BODY)
        .await?
        .parse()?;
    let last_seq = state.ingest.log(id, &lines).await?;
    let appended = Appended {
        accepted: lines.len(),
        last_seq,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type(header::ContentType::json())
        .body(serialize(StatusCode::OK, "OK", Some(&appended))))
}

/// `?after=&limit=` as given; parsed by hand for clear messages.
#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// The largest `after`: 2^53 - 1, what JavaScript holds exactly.
const MAX_SEQ: u64 = (1 << 53) - 1;

impl LogQuery {
    /// `(after, limit)`, or a 400 naming the parameter.
    fn parse(&self) -> Result<(u64, u32), ApiError> {
        let after = match self.after.as_deref() {
            None => 0,
            // Sequence numbers stay within what JavaScript holds exactly,
            // as every count does.
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|after| *after <= MAX_SEQ)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "after must be a line's sequence number (a whole number from 0 to {MAX_SEQ}), got '{raw}'"
                    ))
                })?,
        };
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LOG_LIMIT,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|limit| (1..=MAX_LOG_LIMIT).contains(limit))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "limit must be a whole number from 1 to {MAX_LOG_LIMIT}, got '{raw}'"
                    ))
                })?,
        };
        Ok((after, limit))
    }
}

/// A page of a job's log, oldest line first.
#[tracing::instrument(name = "get_log", level = "debug", skip_all, fields(job_id = %path.as_str()))]
pub async fn page(
    request: HttpRequest,
    path: web::Path<String>,
    query: web::Query<LogQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = ApiError::parse_id("job", JobId::parse(path.into_inner()))?;
    let (after, limit) = query.parse()?;
    let served = state.reader.logs(id, after, limit).await;
    Ok(respond(&request, &served))
}
