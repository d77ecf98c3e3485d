//! The subscriptions file (`WEBHOOKS_FILE`): one `[[webhook]]` table per
//! subscription, read at start and on SIGHUP.
//!
//! ```toml
//! [[webhook]]
//! name = "billing"
//! url = "https://billing.example.com/hooks/jobs"
//! secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
//! events = ["job.completed", "job.failed"]
//! kind = "invoice-run"        # optional filters
//! job_id_prefix = "nightly-"
//! parents_only = true
//! format = "standard"         # or "slack"
//! ```
//!
//! The file is checked whole, by hand rather than through serde, so each
//! refusal names its table and key ("webhook[2] (billing): url: ...") and
//! never echoes a value: a secret, or a Slack URL (itself a secret), must
//! not reach a log. For the same reason a [`Subscription`]'s `Debug` and
//! [`Subscription::shown_url`] show only the URL's scheme and host.

use std::{collections::HashSet, fmt, path::Path};

use anyhow::Context as _;
use reqwest::Url;
use serde_json::Value;

use super::sign::Secret;
use crate::domain::{EventSet, EventType};

/// The longest subscription name: it appears in URLs and metrics.
const MAX_NAME: usize = 64;

/// How a subscription's events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{type, timestamp, data}` under Standard Webhooks headers.
    Standard,
    /// A Slack-compatible `{"text": ...}`.
    Slack,
}

impl Format {
    /// Its name in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Standard => "standard",
            Format::Slack => "slack",
        }
    }
}

/// One subscription.
#[derive(Clone)]
pub struct Subscription {
    /// Its name: `[A-Za-z0-9._-]`, unique in the file.
    pub name: String,
    /// Where events are posted (http or https).
    pub url: Url,
    /// The signing secret (always for `standard`; optional for `slack`).
    pub secret: Option<Secret>,
    /// The events it wants.
    pub events: EventSet,
    /// Only jobs of this kind.
    pub kind: Option<String>,
    /// Only jobs whose id starts so.
    pub job_id_prefix: Option<String>,
    /// Only jobs without a parent.
    pub parents_only: bool,
    /// How events are written.
    pub format: Format,
}

impl Subscription {
    /// The URL as it may be shown: scheme and host, the rest elided (a
    /// Slack URL's path is its secret).
    pub fn shown_url(&self) -> String {
        shown_url(&self.url)
    }

    /// Whether it wants the event `event_type` of the record `record`
    /// (the outbox's payload).
    pub fn wants(&self, event_type: &str, record: &Value) -> bool {
        let Ok(event) = EventType::parse(event_type) else {
            return false;
        };
        let text = |key: &str| record.get(key).and_then(Value::as_str);
        self.events.contains(event)
            && self
                .kind
                .as_deref()
                .is_none_or(|kind| text("kind") == Some(kind))
            && self
                .job_id_prefix
                .as_deref()
                .is_none_or(|prefix| text("jobId").is_some_and(|id| id.starts_with(prefix)))
            && (!self.parents_only || record.get("parentJobId").is_none_or(Value::is_null))
    }
}

/// `url`'s scheme and host, the rest elided.
pub fn shown_url(url: &Url) -> String {
    match url.host_str() {
        Some(host) => format!("{}://{host}/…", url.scheme()),
        None => format!("{}:…", url.scheme()),
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("name", &self.name)
            .field("url", &self.shown_url())
            .field("secret", &self.secret)
            .field("events", &self.events)
            .field("kind", &self.kind)
            .field("job_id_prefix", &self.job_id_prefix)
            .field("parents_only", &self.parents_only)
            .field("format", &self.format)
            .finish()
    }
}

/// Every subscription of the file, in its order.
#[derive(Debug, Clone, Default)]
pub struct Subscriptions(pub Vec<Subscription>);

impl Subscriptions {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read WEBHOOKS_FILE {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("WEBHOOKS_FILE {}", path.display()))
    }

    /// Checks the text of a subscriptions file.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let table: toml::Table = toml::from_str(text).map_err(|err| {
            // The message alone: the error's display quotes the line,
            // which may hold a secret.
            let line = err
                .span()
                .and_then(|span| text.get(..span.start))
                .map(|before| before.matches('\n').count() + 1);
            match line {
                Some(line) => anyhow::anyhow!("not TOML (line {line}): {}", err.message()),
                None => anyhow::anyhow!("not TOML: {}", err.message()),
            }
        })?;
        if let Some(key) = table.keys().find(|key| *key != "webhook") {
            anyhow::bail!("unknown key {key:?}: the file holds [[webhook]] tables only");
        }
        let Some(tables) = table.get("webhook") else {
            return Ok(Self::default());
        };
        let tables = tables
            .as_array()
            .context("webhook: must be [[webhook]] tables")?;
        let mut names = HashSet::new();
        let mut all = Vec::with_capacity(tables.len());
        for (index, value) in tables.iter().enumerate() {
            let table = value
                .as_table()
                .with_context(|| format!("webhook[{index}]: must be a table"))?;
            let subscription = subscription(table).map_err(|err| {
                let name = table.get("name").and_then(toml::Value::as_str);
                match name {
                    Some(name) if valid_name(name) => {
                        anyhow::anyhow!("webhook[{index}] ({name}): {err}")
                    }
                    _ => anyhow::anyhow!("webhook[{index}]: {err}"),
                }
            })?;
            if !names.insert(subscription.name.clone()) {
                anyhow::bail!(
                    "webhook[{index}] ({}): name: another table has this name",
                    subscription.name
                );
            }
            all.push(subscription);
        }
        Ok(Self(all))
    }

    /// Every event some subscription wants.
    pub fn events(&self) -> EventSet {
        self.0
            .iter()
            .fold(EventSet::NONE, |all, s| all.union(s.events))
    }

    /// The subscription named `name`.
    pub fn get(&self, name: &str) -> Option<&Subscription> {
        self.0.iter().find(|s| s.name == name)
    }

    /// The names of the subscriptions that want `event_type` of the
    /// record `payload` (JSON), leaving out those in `disabled`.
    pub fn pick(&self, event_type: &str, payload: &str, disabled: &[String]) -> Vec<String> {
        let record: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
        self.0
            .iter()
            .filter(|s| !disabled.contains(&s.name) && s.wants(event_type, &record))
            .map(|s| s.name.clone())
            .collect()
    }
}

/// A name fit for a URL path and a metric label.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

const KEYS: [&str; 8] = [
    "name",
    "url",
    "secret",
    "events",
    "kind",
    "job_id_prefix",
    "parents_only",
    "format",
];

/// One table's subscription; the error names the key at fault.
fn subscription(table: &toml::Table) -> anyhow::Result<Subscription> {
    if let Some(key) = table.keys().find(|key| !KEYS.contains(&key.as_str())) {
        anyhow::bail!("{key}: unknown key (expected one of {})", KEYS.join(", "));
    }
    let text = |key: &str| -> anyhow::Result<Option<&str>> {
        match table.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_str()
                .map(Some)
                .with_context(|| format!("{key}: must be a string")),
        }
    };
    let name = text("name")?.context("name: missing")?;
    anyhow::ensure!(
        valid_name(name),
        "name: must be 1 to {MAX_NAME} of A-Z a-z 0-9 . _ -"
    );
    let url = text("url")?.context("url: missing")?;
    // The URL is never echoed: a Slack URL is a secret.
    let url = Url::parse(url).map_err(|_| anyhow::anyhow!("url: not a URL"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some(),
        "url: must be an http:// or https:// URL with a host"
    );
    let format = match text("format")? {
        None | Some("standard") => Format::Standard,
        Some("slack") => Format::Slack,
        Some(_) => anyhow::bail!("format: must be \"standard\" or \"slack\""),
    };
    let secret = match text("secret")? {
        Some(secret) => {
            Some(Secret::parse(secret).map_err(|err| anyhow::anyhow!("secret: {err}"))?)
        }
        None if format == Format::Slack => None,
        None => anyhow::bail!("secret: missing (whsec_ followed by base64)"),
    };
    let events = table
        .get("events")
        .context("events: missing")?
        .as_array()
        .context("events: must be a list of event names")?;
    let events = events
        .iter()
        .map(|event| {
            let name = event
                .as_str()
                .context("events: must be a list of event names")?;
            EventType::parse(name).map_err(|err| anyhow::anyhow!("events: {err}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!events.is_empty(), "events: must name at least one event");
    let parents_only = match table.get("parents_only") {
        None => false,
        Some(value) => value
            .as_bool()
            .context("parents_only: must be true or false")?,
    };
    Ok(Subscription {
        name: name.to_owned(),
        url,
        secret,
        events: events.into_iter().collect(),
        kind: text("kind")?.map(str::to_owned),
        job_id_prefix: text("job_id_prefix")?.map(str::to_owned),
        parents_only,
        format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventType;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn file(extra: &str) -> String {
        format!(
            "[[webhook]]\nname = \"ops\"\nurl = \"https://hooks.example.com/T0/B0/XyZsecret\"\n\
             secret = \"{SECRET}\"\nevents = [\"job.completed\"]\n{extra}"
        )
    }

    #[test]
    fn reads_a_subscription_and_its_filters() {
        let subs = Subscriptions::parse(&file(
            "kind = \"export\"\njob_id_prefix = \"n-\"\nparents_only = true\n",
        ))
        .unwrap();
        let ops = subs.get("ops").unwrap();
        assert_eq!(ops.format, Format::Standard);
        assert!(ops.events.contains(EventType::Completed));
        assert_eq!(subs.events(), EventSet::NONE.with(EventType::Completed));
        let record = |id: &str, kind: &str, parent: Value| {
            serde_json::json!({"jobId": id, "kind": kind, "parentJobId": parent}).to_string()
        };
        let pick = |payload: &str| subs.pick("job.completed", payload, &[]);
        assert_eq!(pick(&record("n-1", "export", Value::Null)), ["ops"]);
        assert!(pick(&record("x-1", "export", Value::Null)).is_empty());
        assert!(pick(&record("n-1", "import", Value::Null)).is_empty());
        assert!(pick(&record("n-1", "export", "p".into())).is_empty());
        assert!(
            subs.pick("job.failed", &record("n-1", "export", Value::Null), &[])
                .is_empty()
        );
        let disabled = ["ops".to_owned()];
        assert!(
            subs.pick(
                "job.completed",
                &record("n-1", "export", Value::Null),
                &disabled
            )
            .is_empty()
        );
    }

    #[test]
    fn refusals_name_the_table_and_key_and_never_the_secret_or_url() {
        let refused = |text: &str| format!("{:#}", Subscriptions::parse(text).unwrap_err());
        let err = refused(&file("color = 1\n"));
        assert!(
            err.contains("webhook[0] (ops): color: unknown key"),
            "{err}"
        );
        let err = refused(&file("").replace(SECRET, "whsec_MfKQ9r8GKYqrTwjU!!"));
        assert!(err.contains("webhook[0] (ops): secret:"), "{err}");
        assert!(!err.contains("MfKQ"), "{err}");
        let err = refused(&file("").replace("https://", "ftp://"));
        assert!(err.contains("url:") && !err.contains("XyZsecret"), "{err}");
        let err = refused(&file("").replace("job.completed", "job.done"));
        assert!(err.contains("events:"), "{err}");
        let err = refused(&format!("{}{}", file(""), file("")));
        assert!(err.contains("webhook[1] (ops): name:"), "{err}");
        let err = refused(&file("").replace("\"ops\"", "\"a b\""));
        assert!(err.contains("webhook[0]: name:"), "{err}");
        // A syntax error on the secret's line does not quote the line.
        let err = refused(&file("").replace(&format!("\"{SECRET}\""), SECRET));
        assert!(err.contains("line 4") && !err.contains("MfKQ"), "{err}");
    }

    #[test]
    fn slack_needs_no_secret_and_shows_only_its_host() {
        let text = "[[webhook]]\nname = \"chat\"\nurl = \"https://hooks.slack.com/services/T0/B0/Sekret\"\n\
                    events = [\"job.failed\"]\nformat = \"slack\"\n";
        let subs = Subscriptions::parse(text).unwrap();
        let chat = subs.get("chat").unwrap();
        assert_eq!(chat.format, Format::Slack);
        assert_eq!(chat.shown_url(), "https://hooks.slack.com/…");
        assert!(!format!("{chat:?}").contains("Sekret"));
    }
}
