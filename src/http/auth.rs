//! Who may call what: the bearer token a request presents, and the scope
//! each route needs.
//!
//! A route declares its need once, where [`configure`](super::configure)
//! registers it, by wrapping its resource in [`require`]: `require::<Read>`,
//! `require::<Write>`, or `require::<ReadStream>` (a read that also takes
//! `?access_token=`). A route without it (health, the OpenAPI document) is
//! open.
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

use actix_web::{
    HttpMessage as _, HttpRequest,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header,
    middleware::Next,
    web,
};
use serde::Deserialize;

use super::{
    ApiError, AppState, RequestId,
    job_token::SigningKeys,
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
            Some(_) => Err(Refusal::Invalid),
        }
    }

    /// Whether a route needing `scope` needs a token at all.
    fn needs_token(&self, scope: Scope) -> bool {
        scope != Scope::Read || self.require_read_token
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

    /// The configured token presented (the header's first), if any: who is
    /// calling, for the rate limit.
    pub fn known(&self) -> Option<&Token> {
        match (&self.header, &self.query) {
            (Presented::Known(token), _) | (_, Presented::Known(token)) => Some(token),
            _ => None,
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
    /// 403: the token's scope does not reach this one.
    InsufficientScope(Scope),
}

impl Access {
    /// The decision for a route that needs `scope` (and takes the token
    /// from the query too when `query_allowed`): the token used, if one
    /// was needed, or why not.
    pub fn authorize(
        &self,
        credentials: &Credentials,
        scope: Scope,
        query_allowed: bool,
    ) -> Result<Option<Token>, Refusal> {
        if !self.needs_token(scope) {
            return Ok(None);
        }
        let presented = match (&credentials.header, query_allowed) {
            (Presented::Nothing, true) => &credentials.query,
            (header, _) => header,
        };
        match presented {
            Presented::Nothing => Err(Refusal::Missing),
            Presented::Unknown => Err(Refusal::Invalid),
            Presented::Known(token) if token.scope.grants(scope) => Ok(Some(token.clone())),
            Presented::Known(_) => Err(Refusal::InsufficientScope(scope)),
        }
    }
}

/// What a route needs; see the module table.
pub trait Need {
    /// The scope a token must have (when one is needed).
    const SCOPE: Scope;
    /// Whether `?access_token=` is taken as well as the header.
    const QUERY_TOKEN: bool = false;
}

/// Reads: open unless `REQUIRE_READ_TOKEN`, then a `read` or `write` token.
#[derive(Debug)]
pub struct Read;
impl Need for Read {
    const SCOPE: Scope = Scope::Read;
}

/// A read that also takes `?access_token=`: for event streams, which
/// browsers open with `EventSource`, and `EventSource` cannot send headers.
#[derive(Debug)]
pub struct ReadStream;
impl Need for ReadStream {
    const SCOPE: Scope = Scope::Read;
    const QUERY_TOKEN: bool = true;
}

/// Writes: always a `write` token.
#[derive(Debug)]
pub struct Write;
impl Need for Write {
    const SCOPE: Scope = Scope::Write;
}

/// The middleware by which a route declares what it needs, wrapped
/// around its resource in [`configure`](super::configure) (a write route
/// added later: `.wrap(from_fn(require::<Write>))`). A refused request is
/// answered with the 401 or 403 envelope before its input is parsed.
pub async fn require<N: Need>(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        // Like `web::Data`'s own extractor: a wiring bug, a bare 500.
        return Err(actix_web::error::ErrorInternalServerError("no app state"));
    };
    let credentials = Credentials::of(request.request(), &state.access);
    let request_id = || request.extensions().get::<RequestId>().cloned();
    match state
        .access
        .authorize(&credentials, N::SCOPE, N::QUERY_TOKEN)
    {
        Ok(token) => {
            if let Some(token) = &token {
                let request_id = request_id();
                let request_id = request_id.as_ref().map_or("-", RequestId::as_str);
                tracing::debug!(request_id, token = %token.name, scope = %token.scope, "token accepted");
            }
            Ok(next.call(request).await?.map_into_boxed_body())
        }
        Err(refusal) => {
            let request_id = request_id();
            let request_id = request_id.as_ref().map_or("-", RequestId::as_str);
            let token = credentials.known().map(|token| token.name.clone());
            tracing::debug!(request_id, token = token.as_deref(), ?refusal, "refused");
            Ok(request.into_response(ApiError::from(refusal).error_response_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(scope: Scope) -> Presented {
        Presented::Known(Token {
            scope,
            name: "t".into(),
        })
    }

    fn with(header: Presented, query: Presented) -> Credentials {
        Credentials { header, query }
    }

    #[test]
    fn open_reads_ignore_credentials_and_writes_always_need_a_write_token() {
        let open = Access::default();
        let none = with(Presented::Nothing, Presented::Nothing);
        assert_eq!(open.authorize(&none, Scope::Read, false), Ok(None));
        let unknown = with(Presented::Unknown, Presented::Nothing);
        assert_eq!(open.authorize(&unknown, Scope::Read, false), Ok(None));

        assert_eq!(
            open.authorize(&none, Scope::Write, false),
            Err(Refusal::Missing)
        );
        assert_eq!(
            open.authorize(&unknown, Scope::Write, false),
            Err(Refusal::Invalid)
        );
        let read = with(token(Scope::Read), Presented::Nothing);
        assert_eq!(
            open.authorize(&read, Scope::Write, false),
            Err(Refusal::InsufficientScope(Scope::Write))
        );
        let write = with(token(Scope::Write), Presented::Nothing);
        assert!(matches!(
            open.authorize(&write, Scope::Write, false),
            Ok(Some(_))
        ));
    }

    #[test]
    fn required_reads_take_a_query_token_only_where_the_route_allows_it() {
        let closed = Access::new(Tokens::default(), true);
        let in_query = with(Presented::Nothing, token(Scope::Read));
        assert_eq!(
            closed.authorize(&in_query, Scope::Read, false),
            Err(Refusal::Missing)
        );
        assert!(matches!(
            closed.authorize(&in_query, Scope::Read, true),
            Ok(Some(_))
        ));
        // The header, when there is one, is what counts.
        let both = with(Presented::Unknown, token(Scope::Read));
        assert_eq!(
            closed.authorize(&both, Scope::Read, true),
            Err(Refusal::Invalid)
        );
        let write = with(token(Scope::Write), Presented::Nothing);
        assert!(matches!(
            closed.authorize(&write, Scope::Read, false),
            Ok(Some(_))
        ));
    }
}
