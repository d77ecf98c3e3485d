//! The most requested answer, one job's progress
//! (`GET /api/v1/jobs/{jobId}/progress`), served before routing.
//!
//! Dashboards and end users' pages poll it, and nearly every poll is a
//! hit of the response cache: the answer is a hash lookup and a write of
//! bytes made once. Routed, each such request also paid for the app's and
//! the `/api/v1` scope's routers (a regex per pattern tried), the route's
//! guard, the token check's own middleware layer and the handler's
//! extractors: together about as much CPU as the lookup and the write
//! (BENCHMARKS.md). [`HotRead`] sits innermost around the app's router
//! and takes the GETs of that one path itself, with the same check
//! (`auth::admit` for [`JobRead`]), the same cache and the same answer
//! ([`routes::jobs`]); every other request goes on to the router, as does
//! a path whose id holds a `%` escape (the router decodes it; this keeps
//! to texts where the raw path and the decoded one are the same) and a
//! HEAD (its answer is the GET's without the body, which the routed
//! handler's framework strips).
//!
//! The routed GET of the same path stays registered
//! ([`configure`](super::configure)): it answers whatever this passes on.

use std::rc::Rc;

use actix_web::{
    Error, HttpMessage as _,
    body::BoxBody,
    dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
    http::Method,
    web,
};
use futures_util::future::{Either, LocalBoxFuture, Ready, ready};

use super::{
    AppState,
    auth::{self, JobRead},
    edge::RoutePattern,
    routes,
};

/// The job id of a path this serves: `/api/v1/jobs/{id}/progress`, the
/// id free of `/` and `%`.
fn job_in(path: &str) -> Option<&str> {
    let id = path
        .strip_prefix("/api/v1/jobs/")?
        .strip_suffix("/progress")?;
    (!id.is_empty() && !id.contains(['/', '%'])).then_some(id)
}

/// The middleware (see the module doc); wrapped innermost, around the
/// app's router, in `startup.rs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HotRead;

impl<S> Transform<S, ServiceRequest> for HotRead
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = Error> + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Transform = HotReadService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(HotReadService {
            routed: Rc::new(service),
        }))
    }
}

/// [`HotRead`] around the router `routed`.
#[derive(Debug)]
pub struct HotReadService<S> {
    routed: Rc<S>,
}

impl<S> Service<ServiceRequest> for HotReadService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = Error> + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Future = Either<S::Future, LocalBoxFuture<'static, Result<Self::Response, Error>>>;

    forward_ready!(routed);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let claimed = request.method() == Method::GET && job_in(request.path()).is_some();
        let state = claimed
            .then(|| request.app_data::<web::Data<AppState>>().cloned())
            .flatten();
        match state {
            Some(state) => Either::Right(Box::pin(serve(request, state))),
            None => Either::Left(self.routed.call(request)),
        }
    }
}

/// Answers a claimed request: the token check and the rate limit, then
/// the cached answer or a load, as the routed handler would.
async fn serve(
    request: ServiceRequest,
    state: web::Data<AppState>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let (request, _) = request.into_parts();
    request
        .extensions_mut()
        .insert(RoutePattern(routes::jobs::PROGRESS_PATTERN));
    // Claimed, so always `Some`; an empty id would be answered 400.
    let id = job_in(request.path()).unwrap_or_default();
    let response = match auth::admit::<JobRead>(&request, &state, Some(id)).await {
        Ok(admitted) => {
            let mut response = routes::jobs::answer(&request, &state, id).await;
            if let Some(admitted) = admitted {
                admitted.stamp(response.headers_mut());
            }
            response
        }
        Err(refused) => refused,
    };
    Ok(ServiceResponse::new(request, response))
}
