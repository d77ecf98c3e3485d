//! `GET /api/v1/token`: who the presented token says the caller is (its
//! name and scope), so a client (the dashboard) can offer what the token
//! may do, such as a job's Cancel button for a `control` token, without
//! trying it. Never the token itself.

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use serde::Serialize;

use crate::{
    http::{
        AppState,
        auth::{Credentials, Presented},
    },
    read::envelope::serialize,
};

/// The answer's `data`.
#[derive(Debug, Serialize)]
struct Caller<'a> {
    /// The token's name; `null` without a token.
    name: Option<&'a str>,
    /// `read`, `write` or `control`; `null` without a token (reads open).
    scope: Option<&'static str>,
}

/// Describes the caller's token. The route admits what a list admits
/// (any configured token; no token while reads are open), so a job's
/// read token is a 403 here.
#[tracing::instrument(name = "describe_token", level = "debug", skip_all)]
pub async fn describe(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let credentials = Credentials::of(&request, &state.access);
    let caller = match credentials.valid() {
        Some(Presented::Known(token)) => Caller {
            name: Some(&token.name),
            scope: Some(token.scope.as_str()),
        },
        _ => Caller {
            name: None,
            scope: None,
        },
    };
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type(header::ContentType::json())
        .body(serialize(StatusCode::OK, "OK", Some(&caller)))
}
