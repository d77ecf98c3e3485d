//! `GET /api/v1/jobs/{jobId}/events` and `GET /api/v1/jobs/active/events`:
//! Server-Sent Events (see [`crate::push`] for the design).
//!
//! A stream's slot under the caps travels inside the response body, so it
//! is released when the connection ends; `HEAD` answers the headers `GET`
//! would and opens nothing (no slot, no stream code, no watch).

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, Responder as _, http::Method, web};
use actix_web_lab::sse::{Event, Sse};
use futures_util::Stream;
use serde::Deserialize;

use super::jobs::PageQuery;
use crate::{
    domain::JobId,
    http::{ApiError, AppState, RequestId, client, error::RETRY_AFTER_SECS, respond::respond},
    push::{
        change::Change,
        outbox,
        page::{self, Selection},
        slots::{Refused, StreamSlot},
        stream::{self, Context, EventId},
    },
};

/// Most jobs one stream may follow with `?ids=`.
pub const MAX_IDS: usize = 100;

/// How streams behave on the wire.
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// A comment this often keeps proxies from cutting an idle stream.
    pub heartbeat: Duration,
    /// The `retry:` hint: how long a browser waits before reconnecting.
    pub retry: Duration,
    /// A stream of the active list sends at most once this often.
    pub batch: Duration,
}

/// The response for a stream of `events`, which hold the stream's slot
/// (`outbox::events`) for as long as the body lives: actix drops the body
/// when the connection ends, at once when the client closes it (the server
/// does not wait on half-closed connections, see `startup.rs`), and with
/// it the stream's code.
fn sse(
    request: &HttpRequest,
    events: impl Stream<Item = Event> + 'static,
    settings: StreamSettings,
) -> HttpResponse {
    Sse::from_infallible_stream(events)
        .with_keep_alive(settings.heartbeat)
        .with_retry_duration(settings.retry)
        .customize()
        // nginx and its kin must pass each event on at once.
        .insert_header(("X-Accel-Buffering", "no"))
        .respond_to(request)
        .map_into_boxed_body()
}

/// The answer to `HEAD`: a stream's headers and an empty body.
fn headers_only(request: &HttpRequest, settings: StreamSettings) -> HttpResponse {
    sse(request, futures_util::stream::empty(), settings)
}

/// A refused stream: the instance's cap is a 503, a client's a 429; both
/// with `Retry-After`.
fn refusal(refused: Refused) -> ApiError {
    match refused {
        Refused::Instance => ApiError::TooManyStreams,
        Refused::Client { cap } => ApiError::TooManyRequests {
            retry_after_secs: RETRY_AFTER_SECS,
            limit: u32::try_from(cap).unwrap_or(u32::MAX),
        },
    }
}

/// A slot for this request's stream; for `HEAD`, only whether there would
/// be one (`Ok(None)`).
fn slot(state: &AppState, request: &HttpRequest) -> Result<Option<StreamSlot>, ApiError> {
    let client = client::address(request);
    if request.method() == Method::HEAD {
        state.hub.check_stream(client).map_err(refusal)?;
        return Ok(None);
    }
    state.hub.open_stream(client).map(Some).map_err(refusal)
}

fn context(state: &AppState, request_id: &RequestId) -> Context {
    Context {
        hub: state.hub.clone(),
        reader: state.reader.clone(),
        request_id: request_id.as_str().to_owned(),
    }
}

/// `Last-Event-ID`: the version the client already has, and whether it
/// saw the job stalled.
fn last_event_id(request: &HttpRequest) -> Option<EventId> {
    request
        .headers()
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(EventId::parse)
}

/// One job's changes: the snapshot, each change, `end`.
#[tracing::instrument(name = "job_events", level = "debug", skip_all, fields(job_id = %path.as_str()))]
pub async fn job(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let id = ApiError::parse_id("job", JobId::parse(path.into_inner()))?;
    let Some(slot) = slot(&state, &request)? else {
        // HEAD: the status GET would give, from the same read.
        let served = state.reader.job(id, request_id.as_str()).await;
        return Ok(match Change::from_rendered(&served.response) {
            Some(_) => headers_only(&request, state.streams),
            None => respond(&request, &served),
        });
    };
    // Watch before reading the snapshot, so no change falls in between.
    let watch = state.hub.watch_job(id.clone());
    let served = state.reader.job(id, request_id.as_str()).await;
    let Some(snapshot) = Change::from_rendered(&served.response) else {
        // Unknown (404), unreadable or unavailable: the polling answer.
        return Ok(respond(&request, &served));
    };
    let (ctx, last_event_id) = (context(&state, &request_id), last_event_id(&request));
    let events = outbox::events(slot, |tx| {
        stream::job(ctx, watch, snapshot, last_event_id, tx)
    });
    Ok(sse(&request, events, state.streams))
}

/// `?limit=&offset=&ids=`.
#[derive(Debug, Deserialize)]
pub struct ActiveQuery {
    #[serde(flatten)]
    page: PageQuery,
    ids: Option<String>,
}

impl ActiveQuery {
    fn selection(&self) -> Result<Selection, ApiError> {
        let Some(ids) = &self.ids else {
            return Ok(Selection::Active {
                page: self.page.parse()?,
                filter: self.page.filter()?,
            });
        };
        let ids: Vec<&str> = ids.split(',').filter(|id| !id.is_empty()).collect();
        if ids.is_empty() || ids.len() > MAX_IDS {
            return Err(ApiError::BadRequest(format!(
                "ids must name 1 to {MAX_IDS} jobs, separated by commas; got {}",
                ids.len()
            )));
        }
        let ids = ids
            .into_iter()
            .map(|id| ApiError::parse_id("job", JobId::parse(id)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Selection::Jobs(ids))
    }
}

/// A page of the active list (or chosen jobs): a snapshot, then its jobs'
/// changes and who joined or left it, at most once per batch window.
#[tracing::instrument(name = "active_events", level = "debug", skip_all)]
pub async fn active(
    request: HttpRequest,
    query: web::Query<ActiveQuery>,
    state: web::Data<AppState>,
    request_id: RequestId,
) -> Result<HttpResponse, ApiError> {
    let selection = query.selection()?;
    let slot = slot(&state, &request)?;
    if slot.is_none() {
        // HEAD: the status GET would give; only the active list's read can
        // fail (a stream of chosen jobs leaves out what it cannot read).
        if let Selection::Active { page, filter } = &selection {
            let served = state
                .reader
                .active_filtered(*page, filter.clone(), request_id.as_str())
                .await;
            if served.response.data().is_none() {
                return Ok(respond(&request, &served));
            }
        }
        return Ok(headers_only(&request, state.streams));
    }
    // Taken before the snapshot is read, so no job joining after it is
    // missed.
    let active_set = state.hub.active_set();
    let ctx = context(&state, &request_id);
    let snapshot = match &selection {
        Selection::Active { page, filter } => {
            let served = state
                .reader
                .active_filtered(*page, filter.clone(), request_id.as_str())
                .await;
            match served.response.data() {
                Some(data) => data,
                None => return Ok(respond(&request, &served)),
            }
        }
        // Jobs that cannot be read are left out; the list is never absent.
        Selection::Jobs(_) => selection
            .snapshot(&ctx)
            .await
            .unwrap_or_else(|| web::Bytes::from_static(b"[]")),
    };
    let batch = state.streams.batch;
    let events = outbox::events(slot, |tx| {
        page::jobs(ctx, selection, active_set, snapshot, batch, tx)
    });
    Ok(sse(&request, events, state.streams))
}
