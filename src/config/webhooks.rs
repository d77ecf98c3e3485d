//! `serve`'s webhook settings; what they mean in practice is
//! `docs/notifications.md`, and the subscriptions file is read by
//! `notify/config.rs`.

use std::path::PathBuf;

use clap::Args;
use reqwest::Url;

/// Where subscriptions come from and how deliveries behave.
#[derive(Debug, Clone, Args)]
pub struct WebhookSettings {
    /// The subscriptions: a TOML file of `[[webhook]]` tables, read at
    /// start (a bad file stops the start) and on SIGHUP (a bad file keeps
    /// the old subscriptions). Unset: no webhooks.
    #[arg(long, env = "WEBHOOKS_FILE")]
    pub webhooks_file: Option<PathBuf>,
    /// Multiplies every wait of the retry schedule (5 s, 30 s, 2 min,
    /// 10 min, 1 h, then hourly for 24 h): below 1 for tests.
    #[arg(long, env = "WEBHOOKS_RETRY_SCALE", default_value_t = 1.0,
          value_parser = parse_scale)]
    pub webhooks_retry_scale: f64,
    /// Lets webhooks reach loopback, private, link-local and CGNAT
    /// addresses (refused by default, so a subscription cannot probe the
    /// service's own network).
    #[arg(long, env = "WEBHOOKS_ALLOW_PRIVATE")]
    pub webhooks_allow_private: bool,
    /// The address people open the dashboard at
    /// (`https://progress.example.com`): Slack messages link a job's page
    /// there. Unset: no link.
    #[arg(long, env = "PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<Url>,
}

fn parse_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(scale) if scale.is_finite() && scale > 0.0 && scale <= 1.0 => Ok(scale),
        _ => Err("a number above 0 and at most 1".to_owned()),
    }
}

fn parse_public_url(text: &str) -> Result<Url, String> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Ok(url),
        _ => Err("an http:// or https:// URL".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_and_public_url_refuse_nonsense() {
        assert_eq!(parse_scale("0.001"), Ok(0.001));
        for bad in ["0", "-1", "2", "NaN", "x"] {
            assert!(parse_scale(bad).is_err(), "{bad}");
        }
        assert!(parse_public_url("https://progress.example.com").is_ok());
        assert!(parse_public_url("progress.example.com").is_err());
    }
}
