//! `GET /healthz`, `GET /readyz` and `GET /openapi.yaml`.

use actix_web::{HttpResponse, http::StatusCode, http::header::ContentType, web};
use serde::Serialize;

use crate::{http::AppState, read::envelope::serialize};

/// The process answers.
pub async fn healthz() -> HttpResponse {
    #[derive(Serialize)]
    struct Health {
        status: &'static str,
    }
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(serialize(
            StatusCode::OK,
            "OK",
            Some(Health { status: "ok" }),
        ))
}

/// Which stores this instance uses and whether each answers; `200` while
/// at least one can serve, else `503`.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    #[derive(Serialize)]
    struct Store {
        /// `redis`, `in-process`, `postgres`, `sqlite`.
        store: &'static str,
        /// `up` or `down`.
        state: &'static str,
    }
    #[derive(Serialize)]
    struct Stores {
        hot: Store,
        archive: Store,
    }
    let readiness = state.reader.readiness().await;
    let word = |up: bool| if up { "up" } else { "down" };
    let stores = Stores {
        hot: Store {
            store: readiness.hot_store,
            state: word(readiness.hot),
        },
        archive: Store {
            store: readiness.archive_store,
            state: word(readiness.archive),
        },
    };
    let status = if readiness.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let message = match (readiness.hot, readiness.archive) {
        (true, true) => "ready",
        (false, false) => "not ready: no store answers",
        _ => "ready, degraded: one store is down",
    };
    HttpResponse::build(status)
        .content_type(ContentType::json())
        .insert_header(("cache-control", "no-store"))
        .body(serialize(status, message, Some(stores)))
}

/// The OpenAPI document of this API.
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(include_str!("../../../openapi.yaml"))
}
