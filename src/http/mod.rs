//! The HTTP edge: routes, input parsing, error mapping, headers.
//!
//! | method | path                                | handler                      |
//! |--------|-------------------------------------|------------------------------|
//! | GET    | `/api/v1/jobs/{jobId}/progress`      | [`routes::jobs::progress`]   |
//! | GET    | `/api/v1/jobs/active`                | [`routes::jobs::active`]     |
//! | GET    | `/api/v1/jobs?status=&since=`        | [`routes::finished::list`]   |
//! | GET    | `/api/v1/jobs/{jobId}/events`        | [`routes::events::job`] (SSE) |
//! | GET    | `/api/v1/jobs/active/events`         | [`routes::events::active`] (SSE) |
//! | GET    | `/api/v1/schedules/active`           | [`routes::schedules::active`]|
//! | GET    | `/api/v1/schedules/{id}/progress`    | [`routes::schedules::progress`] |
//! | GET    | `/healthz`, `/readyz`                | [`routes::health`]           |
//! | GET    | `/openapi.yaml`                      | [`routes::health::openapi`]  |
//! | GET    | `/`, `/jobs/{jobId}`, `/assets/{name}` | [`routes::dashboard`] (the web page) |
//!
//! Every `/api/v1` route is rate limited ([`limit`]) and declares the
//! token scope it needs where it is registered below ([`auth`]);
//! health, the OpenAPI document and the dashboard's page are open and
//! unlimited.

pub mod auth;
pub mod edge;
mod error;
pub mod limit;
pub mod respond;
pub mod routes;
pub mod tokens;

use std::sync::Arc;

use actix_web::{
    Handler, HttpResponse, Responder, Route, dev::HttpServiceFactory, guard, middleware::from_fn,
    web,
};

use self::{
    auth::{Access, Need, Read, ReadStream},
    limit::RateLimit,
    routes::events::StreamSettings,
};
pub use self::{
    edge::{RequestId, edge},
    error::ApiError,
};
use crate::{push::Hub, read::ProgressReader};

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The read path.
    pub reader: ProgressReader,
    /// Live push: the instance's hub.
    pub hub: Arc<Hub>,
    /// How streams behave on the wire.
    pub streams: StreamSettings,
    /// Who may call what.
    pub access: Arc<Access>,
    /// The rate limit of the API routes (`None`: off).
    pub limits: Option<Arc<RateLimit>>,
}

/// GET and HEAD to `handler`.
fn get<F, Args>(handler: F) -> Route
where
    F: Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::route()
        .guard(guard::Any(guard::Get()).or(guard::Head()))
        .to(handler)
}

/// A read-only resource: GET and HEAD answered, anything else 405.
fn open_resource<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(get(handler))
        .default_service(web::to(|| async {
            ApiError::MethodNotAllowed.error_response_owned()
        }))
}

/// A read-only resource open to callers that meet `need` (see [`auth`]).
fn resource<N: Need + 'static, F, Args>(_need: N, path: &str, handler: F) -> impl HttpServiceFactory
where
    F: Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    open_resource(path, handler).wrap(from_fn(auth::require::<N>))
}

impl ApiError {
    fn error_response_owned(self) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}

/// Registers every route, and the extractor settings that turn bad input
/// into envelope errors.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::BadRequest(format!("invalid path: {err}")).into()),
    )
    .app_data(web::QueryConfig::default().error_handler(|err, _| {
        ApiError::BadRequest(format!("invalid query string: {err}")).into()
    }))
    .service(
        web::scope("/api/v1")
            .wrap(from_fn(limit::limit))
            .service(resource(Read, "/jobs", routes::finished::list))
            .service(resource(Read, "/jobs/active", routes::jobs::active))
            // Before `{job_id}/events`, which would take `active` for an id.
            .service(resource(
                ReadStream,
                "/jobs/active/events",
                routes::events::active,
            ))
            .service(resource(
                ReadStream,
                "/jobs/{job_id}/events",
                routes::events::job,
            ))
            .service(resource(
                Read,
                "/jobs/{job_id}/progress",
                routes::jobs::progress,
            ))
            .service(resource(
                Read,
                "/schedules/active",
                routes::schedules::active,
            ))
            .service(resource(
                Read,
                "/schedules/{schedule_id}/progress",
                routes::schedules::progress,
            )),
    )
    // The dashboard: outside `/api/v1`, so loading the page costs none of
    // the client's rate limit, and open, since it holds no data.
    .service(open_resource("/", routes::dashboard::page))
    .service(open_resource("/jobs/{job_id}", routes::dashboard::page))
    .service(open_resource("/assets/{name}", routes::dashboard::asset))
    .service(open_resource("/healthz", routes::health::healthz))
    .service(open_resource("/readyz", routes::health::readyz))
    .service(open_resource("/openapi.yaml", routes::health::openapi));
}

/// The answer for a path no route knows.
pub async fn not_found() -> HttpResponse {
    ApiError::NotFound("no such endpoint; the API is described at /openapi.yaml".into())
        .error_response_owned()
}
