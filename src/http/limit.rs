//! The rate limit of the API routes: per token, per job for a job's read
//! tokens (every token of one job shares one bucket), or per client
//! address (`http/client.rs`, after `TRUSTED_PROXIES`) for requests
//! without one.
//! Health endpoints and the OpenAPI document are not limited (they are
//! outside `/api/v1`), nor is a path or method no route answers (a 404 or
//! 405 that touches no store).
//!
//! The limit runs *after* the route's token check, in the same middleware
//! ([`auth::require`](super::auth::require) calls [`admit`] once the token
//! is accepted), so missing
//! or invalid credentials are a 401 whatever the client's bucket holds: a
//! worker whose token was revoked is told so, not told to slow down. It
//! follows that a flood of requests with a missing or bad token to a route
//! that needs one is not limited at all: each is answered 401 from the
//! token table in memory (one SHA-256 of the presented token and a map
//! lookup, no store call, about the cost of the 429 it would otherwise
//! get), and does not use up the bucket its address shares with real
//! clients behind the same NAT. Guessing a token is hopeless (256 random
//! bits); a flood is a matter for the network in front, which sees the
//! 401s in its own logs. Requests with a valid token are limited as
//! before, and a scope refusal (403) is, like a 401, answered first.
//!
//! The defaults, 50 requests a second with a burst of 200 per client:
//! a dashboard polling its three lists every second makes 3 a second, and
//! a page of 100 job cards each polling once a second 100 in its first
//! second (the burst), then, switched to the active list or its stream,
//! a handful; an office behind one NAT address with ten such dashboards
//! stays under 50. A flood of random job ids, which the response cache
//! cannot absorb and which each cost PostgreSQL a query, is held to 50 a
//! second per client: measured with the release server on one core and
//! wrk on the other, one client drove 4,400 PostgreSQL transactions a
//! second without the limit and 70 a second over 10 s with it (the burst
//! of 200, then 50 a second), while being refused 60,000 times a second.

use std::{
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Weak},
    time::Duration,
};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use governor::{
    Quota, RateLimiter,
    clock::{Clock as _, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
};

use super::ApiError;
use crate::domain::JobId;

/// `X-RateLimit-Limit`: the burst, the most requests a client may make at
/// once.
pub const LIMIT_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`: how many more it may make right now.
pub const REMAINING_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-After`: on a 429, seconds until the next request is let
/// through (as `Retry-After`).
pub const AFTER_HEADER: HeaderName = HeaderName::from_static("x-ratelimit-after");

/// How often idle clients' buckets are dropped: a full bucket (a client
/// silent for `burst / rate` seconds, 4 s by default) is the same as none.
const CLEANUP_EVERY: Duration = Duration::from_secs(60);

/// Who a bucket belongs to (the route's token check says who,
/// [`auth::require`](super::auth::require)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client {
    /// A configured token, by its name.
    Token(Arc<str>),
    /// A job's read tokens, by the job: every token made for one job
    /// shares its bucket, so minting more buys an end user no more.
    Job(JobId),
    /// Anyone else, by address.
    Ip(IpAddr),
}

/// The hasher of the buckets' map: foldhash, seeded at random per process
/// (clients choose their addresses and token names), several times
/// faster than the standard SipHash on a key this short, which every
/// request hashes.
type ClientHasher = foldhash::fast::RandomState;

/// The limiter: one GCRA bucket per client (`governor`).
#[derive(Debug)]
pub struct RateLimit {
    limiter: RateLimiter<
        Client,
        DefaultKeyedStateStore<Client, ClientHasher>,
        DefaultClock,
        StateInformationMiddleware,
    >,
    burst: u32,
    /// `burst` as the header value, made once.
    limit_header: HeaderValue,
    /// The values of `X-RateLimit-Remaining` from 0 up to the burst (at
    /// most [`MADE_REMAINING`] of them), made once: stamped on every
    /// answer, they would each be formatted and allocated.
    remaining_headers: Vec<HeaderValue>,
}

/// How many `X-RateLimit-Remaining` values are made ahead, at most: a
/// burst of up to this many (the default is 200) never formats one.
const MADE_REMAINING: u32 = 1024;

impl RateLimit {
    /// `per_second` requests a second per client, `burst` at once; `None`
    /// when `per_second` is 0 (no limit).
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        let quota = Quota::per_second(rate).allow_burst(burst);
        Some(Self {
            limiter: RateLimiter::dashmap_with_hasher(quota, ClientHasher::default())
                .with_middleware::<StateInformationMiddleware>(),
            burst: burst.get(),
            limit_header: HeaderValue::from(burst.get()),
            remaining_headers: (0..=burst.get().min(MADE_REMAINING))
                .map(HeaderValue::from)
                .collect(),
        })
    }

    /// Lets one request of `client` through (with how many more may follow
    /// at once), or says how long it must wait.
    fn check(&self, client: &Client) -> Result<u32, Duration> {
        match self.limiter.check_key(client) {
            Ok(state) => Ok(state.remaining_burst_capacity()),
            Err(not_until) => Err(not_until.wait_time_from(self.limiter.clock().now())),
        }
    }

    /// Drops the buckets of clients idle long enough to be full again,
    /// every minute, for as long as the limiter lives.
    pub fn spawn_cleanup(limit: Weak<RateLimit>) {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(CLEANUP_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(limit) = limit.upgrade() else { return };
                limit.limiter.retain_recent();
                limit.limiter.shrink_to_fit();
            }
        });
    }
}

/// A request's turn in the limit, taken by
/// [`auth::require`](super::auth::require) once the route's token check let
/// it in, for `client`: the `X-RateLimit-*` values to stamp on its answer,
/// or the 429 (with `Retry-After`) to answer instead.
pub fn admit(limit: &RateLimit, client: Client) -> Result<Admitted<'_>, ApiError> {
    match limit.check(&client) {
        Ok(remaining) => Ok(Admitted { limit, remaining }),
        Err(wait) => {
            if let Client::Token(name) = &client {
                tracing::debug!(token = %name, "rate limited");
            }
            Err(ApiError::TooManyRequests {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                limit: limit.burst,
            })
        }
    }
}

/// A request the limit let through, and what is left of its client's
/// burst.
#[derive(Debug)]
pub struct Admitted<'a> {
    limit: &'a RateLimit,
    remaining: u32,
}

impl Admitted<'_> {
    /// Puts `X-RateLimit-Limit` and `X-RateLimit-Remaining` on the answer.
    pub fn stamp(&self, headers: &mut HeaderMap) {
        headers.insert(LIMIT_HEADER, self.limit.limit_header.clone());
        let remaining = usize::try_from(self.remaining)
            .ok()
            .and_then(|at| self.limit.remaining_headers.get(at))
            .cloned()
            .unwrap_or_else(|| HeaderValue::from(self.remaining));
        headers.insert(REMAINING_HEADER, remaining);
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits_and_others_are_unaffected() {
        let limit = RateLimit::new(1, 2).unwrap();
        let (a, b) = (
            Client::Ip(Ipv4Addr::LOCALHOST.into()),
            Client::Token("b".into()),
        );
        assert_eq!(limit.check(&a), Ok(1));
        assert_eq!(limit.check(&a), Ok(0));
        let wait = limit.check(&a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(limit.check(&b), Ok(1));
        assert!(RateLimit::new(0, 200).is_none(), "0 turns the limit off");
    }
}
