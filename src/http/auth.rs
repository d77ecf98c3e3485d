//! Who may call what: the bearer token a request presents, and the scope
//! each route needs.
//!
//! A route declares its need once, where [`configure`](super::configure)
//! registers it, by wrapping its resource in [`require`]: `require::<Read>`,
//! `require::<Write>`, `require::<ReadStream>` (a read that also takes
//! `?access_token=`), `require::<JobRead>` and `require::<JobReadStream>`
//! (a read of the one job named by the path's `{job_id}`, which a job's
//! read token may make), or `require::<WriteOrControl>`. A route without
//! it (health, the OpenAPI document) is open.
//!
//! | route needs | no token | unknown token | `read` token | `write` token | `control` token |
//! |---|---|---|---|---|---|
//! | `Read`, reads open (default) | 200 | 200 (ignored) | 200 | 200 | 200 |
//! | `Read`, `REQUIRE_READ_TOKEN` | 401 | 401 `invalid_token` | 200 | 200 | 200 |
//! | `Write` | 401 | 401 `invalid_token` | 403 `insufficient_scope` | 200 | 403 |
//!
//! While reads are open a token is not even looked at: a proxy's Basic
//! credentials or a dashboard's stale token cannot break public reads.
//! The token's name (never the token) is what logs and rate limits see.
//!
//! A job's read token (`jpt1.…`, [`super::job_token`]) is made
//! for an end user's browser and reads its job only:
//!
//! | route | its job (or a child) | another job | expired, tampered, unsigned |
//! |---|---|---|---|
//! | `JobRead`, `JobReadStream` (either mode) | 200 | 403 `insufficient_scope` | 401 `invalid_token` |
//! | `Read`, reads open (default) | 200 (served as without a token) | | 200 (ignored) |
//! | `Read`, `REQUIRE_READ_TOKEN` | 403 `insufficient_scope` | | 401 `invalid_token` |
//! | `Write`, `WriteOrControl`, `/metrics` with `METRICS_TOKEN` | 403 | | 401 |
//!
//! On a route of one job it is looked at even while reads are open: a
//! page that follows the wrong job, or whose token has run out, is told so
//! at once rather than served by accident of the server's mode. A list on
//! an open server is served as to anyone: the token adds nothing there.

use actix_web::{HttpMessage as _, HttpRequest, http::header, web};
use serde::Deserialize;

use super::{
    job_token::{self, JobGrant, SigningKeys},
    limit,
    tokens::{MetricsToken, Scope, Token, Tokens},
};

/// The access policy: the configured tokens, whether reads need one, and
/// the token of `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Access {
    tokens: Tokens,
    require_read_token: bool,
    metrics_token: Option<MetricsToken>,
    signing_keys: Option<SigningKeys>,
}

impl Access {
    /// A policy over `tokens`; reads need a token when `require_read_token`.
    pub fn new(tokens: Tokens, require_read_token: bool) -> Self {
        Self {
            tokens,
            require_read_token,
            metrics_token: None,
            signing_keys: None,
        }
    }

    /// The same policy, with read tokens for end users signed and verified
    /// by `keys` (`None`: none are made or taken).
    pub fn with_signing_keys(mut self, keys: Option<SigningKeys>) -> Self {
        self.signing_keys = keys;
        self
    }

    /// The keys read tokens are signed with, if any are configured.
    pub fn signing_keys(&self) -> Option<&SigningKeys> {
        self.signing_keys.as_ref()
    }

    /// The same policy, with `/metrics` closed to all but `token` (`None`:
    /// open). The tokens file's tokens do not open it: a scraper's token
    /// reads no progress, and a dashboard's sees no metrics.
    pub fn with_metrics_token(mut self, token: Option<MetricsToken>) -> Self {
        self.metrics_token = token;
        self
    }

    /// Whether `request` may read `/metrics`.
    pub fn authorize_metrics(&self, request: &HttpRequest) -> Result<(), Refusal> {
        let Some(token) = &self.metrics_token else {
            return Ok(());
        };
        match bearer(request) {
            None => Err(Refusal::Missing),
            Some(presented) if token.matches(presented) => Ok(()),
            Some(presented) => match self.job_token(presented) {
                Presented::Job(_) => Err(Refusal::JobOnly),
                _ => Err(Refusal::Invalid),
            },
        }
    }

    /// Whether a route needing one of `scopes` needs a token at all.
    fn needs_token(&self, scopes: &[Scope]) -> bool {
        scopes.iter().any(|scope| *scope != Scope::Read) || self.require_read_token
    }
}

/// What a request presented in one place (its header or its query).
#[derive(Debug, Clone)]
pub enum Presented {
    /// Nothing (or another scheme than `Bearer`).
    Nothing,
    /// A token that is not configured.
    Unknown,
    /// A configured token.
    Known(Token),
    /// A valid read token for one job.
    Job(JobGrant),
    /// A read token (`jpt1.…`) that is not valid: expired, tampered, or
    /// signed by a key this server does not hold.
    BadJob,
}

/// A request's credentials, resolved once per request (the rate limit and
/// the route's check both need them) and kept in its extensions.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `Authorization: Bearer <token>`.
    pub header: Presented,
    /// `?access_token=<token>` (RFC 6750 §2.3), taken only by routes that
    /// declare it.
    pub query: Presented,
}

impl Credentials {
    /// What a route judges: the header's token, or the query's when the
    /// route takes one there and the header holds none.
    pub fn presented(&self, query_allowed: bool) -> &Presented {
        match (&self.header, query_allowed) {
            (Presented::Nothing, true) => &self.query,
            (header, _) => header,
        }
    }

    /// The credentials of `request` under `access`.
    pub fn of(request: &HttpRequest, access: &Access) -> Credentials {
        // Most requests carry no token at all: answer that without the
        // extensions' lookup and insert (measured: a cached read's cost
        // shows every allocation).
        if !request.headers().contains_key(header::AUTHORIZATION)
            && !request.query_string().contains("access_token")
        {
            return Credentials {
                header: Presented::Nothing,
                query: Presented::Nothing,
            };
        }
        if let Some(known) = request.extensions().get::<Credentials>() {
            return known.clone();
        }
        let lookup = |token: Option<&str>| match token {
            None => Presented::Nothing,
            Some(token) if token.starts_with(job_token::PREFIX) => access.job_token(token),
            Some(token) => match access.tokens.find(token) {
                Some(known) => Presented::Known(known.clone()),
                None => Presented::Unknown,
            },
        };
        let credentials = Credentials {
            header: lookup(bearer(request)),
            query: lookup(query_token(request).as_deref()),
        };
        request.extensions_mut().insert(credentials.clone());
        credentials
    }

    /// Who is calling, for the rate limit: the valid token's name, a read
    /// token's job, else the client's address (after `TRUSTED_PROXIES`).
    pub fn client(&self, request: &HttpRequest) -> limit::Client {
        match self.valid() {
            Some(Presented::Known(token)) => limit::Client::Token(token.name.clone()),
            Some(Presented::Job(grant)) => limit::Client::Job(grant.job.clone()),
            _ => limit::Client::Ip(super::client::address(request)),
        }
    }

    /// The valid credential presented (the header's first), if any: who
    /// is calling, for the rate limit.
    pub fn valid(&self) -> Option<&Presented> {
        [&self.header, &self.query]
            .into_iter()
            .find(|presented| matches!(presented, Presented::Known(_) | Presented::Job(_)))
    }
}

impl Access {
    /// What a presented read token (`jpt1.…`) is worth here. Why one is
    /// refused goes to the debug log, never the token.
    fn job_token(&self, token: &str) -> Presented {
        let Some(keys) = &self.signing_keys else {
            return Presented::BadJob;
        };
        match keys.verify(token, job_token::unix_now()) {
            Ok(grant) => Presented::Job(grant),
            Err(bad) => {
                tracing::debug!(reason = %bad, "read token refused");
                Presented::BadJob
            }
        }
    }
}

/// The token of `Authorization: Bearer <token>`; the scheme is
/// case-insensitive (RFC 9110 §11.1).
fn bearer(request: &HttpRequest) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn query_token(request: &HttpRequest) -> Option<String> {
    #[derive(Deserialize)]
    struct AccessToken {
        access_token: Option<String>,
    }
    let query = request.query_string();
    if !query.contains("access_token") {
        return None; // the common case, without parsing
    }
    web::Query::<AccessToken>::from_query(query)
        .ok()?
        .into_inner()
        .access_token
}

/// Why a request may not use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 401: the route needs a token and none was presented.
    Missing,
    /// 401: the token presented is not configured.
    Invalid,
    /// 403: the token's scope reaches none of these.
    InsufficientScope(&'static [Scope]),
    /// 403: a job's read token, used for another job, a list or
    /// `/metrics`.
    JobOnly,
}

/// Who a route let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Granted {
    /// Anyone: the route needs no token, and none was looked at.
    Open,
    /// A configured token.
    Token(Token),
    /// A job's read token, for this job.
    Job(JobGrant),
}

/// The one job a route reads, and the parent its record names (looked up
/// only for a read token of another job: see [`require`]).
#[derive(Debug, Clone, Copy)]
pub struct OneJob<'a> {
    /// The job of the path.
    pub id: &'a str,
    /// Its parent, when known.
    pub parent: Option<&'a str>,
}

impl<'a> OneJob<'a> {
    /// The job `id`, its parent not looked up.
    pub fn of(id: &'a str) -> Self {
        Self { id, parent: None }
    }
}

impl Access {
    /// The decision for a route that needs one of `scopes` (and takes the
    /// token from the query too when `query_allowed`; reads the one job
    /// `job` when it is a job's route): who was let in, or why not.
    pub fn authorize(
        &self,
        credentials: &Credentials,
        scopes: &'static [Scope],
        query_allowed: bool,
        job: Option<OneJob<'_>>,
    ) -> Result<Granted, Refusal> {
        let presented = credentials.presented(query_allowed);
        // A job's token on its own kind of route is judged whatever the
        // mode (see the module doc).
        if let Some(job) = job {
            match presented {
                Presented::Job(grant) if grant.admits(job.id, job.parent) => {
                    return Ok(Granted::Job(grant.clone()));
                }
                Presented::Job(_) => return Err(Refusal::JobOnly),
                Presented::BadJob => return Err(Refusal::Invalid),
                _ => {}
            }
        }
        if !self.needs_token(scopes) {
            return Ok(Granted::Open);
        }
        match presented {
            Presented::Nothing => Err(Refusal::Missing),
            Presented::Unknown | Presented::BadJob => Err(Refusal::Invalid),
            Presented::Known(token) if scopes.iter().any(|scope| token.scope.grants(*scope)) => {
                Ok(Granted::Token(token.clone()))
            }
            Presented::Job(_) if scopes == [Scope::Read] => Err(Refusal::JobOnly),
            Presented::Known(_) | Presented::Job(_) => Err(Refusal::InsufficientScope(scopes)),
        }
    }
}

/// What a route needs; see the module tables.
pub trait Need {
    /// The scopes a token may have, any one of them (when one is needed);
    /// a 403 names them all.
    const SCOPES: &'static [Scope];
    /// Whether `?access_token=` is taken as well as the header.
    const QUERY_TOKEN: bool = false;
    /// Whether the route reads the one job of its path's `{job_id}`, so
    /// that job's read token may make it.
    const ONE_JOB: bool = false;
}

/// Reads: open unless `REQUIRE_READ_TOKEN`, then a `read`, `write` or
/// `control` token.
#[derive(Debug)]
pub struct Read;
impl Need for Read {
    const SCOPES: &'static [Scope] = &[Scope::Read];
}

/// A read that also takes `?access_token=`: for event streams, which
/// browsers open with `EventSource`, and `EventSource` cannot send headers.
#[derive(Debug)]
pub struct ReadStream;
impl Need for ReadStream {
    const SCOPES: &'static [Scope] = &[Scope::Read];
    const QUERY_TOKEN: bool = true;
}

/// A read of one job, `{job_id}` in the path: as [`Read`], and that job's
/// read token too. Every per-job read route declares it.
#[derive(Debug)]
pub struct JobRead;
impl Need for JobRead {
    const SCOPES: &'static [Scope] = &[Scope::Read];
    const ONE_JOB: bool = true;
}

/// A stream of one job: as [`ReadStream`], and that job's read token too
/// (in the header or `?access_token=`).
#[derive(Debug)]
pub struct JobReadStream;
impl Need for JobReadStream {
    const SCOPES: &'static [Scope] = &[Scope::Read];
    const QUERY_TOKEN: bool = true;
    const ONE_JOB: bool = true;
}

/// Writes: always a `write` token.
#[derive(Debug)]
pub struct Write;
impl Need for Write {
    const SCOPES: &'static [Scope] = &[Scope::Write];
}

/// Controlling jobs (asking one to stop) and watching webhooks: a
/// `control` token.
#[derive(Debug)]
pub struct Control;
impl Need for Control {
    const SCOPES: &'static [Scope] = &[Scope::Control];
}

/// Acting for a job's users (making its read tokens): a `write` or a
/// `control` token.
#[derive(Debug)]
pub struct WriteOrControl;
impl Need for WriteOrControl {
    const SCOPES: &'static [Scope] = &[Scope::Write, Scope::Control];
}

mod gate;
pub(super) use gate::admit;
pub use gate::require;

#[cfg(test)]
mod tests;
