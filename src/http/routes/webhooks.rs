//! The webhooks, as operators see them (all under the `control` scope):
//!
//! - `GET /api/v1/webhooks`: each subscription, its latest attempt and its
//!   pending and dead deliveries, and why the last reload (SIGHUP) was
//!   refused, if it was;
//! - `GET /api/v1/webhooks/{name}/deliveries?cursor=`: its attempts,
//!   newest first, a page at a time;
//! - `POST /api/v1/webhooks/{name}/deliveries/{messageId}/retry`: a dead
//!   delivery made due again.
//!
//! A subscription's URL is shown as its scheme and host only, and its
//! secret never: both may be secrets (a Slack URL is one).

use actix_web::{HttpResponse, http::StatusCode, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    error::error_chain,
    http::{ApiError, AppState},
    notify::Webhooks,
    read::envelope::serialize,
    store::{Attempt, DeliveryStats, StoreError},
};

/// Attempts per page.
const PAGE: u32 = 50;

/// One subscription, as listed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    name: String,
    url: String,
    events: Vec<&'static str>,
    format: &'static str,
    kind: Option<String>,
    job_id_prefix: Option<String>,
    parents_only: bool,
    disabled: bool,
    pending: u64,
    dead_letters: u64,
    last_delivery: Option<Shown>,
}

/// One attempt, as shown.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Shown {
    id: String,
    message_id: String,
    event_type: String,
    job_id: String,
    attempted_at: DateTime<Utc>,
    status_code: Option<u16>,
    duration_ms: u64,
    outcome: String,
    response: String,
    state: String,
}

impl From<Attempt> for Shown {
    fn from(a: Attempt) -> Self {
        Self {
            id: a.id.to_string(),
            message_id: a.message_id,
            event_type: a.event_type,
            job_id: a.job_id,
            attempted_at: a.at,
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            outcome: a.outcome,
            response: a.response,
            state: a.state,
        }
    }
}

/// A page of attempts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AttemptsPage {
    attempts: Vec<Shown>,
    /// The `cursor` of the next page; `None` on the last.
    next_cursor: Option<String>,
}

/// `?cursor=`: the id of the last attempt of the page before.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    cursor: Option<String>,
}

/// A store failure, logged with its cause and answered as a bare 503.
fn unavailable(err: &StoreError) -> ApiError {
    tracing::error!(error = %error_chain(err), "the webhook outbox cannot be read");
    ApiError::Unavailable("webhook deliveries cannot be read right now; retry shortly".into())
}

fn ok<T: Serialize>(data: &T) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(serialize(StatusCode::OK, "OK", Some(data)))
}

/// The server's webhooks when they hold a subscription `name`, or the 404
/// that names it.
fn holding<'a>(state: &'a AppState, name: &str) -> Result<&'a Webhooks, ApiError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        return Err(ApiError::BadRequest(
            "invalid path: name: 1 to 64 of A-Z a-z 0-9 . _ -".into(),
        ));
    }
    state
        .webhooks
        .as_deref()
        .filter(|w| w.subscriptions().get(name).is_some())
        .ok_or_else(|| ApiError::NotFound(format!("no webhook subscription named {name:?}")))
}

/// `GET /api/v1/webhooks`.
#[tracing::instrument(name = "list_webhooks", level = "debug", skip_all)]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Some(webhooks) = state.webhooks.as_deref() else {
        return Ok(ok(
            &serde_json::json!({ "webhooks": [], "reloadRefused": null }),
        ));
    };
    let subscriptions = webhooks.subscriptions();
    let names: Vec<String> = subscriptions.0.iter().map(|s| s.name.clone()).collect();
    let outbox = webhooks.outbox();
    let stats = outbox.stats(&names).await.map_err(|e| unavailable(&e))?;
    let disabled = outbox.disabled().await.map_err(|e| unavailable(&e))?;
    let listed: Vec<Listed> = subscriptions
        .0
        .iter()
        .zip(stats)
        .map(
            |(
                s,
                DeliveryStats {
                    dead,
                    pending,
                    last,
                },
            )| Listed {
                name: s.name.clone(),
                url: s.shown_url(),
                events: s.events.iter().map(|e| e.as_str()).collect(),
                format: s.format.as_str(),
                kind: s.kind.clone(),
                job_id_prefix: s.job_id_prefix.clone(),
                parents_only: s.parents_only,
                disabled: disabled.contains(&s.name),
                pending,
                dead_letters: dead,
                last_delivery: last.map(Shown::from),
            },
        )
        .collect();
    let refused = webhooks
        .refused()
        .map(|r| serde_json::json!({ "at": r.at, "error": r.error }));
    Ok(ok(
        &serde_json::json!({ "webhooks": listed, "reloadRefused": refused }),
    ))
}

/// `GET /api/v1/webhooks/{name}/deliveries`.
#[tracing::instrument(name = "webhook_deliveries", level = "debug", skip_all)]
pub async fn deliveries(
    path: web::Path<String>,
    query: web::Query<PageQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner();
    let before = match query.into_inner().cursor {
        None => None,
        Some(cursor) => Some(
            cursor
                .parse::<i64>()
                .ok()
                // As the document says: 1 to 18 digits, no leading zero.
                .filter(|c| {
                    *c > 0
                        && cursor.len() <= 18
                        && !cursor.starts_with('0')
                        && cursor.bytes().all(|b| b.is_ascii_digit())
                })
                .ok_or_else(|| {
                    ApiError::BadRequest(
                        "invalid query string: cursor: must be the nextCursor of a page".into(),
                    )
                })?,
        ),
    };
    let webhooks = holding(&state, &name)?;
    let attempts = webhooks
        .outbox()
        .attempts(&name, before, PAGE)
        .await
        .map_err(|e| unavailable(&e))?;
    let next_cursor = (attempts.len() == PAGE as usize)
        .then(|| attempts.last().map(|a| a.id.to_string()))
        .flatten();
    Ok(ok(&AttemptsPage {
        attempts: attempts.into_iter().map(Shown::from).collect(),
        next_cursor,
    }))
}

/// `POST /api/v1/webhooks/{name}/deliveries/{messageId}/retry`.
#[tracing::instrument(name = "retry_webhook", level = "debug", skip_all)]
pub async fn retry(
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (name, message_id) = path.into_inner();
    let valid_id = message_id.len() == 36
        && message_id.starts_with("msg_")
        && message_id[4..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !valid_id {
        return Err(ApiError::BadRequest(
            "invalid path: messageId: must be msg_ followed by 32 hex digits".into(),
        ));
    }
    let webhooks = holding(&state, &name)?;
    let retried = webhooks
        .outbox()
        .retry(&name, &message_id)
        .await
        .map_err(|e| unavailable(&e))?;
    if !retried {
        return Err(ApiError::NotFound(format!(
            "{name} has no dead delivery of {message_id}"
        )));
    }
    Ok(ok(
        &serde_json::json!({ "messageId": message_id, "state": "pending" }),
    ))
}
