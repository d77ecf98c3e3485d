//! The check itself, as middleware ([`require`]) and as the call the hot
//! read makes before routing ([`admit`]): the credentials resolved once,
//! the route's need judged, then the client's turn in the rate limit.

use actix_web::{
    HttpMessage as _, HttpRequest, HttpResponse,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};

use super::{Credentials, Granted, Need, OneJob, Presented};
use crate::{
    domain::JobId,
    http::{ApiError, AppState, RequestId, limit},
};

/// The middleware by which a route declares what it needs, wrapped
/// around its resource in [`configure`](crate::http::configure) (a write route
/// added later: `.wrap(from_fn(require::<Write>))`). A refused request is
/// answered with the 401 or 403 envelope before its input is parsed; an
/// accepted one then takes its turn in the rate limit ([`limit::admit`]),
/// in the same layer: one layer on the hot route, and the credentials
/// resolved once.
pub async fn require<N: Need>(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        // Like `web::Data`'s own extractor: a wiring bug, a bare 500.
        return Err(actix_web::error::ErrorInternalServerError("no app state"));
    };
    let job = N::ONE_JOB
        .then(|| request.match_info().get("job_id"))
        .flatten();
    match admit::<N>(request.request(), &state, job).await {
        Ok(admitted) => {
            let mut response = next.call(request).await?.map_into_boxed_body();
            if let Some(admitted) = admitted {
                admitted.stamp(response.headers_mut());
            }
            Ok(response)
        }
        Err(refused) => Ok(request.into_response(refused)),
    }
}

/// The check of [`require`], for a route that needs `N`, on `request`
/// (`job`: the one job its path names, for a route of one job): the
/// request's turn in the rate limit (`None`: no limit) to stamp on its
/// answer, or the refusal to answer instead (401, 403 or 429). The
/// hot read ([`hot`](crate::http::hot)) calls it too, before routing.
pub(in crate::http) async fn admit<'s, N: Need>(
    request: &HttpRequest,
    state: &'s AppState,
    job: Option<&str>,
) -> Result<Option<limit::Admitted<'s>>, HttpResponse> {
    let credentials = Credentials::of(request, &state.access);
    let request_id = || request.extensions().get::<RequestId>().cloned();
    // A read token of another job reads this one if it is that job's
    // child: only then is the requested job's parent looked up (the cached
    // path of every other request reads nothing more).
    let parent = match (job, credentials.presented(N::QUERY_TOKEN)) {
        (Some(job), Presented::Job(grant)) if grant.job.as_str() != job => {
            match JobId::parse(job) {
                Ok(id) => state.reader.parent_of(&id).await,
                Err(_) => None,
            }
        }
        _ => None,
    };
    let job = job.map(|id| OneJob {
        id,
        parent: parent.as_ref().map(JobId::as_str),
    });
    match state
        .access
        .authorize(&credentials, N::SCOPES, N::QUERY_TOKEN, job)
    {
        Ok(granted) => {
            let request_id = request_id();
            let request_id = request_id.as_ref().map_or("-", RequestId::as_str);
            match &granted {
                Granted::Open => {}
                Granted::Token(token) => {
                    tracing::debug!(request_id, token = %token.name, scope = %token.scope, "token accepted");
                }
                Granted::Job(grant) => {
                    tracing::debug!(request_id, read_token_for = %grant.job, "read token accepted");
                }
            }
            match state.limits.as_deref() {
                None => Ok(None),
                Some(limit) => limit::admit(limit, credentials.client(request))
                    .map(Some)
                    .map_err(|refused| refused.error_response_owned()),
            }
        }
        Err(refusal) => {
            let request_id = request_id();
            let request_id = request_id.as_ref().map_or("-", RequestId::as_str);
            let (token, read_token_for) = match credentials.valid() {
                Some(Presented::Known(token)) => (Some(token.name.clone()), None),
                Some(Presented::Job(grant)) => (None, Some(grant.job.clone())),
                _ => (None, None),
            };
            tracing::debug!(
                request_id,
                token = token.as_deref(),
                read_token_for = read_token_for.as_ref().map(JobId::as_str),
                ?refusal,
                "refused"
            );
            Err(ApiError::from(refusal).error_response_owned())
        }
    }
}
