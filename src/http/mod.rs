//! The HTTP edge: routes, input parsing, error mapping, headers.
//!
//! | method | path                                | handler                      |
//! |--------|-------------------------------------|------------------------------|
//! | GET    | `/api/v1/jobs/{jobId}/progress`      | [`hot`], before routing (HEAD: [`routes::jobs::progress`]) |
//! | GET    | `/api/v1/jobs/active`                | [`routes::jobs::active`]     |
//! | GET    | `/api/v1/jobs?status=&since=`        | [`routes::finished::list`]   |
//! | GET    | `/api/v1/jobs/{jobId}/events`        | [`routes::events::job`] (SSE) |
//! | GET    | `/api/v1/jobs/active/events`         | [`routes::events::active`] (SSE) |
//! | PUT    | `/api/v1/jobs/{jobId}`               | [`routes::ingest::declare`]  |
//! | POST   | `/api/v1/jobs/{jobId}/progress`      | [`routes::ingest::progress`] |
//! | POST   | `/api/v1/jobs/{jobId}/complete`, `/fail` | [`routes::ingest::complete`], [`routes::ingest::fail`] |
//! | POST   | `/api/v1/jobs/{jobId}/cancelled`     | [`routes::ingest::cancelled`] |
//! | POST   | `/api/v1/jobs/{jobId}/cancel`        | [`routes::ingest::cancel`] (control) |
//! | POST   | `/api/v1/progress`                   | [`routes::ingest::batch`]    |
//! | POST   | `/api/v1/jobs/{jobId}/read-tokens`   | [`routes::read_tokens::issue`] |
//! | GET    | `/api/v1/jobs/{jobId}/logs?after=&limit=` | [`routes::logs::page`]  |
//! | POST   | `/api/v1/jobs/{jobId}/logs`          | [`routes::logs::append`]     |
//! | GET    | `/api/v1/jobs/{jobId}/history`       | [`routes::history::history`] |
//! | GET    | `/api/v1/jobs/{jobId}/children?limit=&cursor=` | [`routes::children::children`] |
//! | GET    | `/api/v1/schedules/active`           | [`routes::schedules::active`]|
//! | GET    | `/api/v1/schedules/{id}/progress`    | [`routes::schedules::progress`] |
//! | GET    | `/healthz`, `/readyz`                | [`routes::health`]           |
//! | GET    | `/openapi.yaml`                      | [`routes::health::openapi`]  |
//! | GET    | `/metrics`                           | [`routes::metrics::metrics`] |
//! | GET    | `/`, `/jobs/{jobId}`, `/assets/{name}` | [`routes::dashboard`] (the web page) |
//!
//! Every `/api/v1` route declares the token scope it needs where it is
//! registered below ([`auth`]; a read of one job declares `JobRead`, so
//! that job's read token opens it) and is rate limited ([`limit`]) once its
//! token is accepted; health,
//! the OpenAPI document and the dashboard's page are open and unlimited;
//! `/metrics` is unlimited and takes its own token (`METRICS_TOKEN`), if
//! one is set.

pub mod auth;
pub mod body;
pub mod client;
pub mod edge;
mod error;
pub mod hot;
pub mod job_token;
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
    auth::{
        Access, Control, JobRead, JobReadStream, Need, Read, ReadStream, Write, WriteOrControl,
    },
    limit::RateLimit,
    routes::events::StreamSettings,
};
pub use self::{
    edge::{Edge, RequestId},
    error::{ApiError, Conflict},
};
use crate::{
    metrics::ServerMetrics, notify::Webhooks, push::Hub, read::ProgressReader,
    write::ingest::Ingest,
};

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
    /// The write path for workers reporting over HTTP.
    pub ingest: Ingest,
    /// The server's own metrics.
    pub metrics: ServerMetrics,
    /// The webhook subscriptions (`None`: `WEBHOOKS_FILE` unset).
    pub webhooks: Option<Arc<Webhooks>>,
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

/// A resource open to all: GET and HEAD answered, anything else 405.
fn open_resource<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(get(handler))
        .default_service(not_allowed("GET, HEAD"))
}

/// A read-only resource open to callers that meet `need` (see [`auth`]).
fn resource<N: Need + 'static, F, Args>(need: N, path: &str, handler: F) -> impl HttpServiceFactory
where
    F: Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(needs(need, get(handler)))
        .default_service(not_allowed("GET, HEAD"))
}

/// A resource that takes one kind of write (`route` and `method`: its
/// method), from callers with a `write` token.
fn write_resource<F, Args>(
    path: &str,
    (route, method): (Route, &'static str),
    handler: F,
) -> impl HttpServiceFactory
where
    F: Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .route(needs(Write, route.to(handler)))
        .default_service(not_allowed(method))
}

/// `route`, for callers that meet `need` (see [`auth`]), within the rate
/// limit ([`limit`]), both in one layer: the token is checked first, so
/// missing or invalid credentials are a 401 whatever the client's bucket
/// holds, and only requests the route would serve count against it.
fn needs<N: Need + 'static>(_need: N, route: Route) -> Route {
    route.wrap(from_fn(auth::require::<N>))
}

/// The 405 of a resource that answers `allow`.
fn not_allowed(allow: &'static str) -> Route {
    web::to(move || async move { ApiError::MethodNotAllowed { allow }.error_response_owned() })
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
            // First: the most requested route, matched without trying the
            // others' patterns (each a regex). It cannot take another's
            // path: none of theirs ends in `/progress`. Most of its GETs
            // never get here: `hot` answers them before routing.
            .service(
                web::resource("/jobs/{job_id}/progress")
                    .route(needs(JobRead, get(routes::jobs::progress)))
                    .route(needs(Write, web::post().to(routes::ingest::progress)))
                    .default_service(not_allowed("GET, HEAD, POST")),
            )
            .service(
                web::resource("/jobs/{job_id}/logs")
                    .route(needs(JobRead, get(routes::logs::page)))
                    .route(needs(Write, web::post().to(routes::logs::append)))
                    .default_service(not_allowed("GET, HEAD, POST")),
            )
            .service(resource(
                JobRead,
                "/jobs/{job_id}/history",
                routes::history::history,
            ))
            .service(resource(
                JobRead,
                "/jobs/{job_id}/children",
                routes::children::children,
            ))
            .service(resource(Read, "/jobs", routes::finished::list))
            .service(resource(Read, "/jobs/active", routes::jobs::active))
            // Before `{job_id}/events`, which would take `active` for an id.
            .service(resource(
                ReadStream,
                "/jobs/active/events",
                routes::events::active,
            ))
            .service(resource(
                JobReadStream,
                "/jobs/{job_id}/events",
                routes::events::job,
            ))
            .service(write_resource(
                "/jobs/{job_id}",
                (web::put(), "PUT"),
                routes::ingest::declare,
            ))
            .service(write_resource(
                "/jobs/{job_id}/complete",
                (web::post(), "POST"),
                routes::ingest::complete,
            ))
            .service(write_resource(
                "/jobs/{job_id}/fail",
                (web::post(), "POST"),
                routes::ingest::fail,
            ))
            .service(write_resource(
                "/jobs/{job_id}/cancelled",
                (web::post(), "POST"),
                routes::ingest::cancelled,
            ))
            .service(
                web::resource("/jobs/{job_id}/cancel")
                    .route(needs(Control, web::post().to(routes::ingest::cancel)))
                    .default_service(not_allowed("POST")),
            )
            .service(write_resource(
                "/progress",
                (web::post(), "POST"),
                routes::ingest::batch,
            ))
            // Read tokens for end users: a block of its own.
            .service(
                web::resource("/jobs/{job_id}/read-tokens")
                    .route(needs(
                        WriteOrControl,
                        web::post().to(routes::read_tokens::issue),
                    ))
                    .default_service(not_allowed("POST")),
            )
            .service(resource(
                Read,
                "/schedules/active",
                routes::schedules::active,
            ))
            .service(resource(
                Read,
                "/schedules/{schedule_id}/progress",
                routes::schedules::progress,
            ))
            .service(resource(Read, "/token", routes::token::describe))
            // Webhooks: operators' views, under `control`.
            .service(resource(Control, "/webhooks", routes::webhooks::list))
            .service(resource(
                Control,
                "/webhooks/{name}/deliveries",
                routes::webhooks::deliveries,
            ))
            .service(
                web::resource("/webhooks/{name}/deliveries/{message_id}/retry")
                    .route(needs(Control, web::post().to(routes::webhooks::retry)))
                    .default_service(not_allowed("POST")),
            ),
    )
    // The dashboard: outside `/api/v1`, so loading the page costs none of
    // the client's rate limit, and open, since it holds no data.
    .service(open_resource("/", routes::dashboard::page))
    .service(open_resource("/jobs/{job_id}", routes::dashboard::page))
    .service(open_resource("/webhooks", routes::dashboard::page))
    .service(open_resource("/assets/{name}", routes::dashboard::asset))
    .service(open_resource("/healthz", routes::health::healthz))
    .service(open_resource("/readyz", routes::health::readyz))
    .service(open_resource("/openapi.yaml", routes::health::openapi))
    .service(open_resource("/metrics", routes::metrics::metrics));
}

/// The answer for a path no route knows.
pub async fn not_found() -> HttpResponse {
    ApiError::NotFound("no such endpoint; the API is described at /openapi.yaml".into())
        .error_response_owned()
}
