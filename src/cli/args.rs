//! The command lines of `watch` and `ls`.

use std::time::Duration;

use clap::Args;

use crate::{
    domain::{JobId, JobKind},
    outbound::CaBundle,
};

/// Where the API is and how to reach it; shared by `watch` and `ls`.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// The API's base URL, `http://` or `https://` (certificates checked
    /// against the system's roots and `--cacert`). Its value is never shown
    /// by `--help`: a URL may carry credentials.
    #[arg(long = "api", env = "JOB_PROGRESS_API", default_value = "http://127.0.0.1:8080",
          hide_env_values = true, value_parser = parse_api)]
    pub api: reqwest::Url,
    /// A PEM file of CA certificates to trust besides the system's roots,
    /// for an API whose certificate comes from a private CA.
    #[arg(long, env = "JOB_PROGRESS_CACERT", value_name = "FILE", value_parser = parse_cacert)]
    pub cacert: Option<CaBundle>,
    /// A `read` token, sent as `Authorization: Bearer` (needed when the
    /// server requires read tokens).
    #[arg(long, env = "JOB_PROGRESS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// `job-progress watch <jobId>`.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// The job to follow.
    #[arg(value_parser = parse_job_id)]
    pub job: JobId,
    /// The API.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Give up (exit 2) once the server has reported the job stalled for
    /// this many seconds in a row (0: as soon as it is stalled).
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Give up (exit 3) once the server has been unreachable or failing
    /// for this many seconds in a row.
    #[arg(long, default_value_t = 60)]
    pub retry_for: u64,
    /// One JSON line per record on standard output, nothing else.
    #[arg(long)]
    pub json: bool,
    /// Also print the job's log lines as they arrive (on standard error),
    /// starting with those logged before the watch began.
    #[arg(long)]
    pub logs: bool,
}

impl WatchArgs {
    /// `--timeout` as a duration.
    pub fn stall_timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

/// `job-progress ls`.
#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// The API.
    #[command(flatten)]
    pub api: ApiArgs,
    /// Refresh the list until interrupted.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between refreshes with `--watch`.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// Only jobs of this kind (as the workers set it).
    #[arg(long, value_parser = parse_kind)]
    pub kind: Option<JobKind>,
    /// Most jobs to list (default: all).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// One JSON line per job on standard output.
    #[arg(long)]
    pub json: bool,
    /// Child jobs too, each indented under its parent (a child whose
    /// parent is not listed stands on its own).
    #[arg(long)]
    pub tree: bool,
}

/// A job id, checked as the server checks it, so a typo is a usage error
/// rather than a request.
fn parse_job_id(raw: &str) -> Result<JobId, String> {
    JobId::parse(raw).map_err(|err| err.to_string())
}

/// A job kind, checked as the server checks it.
fn parse_kind(raw: &str) -> Result<JobKind, String> {
    JobKind::parse(raw).map_err(|err| err.to_string())
}

/// An `http://` or `https://` URL.
fn parse_api(raw: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(raw).map_err(|err| format!("'{raw}' is not a URL: {err}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!(
            "'{raw}': expected an http:// or https:// URL, not {other}://"
        )),
    }
}

/// The `--cacert` file, read and checked now: a missing or malformed
/// bundle is a usage error naming the file, not a refusal at the first
/// request.
fn parse_cacert(raw: &str) -> Result<CaBundle, String> {
    CaBundle::read(raw.as_ref()).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_is_an_http_or_https_url() {
        assert!(parse_api("http://127.0.0.1:8080").is_ok());
        assert!(parse_api("http://jobs.internal/base/").is_ok());
        assert!(parse_api("https://jobs.example.com").is_ok());
        assert!(parse_api("127.0.0.1:8080").is_err());
        let ftp = parse_api("ftp://host").unwrap_err();
        assert!(ftp.contains("not ftp://"), "{ftp}");
    }

    #[test]
    fn a_bad_job_id_is_a_usage_error() {
        assert!(parse_job_id("import-42").is_ok());
        assert!(parse_job_id("no spaces").is_err());
        assert!(parse_job_id("").is_err());
    }
}
