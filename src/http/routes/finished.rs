//! `GET /api/v1/jobs?status=completed|failed|cancelled&since=&limit=&cursor=&kind=&q=`:
//! recently finished jobs, newest first, one keyset page at a time.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use serde::Deserialize;

use crate::{
    domain::{Finished, FinishedCursor, FinishedQuery, JobFilter},
    http::{ApiError, AppState, RequestId, respond::respond},
};

/// The largest page.
pub const MAX_LIMIT: u32 = 1_000;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 50;
/// How far back the list reaches when `since` is not given.
pub const DEFAULT_SINCE_HOURS: i64 = 24;

/// The query as given; parsed by hand for clear messages.
#[derive(Debug, Default, Deserialize)]
pub struct FinishedParams {
    status: Option<String>,
    since: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    kind: Option<String>,
    q: Option<String>,
}

impl FinishedParams {
    /// The page asked for, or a 400 saying what is wrong. Without `since`,
    /// the last 24 hours counted from the start of the current minute, so
    /// that pollers within a minute share one cached answer and its ETag.
    pub fn parse(&self, now: DateTime<Utc>) -> Result<FinishedQuery, ApiError> {
        let which = match self.status.as_deref() {
            None => Finished::Either,
            Some("completed") => Finished::Completed,
            Some("failed") => Finished::Failed,
            Some("cancelled") => Finished::Cancelled,
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "status must be completed, failed or cancelled (or absent, for all), got '{other}'"
                )));
            }
        };
        let since = match self.since.as_deref() {
            None => {
                let minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
                minute - TimeDelta::hours(DEFAULT_SINCE_HOURS)
            }
            Some(raw) => DateTime::parse_from_rfc3339(raw)
                .map(|since| since.with_timezone(&Utc))
                .map_err(|err| {
                    ApiError::BadRequest(format!(
                        "since must be an RFC 3339 time such as 2026-11-28T09:00:00Z, got '{raw}': {err}"
                    ))
                })?,
        };
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "limit must be a whole number from 1 to {MAX_LIMIT}, got '{raw}'"
                    ))
                })?,
        };
        let after = self
            .cursor
            .as_deref()
            .map(|raw| {
                raw.parse::<FinishedCursor>().map_err(|err| {
                    ApiError::BadRequest(format!(
                        "cursor must be the nextCursor of a previous page: {err}"
                    ))
                })
            })
            .transpose()?;
        let filter = JobFilter::parse(self.kind.as_deref(), self.q.as_deref())
            .map_err(|err| ApiError::BadRequest(err.to_string()))?;
        Ok(FinishedQuery {
            which,
            since,
            limit,
            after,
            filter,
        })
    }
}

/// Completed, failed and cancelled jobs, the most recently finished first.
#[tracing::instrument(name = "get_finished_jobs", level = "debug", skip_all)]
pub async fn list(
    request: HttpRequest,
    query: web::Query<FinishedParams>,
    state: web::Data<AppState>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let query = query.parse(Utc::now())?;
    let served = state.reader.finished(query, request_id.as_str()).await;
    Ok(respond(&request, &served))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(status: &str, since: &str, limit: &str, cursor: &str) -> FinishedParams {
        let some = |raw: &str| (!raw.is_empty()).then(|| raw.to_owned());
        FinishedParams {
            status: some(status),
            since: some(since),
            limit: some(limit),
            cursor: some(cursor),
            ..FinishedParams::default()
        }
    }

    #[test]
    fn the_defaults_are_both_statuses_a_day_back_to_the_minute_and_fifty() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T12:34:56.789Z")
            .unwrap()
            .with_timezone(&Utc);
        let query = params("", "", "", "").parse(now).unwrap();
        assert_eq!(query.which, Finished::Either);
        assert_eq!(query.since.to_rfc3339(), "2026-11-27T12:34:00+00:00");
        assert_eq!(query.limit, DEFAULT_LIMIT);
        assert_eq!(query.after, None);
    }

    #[test]
    fn each_bad_parameter_is_named_in_its_400() {
        let now = Utc::now();
        for (bad, names) in [
            (params("active", "", "", ""), "status"),
            (params("", "yesterday", "", ""), "since"),
            (params("", "2026-11-28", "", ""), "since"),
            (params("", "", "0", ""), "limit"),
            (params("", "", "1001", ""), "limit"),
            (params("", "", "", "nope"), "cursor"),
            (
                FinishedParams {
                    kind: Some("no spaces".into()),
                    ..FinishedParams::default()
                },
                "kind",
            ),
            (
                FinishedParams {
                    q: Some("x".repeat(201)),
                    ..FinishedParams::default()
                },
                "q",
            ),
        ] {
            match bad.parse(now) {
                Err(ApiError::BadRequest(message)) => {
                    assert!(message.starts_with(names), "{message}")
                }
                other => panic!("{names}: {other:?}"),
            }
        }
    }
}
