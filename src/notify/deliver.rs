//! The delivery loop: route new events to their subscriptions, claim the
//! deliveries that are due, post each once, and keep what came of it.
//!
//! Every API instance runs one. They share the work through the archive:
//! routing and claiming skip rows another instance holds (PostgreSQL's
//! `FOR UPDATE SKIP LOCKED`), and a claim is a lease ([`LEASE`]) longer
//! than an attempt can take, so an attempt is made by one instance; an
//! instance killed mid-attempt leaves its delivery to be claimed again when
//! the lease ends: at least once, never lost.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use futures_util::StreamExt as _;
use reqwest::{Url, header::HeaderValue, redirect::Policy};

use super::{
    Shared,
    config::Subscription,
    format,
    safe_dns::{self, SafeResolver},
    schedule::{Answer, Schedule},
};
use crate::{
    error::error_chain,
    metrics::process as metrics,
    outbound,
    store::{Attempt, Claimed, Outbox, Verdict},
};

/// The longest an attempt may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How long a claimed delivery is left to its claimer: past the attempt's
/// timeout and the write of its result, with room for a slow database.
const LEASE: Duration = Duration::from_secs(60);

/// Deliveries claimed at once, and sent at once: a slow receiver holds
/// one slot for up to [`TIMEOUT`], not the loop.
const CLAIM_BATCH: u32 = 16;

/// Events routed per pass.
const ROUTE_BATCH: u32 = 100;

/// The pause between passes that found nothing to do.
const IDLE: Duration = Duration::from_millis(500);

/// How often the outbox's oldest waiting event is measured.
const MEASURE_EVERY: Duration = Duration::from_secs(10);

/// The most of an answer kept with its attempt.
const KEPT_ANSWER: usize = 1024;

/// The loop's parts.
pub struct Dispatcher {
    outbox: Arc<dyn Outbox>,
    subscriptions: Shared,
    client: reqwest::Client,
    schedule: Schedule,
    public_url: Option<Url>,
    allow_private: bool,
}

impl Dispatcher {
    /// A dispatcher over `outbox` for the subscriptions `subscriptions`
    /// holds (replaced on reload).
    pub fn new(
        outbox: Arc<dyn Outbox>,
        subscriptions: Shared,
        schedule: Schedule,
        public_url: Option<Url>,
        allow_private: bool,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            outbox,
            subscriptions,
            client: client(allow_private)?,
            schedule,
            public_url,
            allow_private,
        })
    }

    /// Runs until the runtime ends.
    pub async fn run(self) {
        let mut measured: Option<Instant> = None;
        loop {
            let busy = match self.pass().await {
                Ok(busy) => busy,
                Err(err) => {
                    tracing::warn!(error = %error_chain(err.as_ref()), "webhook delivery pass failed; trying again");
                    false
                }
            };
            if measured.is_none_or(|at| at.elapsed() >= MEASURE_EVERY) {
                measured = Some(Instant::now());
                self.measure().await;
            }
            if !busy {
                tokio::time::sleep(IDLE).await;
            }
        }
    }

    /// One pass: route, claim, send. Says whether there was work (so the
    /// next pass comes at once).
    async fn pass(&self) -> anyhow::Result<bool> {
        let subscriptions = self.subscriptions.current();
        let disabled = self.outbox.disabled().await?;
        let pick = |event: &crate::store::Unrouted| {
            subscriptions.pick(&event.event_type, &event.payload, &disabled)
        };
        let routed = self.outbox.route(ROUTE_BATCH, &pick).await?;
        let claimed = self.outbox.claim(CLAIM_BATCH, LEASE).await?;
        let sent = claimed.len();
        futures_util::stream::iter(claimed)
            .for_each_concurrent(None, |claimed| {
                let subscription = subscriptions.get(&claimed.subscription).cloned();
                async move { self.deliver(claimed, subscription).await }
            })
            .await;
        Ok(routed > 0 || sent > 0)
    }

    /// Sets the gauge of the oldest waiting event.
    async fn measure(&self) {
        match self.outbox.oldest_waiting().await {
            Ok(oldest) => {
                let age = oldest
                    .and_then(|at| (Utc::now() - at).to_std().ok())
                    .unwrap_or_default();
                metrics::webhook_oldest(age);
            }
            Err(err) => tracing::debug!(error = %error_chain(&err), "cannot measure the outbox"),
        }
    }

    /// One attempt of `claimed` to `subscription` (`None`: it left the
    /// file), kept with its verdict.
    async fn deliver(&self, claimed: Claimed, subscription: Option<Subscription>) {
        let at = Utc::now();
        let started = Instant::now();
        let (answer, response, retry_after) = match &subscription {
            Some(subscription) => self.post(subscription, &claimed).await,
            None => (
                Answer::Status(410),
                "the subscription is no longer in WEBHOOKS_FILE".to_owned(),
                None,
            ),
        };
        let verdict = self.schedule.verdict(
            answer,
            claimed.attempts,
            claimed.created_at,
            at,
            retry_after,
        );
        let gone = answer == Answer::Status(410) && subscription.is_some();
        let outcome = match verdict {
            _ if gone => "disabled",
            Verdict::Delivered => "delivered",
            Verdict::RetryAt(_) => "retry",
            Verdict::Dead => "dead",
        };
        let attempt = Attempt {
            id: 0,
            message_id: claimed.message_id,
            subscription: claimed.subscription,
            event_type: String::new(),
            job_id: String::new(),
            at,
            status_code: match answer {
                Answer::Status(status) => Some(status),
                Answer::Nothing => None,
            },
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            outcome: outcome.to_owned(),
            response,
            state: String::new(),
        };
        metrics::webhook_attempt(outcome);
        if let Err(err) = self.outbox.settle(&attempt, verdict).await {
            // The lease runs out and the delivery is tried again: at least
            // once.
            tracing::warn!(subscription = %attempt.subscription, error = %error_chain(&err), "cannot record a webhook attempt");
        }
        if gone {
            tracing::warn!(subscription = %attempt.subscription, "the receiver answered 410 Gone: subscription disabled");
            if let Err(err) = self.outbox.disable(&attempt.subscription).await {
                tracing::warn!(subscription = %attempt.subscription, error = %error_chain(&err), "cannot disable a subscription");
            }
        }
    }

    /// Posts `claimed` to `subscription`: the answer, its first bytes (or
    /// what went wrong), and its `Retry-After`.
    async fn post(
        &self,
        subscription: &Subscription,
        claimed: &Claimed,
    ) -> (Answer, String, Option<Duration>) {
        if let Err(refused) = safe_dns::check_url(&subscription.url, self.allow_private) {
            return (Answer::Nothing, refused.to_string(), None);
        }
        let body = format::body(claimed, subscription.format, self.public_url.as_ref());
        let timestamp = claimed_timestamp();
        let mut request = self
            .client
            .post(subscription.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &claimed.message_id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(secret) = &subscription.secret {
            // Signed over the very bytes sent.
            request = request.header(
                "webhook-signature",
                secret.sign(&claimed.message_id, timestamp, &body),
            );
        }
        match request.body(body).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(retry_after_secs)
                    .map(Duration::from_secs);
                (
                    Answer::Status(status),
                    first_bytes(response).await,
                    retry_after,
                )
            }
            // The error's chain names the cause (refused address, timeout,
            // TLS); the URL is left out: a Slack URL is a secret.
            Err(err) => (Answer::Nothing, error_chain(&err.without_url()), None),
        }
    }
}

/// Now, in Unix seconds: the `webhook-timestamp` of an attempt.
fn claimed_timestamp() -> i64 {
    Utc::now().timestamp()
}

/// A `Retry-After` in seconds (its date form is not honoured).
fn retry_after_secs(value: &HeaderValue) -> Option<u64> {
    value.to_str().ok()?.trim().parse().ok()
}

/// The answer's first [`KEPT_ANSWER`] bytes, as text.
async fn first_bytes(mut response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < KEPT_ANSWER {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    kept.truncate(KEPT_ANSWER);
    String::from_utf8_lossy(&kept).into_owned()
}

/// The client every delivery goes through: the crate's TLS
/// ([`outbound::client_builder`]), addresses checked by [`SafeResolver`],
/// no proxy (a proxy would resolve the host itself, past the check), no
/// redirect followed (a redirect could point inside), and [`TIMEOUT`].
fn client(allow_private: bool) -> anyhow::Result<reqwest::Client> {
    Ok(outbound::client_builder(None)?
        .dns_resolver(SafeResolver { allow_private })
        .no_proxy()
        .redirect(Policy::none())
        .timeout(TIMEOUT)
        .user_agent(concat!("job-progress-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()?)
}
