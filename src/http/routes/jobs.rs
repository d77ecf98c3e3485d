//! `GET /api/v1/jobs/{jobId}/progress` and `GET /api/v1/jobs/active`
//! (`?limit=&offset=&kind=&q=&children=`).

use actix_web::{FromRequest as _, HttpMessage as _, HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::{
    domain::{JobFilter, JobId},
    http::{ApiError, AppState, RequestId, edge::RoutePattern, respond::respond},
    read::Page,
};

/// The largest page of the active list.
pub const MAX_LIMIT: u32 = 10_000;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 1_000;
/// The largest offset: 2^53 - 1, the largest whole number JavaScript
/// clients (and JSON tools that read numbers as doubles) hold exactly, and
/// the bound `openapi.yaml` states, so the document and the server agree.
pub const MAX_OFFSET: u64 = (1 << 53) - 1;

/// The pattern of one job's progress, as its metrics name it.
pub const PROGRESS_PATTERN: &str = "/api/v1/jobs/{job_id}/progress";

/// One job's progress, routed: a HEAD, or a GET whose id holds a `%`
/// escape (the path extractor decodes it). Every other GET is answered
/// before routing, by [`http::hot`](crate::http::hot), with [`answer`].
#[tracing::instrument(name = "get_progress", level = "debug", skip_all)]
pub async fn progress(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    request
        .extensions_mut()
        .insert(RoutePattern(PROGRESS_PATTERN));
    let id = web::Path::<String>::extract(&request).await?.into_inner();
    Ok(answer(&request, &state, &id).await)
}

/// The answer for job `id` (the path's text, decoded): the cached one
/// when the cache holds it, found by the text itself (nothing parsed,
/// copied or allocated), else a load, which parses the id and names its
/// request in the load's log lines.
pub async fn answer(request: &HttpRequest, state: &AppState, id: &str) -> HttpResponse {
    if let Some(served) = state.reader.cached_job(id).await {
        return respond(request, &served);
    }
    // Boxed: the load's future is large, and a hit should not carry (and
    // copy) a future of that size.
    Box::pin(load(request, state, id)).await
}

/// [`answer`] when the cache does not hold the job.
async fn load(request: &HttpRequest, state: &AppState, id: &str) -> HttpResponse {
    let id = match ApiError::parse_id("job", JobId::parse(id.to_owned())) {
        Ok(id) => id,
        Err(err) => return actix_web::ResponseError::error_response(&err),
    };
    let Ok(request_id) = RequestId::extract(request).await;
    let served = state.reader.job(id, request_id.as_str()).await;
    respond(request, &served)
}

/// `?limit=&offset=&kind=&q=&children=` as given; parsed by hand for
/// clear messages.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    offset: Option<String>,
    kind: Option<String>,
    q: Option<String>,
    children: Option<String>,
}

impl PageQuery {
    /// The page asked for, or a 400 saying what is wrong.
    pub fn parse(&self) -> Result<Page, ApiError> {
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
        let offset = match self.offset.as_deref() {
            None => 0,
            Some(raw) => raw
                .parse::<u64>()
                .ok()
                .filter(|offset| *offset <= MAX_OFFSET)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "offset must be a whole number from 0 to {MAX_OFFSET}, got '{raw}'"
                    ))
                })?,
        };
        Ok(Page { limit, offset })
    }

    /// Whether child jobs are listed too (`children=true`), or a 400.
    pub fn children(&self) -> Result<bool, ApiError> {
        match self.children.as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ApiError::BadRequest(format!(
                "children must be true or false, got '{other}'"
            ))),
        }
    }

    /// What the list is narrowed to, or a 400 naming `kind`, `q` or
    /// `children`: jobs without a parent unless `children=true`.
    pub fn filter(&self) -> Result<JobFilter, ApiError> {
        let children = self.children()?;
        JobFilter::parse(self.kind.as_deref(), self.q.as_deref())
            .map(|filter| filter.top_level_unless(children))
            .map_err(|err| ApiError::BadRequest(err.to_string()))
    }
}

/// Every `preparing` or `in_progress` job (of a kind, holding a text),
/// oldest start first.
#[tracing::instrument(name = "get_active_jobs", level = "debug", skip_all)]
pub async fn active(
    request: HttpRequest,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let page = query.parse()?;
    let filter = query.filter()?;
    let served = state
        .reader
        .active_filtered(page, filter, request_id.as_str())
        .await;
    Ok(respond(&request, &served))
}
