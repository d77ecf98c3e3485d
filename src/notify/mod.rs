//! Notifications: signed webhooks, delivered at least once.
//!
//! The subscriptions come from `WEBHOOKS_FILE` (`config.rs`, re-read on
//! SIGHUP). An event is written to the archive's outbox in the
//! transaction that makes its status change durable (the archive is told
//! which events are wanted through [`WantedEvents`]; see
//! `store/outbox.rs`); a stall, which is no write, by the instance whose
//! insert wins the event's unique key. Each API instance runs a
//! dispatcher (`deliver.rs`) that routes events
//! to subscriptions, claims due deliveries, posts them (`format.rs` the
//! body, `sign.rs` the Standard Webhooks signature, `safe_dns.rs` where
//! the connection may go) and retries failures on `schedule.rs`'s table.
//! `http/routes/webhooks.rs` shows the subscriptions and their attempts.

mod config;
mod deliver;
mod format;
mod safe_dns;
mod schedule;
mod sign;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use chrono::{DateTime, Utc};
use reqwest::Url;
use tokio::sync::mpsc;

pub use self::config::{Format, Subscription, Subscriptions, shown_url};
pub use self::sign::{Secret, SecretError};
use crate::{
    domain::{EventType, ProgressRecord, WantedEvents},
    error::error_chain,
    push::Hub,
    store::{Outbox, OutboxEvent},
};

/// Stalls waiting to be written to the outbox; past it, the watch drops
/// them (with a warning) rather than wait.
const STALL_QUEUE: usize = 1024;

/// The current subscriptions, replaced whole on reload. Cloning shares.
#[derive(Debug, Clone, Default)]
pub struct Shared(Arc<RwLock<Arc<Subscriptions>>>);

impl Shared {
    /// The subscriptions now.
    pub fn current(&self) -> Arc<Subscriptions> {
        // Replaced whole under the lock: a poisoned one still holds a
        // complete value.
        Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn replace(&self, subscriptions: Subscriptions) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(subscriptions);
    }
}

/// A reload that kept the old subscriptions: when, and why.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// When the file was read.
    pub at: DateTime<Utc>,
    /// Why it was refused (names the table and key; never a value).
    pub error: String,
}

/// How deliveries behave (from `serve`'s settings).
#[derive(Debug, Clone)]
pub struct Options {
    /// Multiplies every wait of the retry schedule (1.0: as written).
    pub retry_scale: f64,
    /// Let webhooks reach private addresses.
    pub allow_private: bool,
    /// Where people open the dashboard: Slack messages link there.
    pub public_url: Option<Url>,
}

/// The webhooks of a server: its subscriptions, the events they want, and
/// the outbox they are delivered from.
pub struct Webhooks {
    file: PathBuf,
    subscriptions: Shared,
    /// The last reload's refusal, until a reload succeeds.
    refused: Arc<RwLock<Option<Refusal>>>,
    wanted: WantedEvents,
    options: Options,
    outbox: Arc<dyn Outbox>,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("file", &self.file)
            .field("subscriptions", &self.subscriptions)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Webhooks {
    /// The subscriptions of `file`, read and checked (a bad file is an
    /// error that names the table and key at fault), the events they want
    /// (hand [`Self::wanted`] to the archive), delivered from `outbox`.
    pub fn load(file: &Path, options: Options, outbox: Arc<dyn Outbox>) -> anyhow::Result<Self> {
        let subscriptions = Subscriptions::load(file)?;
        tracing::info!(
            subscriptions = subscriptions.0.len(),
            "webhooks: {}",
            describe(&subscriptions)
        );
        let wanted = WantedEvents::new(subscriptions.events());
        let shared = Shared::default();
        shared.replace(subscriptions);
        Ok(Self {
            file: file.to_owned(),
            subscriptions: shared,
            refused: Arc::default(),
            wanted,
            options,
            outbox,
        })
    }

    /// The events some subscription wants, for the archive
    /// (`with_webhook_events`): kept up to date on reload.
    pub fn wanted(&self) -> WantedEvents {
        self.wanted.clone()
    }

    /// The subscriptions now.
    pub fn subscriptions(&self) -> Arc<Subscriptions> {
        self.subscriptions.current()
    }

    /// Why the last reload was refused, unless a later one succeeded.
    pub fn refused(&self) -> Option<Refusal> {
        self.refused
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The outbox deliveries are kept in.
    pub fn outbox(&self) -> &dyn Outbox {
        self.outbox.as_ref()
    }

    /// Starts the delivery loop, the reload on SIGHUP, and the writing of
    /// `hub`'s stalls.
    pub fn spawn(&self, hub: &Hub) -> anyhow::Result<()> {
        let dispatcher = deliver::Dispatcher::new(
            Arc::clone(&self.outbox),
            self.subscriptions.clone(),
            schedule::Schedule::scaled(self.options.retry_scale),
            self.options.public_url.clone(),
            self.options.allow_private,
        )?;
        tokio::spawn(dispatcher.run());
        let (stalls, queue) = mpsc::channel(STALL_QUEUE);
        if hub.on_stall(stalls) {
            tokio::spawn(write_stalls(
                queue,
                Arc::clone(&self.outbox),
                self.wanted.clone(),
            ));
        }
        #[cfg(unix)]
        self.spawn_reload()?;
        Ok(())
    }

    /// Re-reads the file on each SIGHUP; a bad file keeps the old
    /// subscriptions, saying why.
    #[cfg(unix)]
    fn spawn_reload(&self) -> anyhow::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup())?;
        let (file, shared, wanted, refused) = (
            self.file.clone(),
            self.subscriptions.clone(),
            self.wanted.clone(),
            Arc::clone(&self.refused),
        );
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match Subscriptions::load(&file) {
                    Ok(subscriptions) => {
                        tracing::info!(
                            subscriptions = subscriptions.0.len(),
                            "webhooks reloaded: {}",
                            describe(&subscriptions)
                        );
                        // Wider first, so no event is missed between the two.
                        wanted.set(wanted.get().union(subscriptions.events()));
                        let events = subscriptions.events();
                        shared.replace(subscriptions);
                        wanted.set(events);
                        *refused.write().unwrap_or_else(|e| e.into_inner()) = None;
                    }
                    Err(err) => {
                        let error = error_chain(err.as_ref());
                        tracing::error!(
                            error = %error,
                            "webhooks not reloaded: the file is refused; the old subscriptions stay"
                        );
                        *refused.write().unwrap_or_else(|e| e.into_inner()) = Some(Refusal {
                            at: Utc::now(),
                            error,
                        });
                    }
                }
            }
        });
        Ok(())
    }
}

/// The subscriptions for the log: names, hosts and events, never a
/// secret or a whole URL.
fn describe(subscriptions: &Subscriptions) -> String {
    let each: Vec<String> = subscriptions
        .0
        .iter()
        .map(|s| {
            let events: Vec<&str> = s.events.iter().map(EventType::as_str).collect();
            format!("{} -> {} ({})", s.name, s.shown_url(), events.join(", "))
        })
        .collect();
    if each.is_empty() {
        "none".to_owned()
    } else {
        each.join("; ")
    }
}

/// Writes each stall `queue` brings to the outbox, when some subscription
/// wants stalls: one row per stall episode (the record's version), however
/// many instances saw it, by the unique key.
async fn write_stalls(
    mut queue: mpsc::Receiver<ProgressRecord>,
    outbox: Arc<dyn Outbox>,
    wanted: WantedEvents,
) {
    while let Some(record) = queue.recv().await {
        if !wanted.get().contains(EventType::Stalled) {
            continue;
        }
        let Some(event) = OutboxEvent::of(&record, EventType::Stalled, record.version) else {
            continue;
        };
        if let Err(err) = outbox.enqueue(std::slice::from_ref(&event)).await {
            // Another instance most likely wrote it; if none did, it is
            // lost with this one's error, which the log says.
            tracing::warn!(job_id = %record.job_id, error = %error_chain(&err), "cannot write a job.stalled event");
        }
    }
}
