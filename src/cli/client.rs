//! The API as the terminal commands see it: four requests, and every way
//! they can fail sorted into what a watcher does next (retry, wait, stop).

use std::time::Duration;

use eventsource_stream::{Event, EventStreamError, Eventsource as _};
use futures_util::{StreamExt as _, stream::BoxStream};
use reqwest::{StatusCode, Url, header};

use super::{args::ApiArgs, logs::LogPage};
use crate::{
    domain::{JobId, JobKind, ProgressRecord},
    outbound,
};

/// Longest wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a whole poll or page (not for a stream, which stays
/// open for as long as the job runs).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait a `Retry-After` may impose; beyond it the server is
/// treated as failing (and retried with the usual backoff).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Why a request brought no answer to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// No HTTP answer: nothing listens, the network, a timeout.
    #[error("cannot reach the API at {api}: {cause}")]
    Unreachable {
        /// The base URL.
        api: String,
        /// What the HTTP client said.
        cause: String,
    },
    /// The TLS handshake failed: most often a certificate this machine
    /// does not trust. Waiting does not fix it.
    #[error("{0}")]
    Tls(String),
    /// 404: the server does not know the job.
    #[error("{0}")]
    NotFound(String),
    /// 401: a token is needed, or the one given is unknown.
    #[error(
        "the API refused the request (401): {0}; pass a read token with --token or JOB_PROGRESS_TOKEN"
    )]
    Unauthorized(String),
    /// 403: the token's scope is too small.
    #[error("the API refused the token (403): {0}")]
    Forbidden(String),
    /// 429: over the rate limit; try again after the wait.
    #[error("rate limited by the API (429, Retry-After: {}s)", .0.as_secs())]
    RateLimited(Duration),
    /// 5xx: the server cannot answer now.
    #[error("the API answered {status}: {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The envelope's message, when there is one.
        message: String,
    },
    /// Anything else: an answer this client does not understand.
    #[error("unexpected answer from the API: {0}")]
    Unexpected(String),
}

impl Failure {
    /// Whether trying again later can help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Failure::Unreachable { .. } | Failure::RateLimited(_) | Failure::Server { .. }
        )
    }

    /// How long the server asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::RateLimited(wait) => Some(*wait),
            _ => None,
        }
    }
}

/// A conditional poll's answer.
#[derive(Debug)]
pub enum Polled {
    /// A record, and its `ETag` for the next poll.
    Record(Box<ProgressRecord>, Option<String>),
    /// `304`: nothing changed since the `ETag` sent.
    NotModified,
}

/// One page of the active list.
#[derive(Debug)]
pub struct ActivePage {
    /// The records, oldest start first.
    pub records: Vec<ProgressRecord>,
    /// `X-Total-Count`: every active job, all pages together.
    pub total: Option<u64>,
}

/// The events of an open stream, parsed by `eventsource-stream`.
pub type Events = BoxStream<'static, Result<Event, EventStreamError<reqwest::Error>>>;

/// A client of one API.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl Api {
    /// A client for the API `args` names.
    pub fn new(args: &ApiArgs) -> Result<Self, Failure> {
        let http = outbound::client_builder(args.cacert.as_ref())
            .map_err(|err| Failure::Unexpected(err.to_string()))?
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("job-progress/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| Failure::Unexpected(format!("the HTTP client: {err}")))?;
        Ok(Self {
            http,
            base: args.api.clone(),
            token: args.token.clone(),
        })
    }

    /// The base URL, for messages.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `<base>/api/v1/jobs/<segments...>`, each segment escaped.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["api", "v1", "jobs"])
                .extend(segments);
        }
        url
    }

    fn get(&self, url: Url) -> reqwest::RequestBuilder {
        let request = self.http.get(url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// `GET /api/v1/jobs/{id}/progress`, with `If-None-Match` when an
    /// `ETag` is known.
    pub async fn progress(&self, id: &JobId, etag: Option<&str>) -> Result<Polled, Failure> {
        let mut request = self
            .get(self.url(&[id.as_str(), "progress"]))
            .timeout(REQUEST_TIMEOUT);
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        let response = self.send(request).await?;
        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(Polled::NotModified);
        }
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let record = envelope_data(response).await?;
        Ok(Polled::Record(Box::new(record), etag))
    }

    /// `GET /api/v1/jobs/active?limit=&offset=`, with `kind=` when given.
    pub async fn active(
        &self,
        limit: u32,
        offset: u64,
        kind: Option<&JobKind>,
        children: bool,
    ) -> Result<ActivePage, Failure> {
        let mut url = self.url(&["active"]);
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string())
            .append_pair("offset", &offset.to_string());
        if children {
            url.query_pairs_mut().append_pair("children", "true");
        }
        if let Some(kind) = kind {
            url.query_pairs_mut().append_pair("kind", kind.as_str());
        }
        let response = self.send(self.get(url).timeout(REQUEST_TIMEOUT)).await?;
        let total = response
            .headers()
            .get("x-total-count")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        let records = envelope_data(response).await?;
        Ok(ActivePage { records, total })
    }

    /// `GET /api/v1/jobs/{id}/logs?after=`: the job's log lines after the
    /// sequence number `after`, a page at a time.
    pub async fn logs(&self, id: &JobId, after: u64) -> Result<LogPage, Failure> {
        let mut url = self.url(&[id.as_str(), "logs"]);
        url.query_pairs_mut()
            .append_pair("after", &after.to_string());
        let response = self.send(self.get(url).timeout(REQUEST_TIMEOUT)).await?;
        envelope_data(response).await
    }

    /// Opens `GET /api/v1/jobs/{id}/events`, with `Last-Event-ID` when
    /// a version is known. An answer that is not an event stream (the
    /// server answers an unknown job with the polling endpoint's 404) is
    /// a [`Failure`].
    pub async fn events(&self, id: &JobId, last_event_id: Option<&str>) -> Result<Events, Failure> {
        let mut request = self
            .get(self.url(&[id.as_str(), "events"]))
            .header(header::ACCEPT, "text/event-stream");
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last);
        }
        let response = self.send(request).await?;
        let is_stream = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/event-stream"));
        if !is_stream {
            return Err(Failure::Unexpected(format!(
                "{} without an event stream",
                response.status()
            )));
        }
        Ok(response.bytes_stream().eventsource().boxed())
    }

    /// Sends `request`; any status but 2xx and 304 becomes a [`Failure`].
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Failure> {
        let unreachable = |cause| Failure::Unreachable {
            api: self.base.to_string(),
            cause,
        };
        // Until the headers: a stream has no request timeout (it stays
        // open), but a server that accepts and never answers must not hold
        // the watcher forever.
        let response = tokio::time::timeout(REQUEST_TIMEOUT, request.send())
            .await
            .map_err(|_| unreachable("no answer in time".to_owned()))?
            .map_err(|err| match outbound::tls_error(&err) {
                Some(tls) => Failure::Tls(tls_message(&self.base, tls)),
                None => unreachable(cause_chain(&err)),
            })?;
        let status = response.status();
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let message = error_message(response).await;
        Err(match status {
            StatusCode::NOT_FOUND => Failure::NotFound(message),
            StatusCode::UNAUTHORIZED => Failure::Unauthorized(message),
            StatusCode::FORBIDDEN => Failure::Forbidden(message),
            StatusCode::TOO_MANY_REQUESTS => Failure::RateLimited(
                retry_after
                    .unwrap_or(Duration::from_secs(1))
                    .min(MAX_RETRY_AFTER),
            ),
            status if status.is_server_error() => Failure::Server {
                status: status.as_u16(),
                message,
            },
            status => Failure::Unexpected(format!("{status}: {message}")),
        })
    }
}

/// A failed handshake, in words that say what to do about it.
fn tls_message(api: &Url, err: &rustls::Error) -> String {
    let hint = if outbound::is_untrusted_issuer(err) {
        "; if its certificate comes from a private CA, pass that CA's PEM file \
         with --cacert or JOB_PROGRESS_CACERT"
    } else {
        ""
    };
    let cause = outbound::describe(err);
    match err {
        rustls::Error::InvalidCertificate(_) => {
            format!("the API at {api} has a certificate this machine does not trust: {cause}{hint}")
        }
        _ => format!("TLS with the API at {api} failed: {cause}"),
    }
}

/// The `message` of an error envelope, or the status's own words.
async fn error_message(response: reqwest::Response) -> String {
    let status = response.status();
    let fallback = status.canonical_reason().unwrap_or("error").to_owned();
    match response.json::<serde_json::Value>().await {
        Ok(body) => body["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or(fallback),
        Err(_) => fallback,
    }
}

/// The envelope's `data`, decoded.
async fn envelope_data<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, Failure> {
    #[derive(serde::Deserialize)]
    struct Envelope<T> {
        data: T,
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|err| Failure::Unexpected(cause_chain(&err)))?;
    serde_json::from_slice::<Envelope<T>>(&bytes)
        .map(|envelope| envelope.data)
        .map_err(|err| Failure::Unexpected(format!("not the envelope expected: {err}")))
}

/// What went wrong with a request, in a few words: the URL is already in
/// the message's context, and reqwest's own words ("error sending request
/// for url ...") bury the cause ("Connection refused").
fn cause_chain(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "no answer in time".into();
    }
    let mut deepest = None;
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        deepest = Some(cause);
        source = cause.source();
    }
    deepest.map_or_else(|| err.to_string(), ToString::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(base: &str) -> Api {
        Api::new(&ApiArgs {
            api: Url::parse(base).unwrap(),
            token: None,
            cacert: None,
        })
        .unwrap()
    }

    #[test]
    fn urls_keep_the_base_path_and_escape_nothing_they_need_not() {
        let id = JobId::parse("import:42").unwrap();
        assert_eq!(
            api("http://h:1").url(&[id.as_str(), "progress"]).as_str(),
            "http://h:1/api/v1/jobs/import:42/progress"
        );
        assert_eq!(
            api("http://h:1/jp/").url(&["active"]).as_str(),
            "http://h:1/jp/api/v1/jobs/active"
        );
    }

    #[test]
    fn only_waiting_can_help_with_transient_failures() {
        assert!(Failure::RateLimited(Duration::from_secs(2)).is_transient());
        assert!(
            Failure::Server {
                status: 503,
                message: String::new()
            }
            .is_transient()
        );
        assert!(!Failure::Unauthorized(String::new()).is_transient());
        assert!(
            !Failure::Tls(String::new()).is_transient(),
            "an untrusted certificate stays untrusted"
        );
        assert!(!Failure::NotFound(String::new()).is_transient());
        assert_eq!(
            Failure::RateLimited(Duration::from_secs(2)).retry_after(),
            Some(Duration::from_secs(2))
        );
    }
}
