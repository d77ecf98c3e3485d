//! `GET /api/v1/jobs/{jobId}/children?limit=&cursor=`: a parent's
//! children, by id, one keyset page at a time.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::{
    domain::JobId,
    http::{ApiError, AppState, RequestId, respond::respond},
    read::MAX_CHILDREN_PAGE,
};

/// The page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 100;

/// The query as given; parsed by hand for clear messages.
#[derive(Debug, Default, Deserialize)]
pub struct ChildrenParams {
    limit: Option<String>,
    cursor: Option<String>,
}

impl ChildrenParams {
    /// The page size and where it starts, or a 400 saying what is wrong.
    pub fn parse(&self) -> Result<(u32, Option<JobId>), ApiError> {
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|limit| (1..=MAX_CHILDREN_PAGE).contains(limit))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "limit must be a whole number from 1 to {MAX_CHILDREN_PAGE}, got '{raw}'"
                    ))
                })?,
        };
        let after = self
            .cursor
            .as_deref()
            .map(|raw| {
                JobId::parse(raw).map_err(|err| {
                    ApiError::BadRequest(format!(
                        "cursor must be the nextCursor of a previous page: {err}"
                    ))
                })
            })
            .transpose()?;
        Ok((limit, after))
    }
}

/// One page of the job's children.
#[tracing::instrument(name = "get_children", level = "debug", skip_all, fields(job_id = %path.as_str()))]
pub async fn children(
    request: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ChildrenParams>,
    state: web::Data<AppState>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let id = ApiError::parse_id("job", JobId::parse(path.into_inner()))?;
    let (limit, after) = query.parse()?;
    let served = state
        .reader
        .children(id, after, limit, request_id.as_str())
        .await;
    Ok(respond(&request, &served))
}
