//! What `watch` prints: a bar for a person at a terminal, one plain line
//! per update for logs, one JSON line per record for programs.

use std::io::{IsTerminal as _, Write as _};

use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{
    follow::Verdict,
    format::{self, Clock},
    logs::LogLine,
};
use crate::domain::ProgressRecord;

/// The bar's look: the counts against the total, then the message with
/// the server's percentage (rounded down, as every other client shows it),
/// failures, rate and the server's ETA. `{eta}` is deliberately absent:
/// indicatif's guess knows nothing of the job's pauses; the server's does.
const TEMPLATE: &str = "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} {msg}";

/// How updates are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bar on standard error, redrawn in place.
    Bar,
    /// One plain line per update on standard error.
    Lines,
    /// One JSON record per line on standard output; notes on standard
    /// error.
    Json,
}

impl Mode {
    /// `--json` wins; else a bar where standard error is a terminal, and
    /// plain lines where it is not (a CI log, a file, a pipe).
    pub fn pick(json: bool) -> Self {
        if json {
            Mode::Json
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// The watch's output.
#[derive(Debug)]
pub struct Output {
    mode: Mode,
    bar: Option<ProgressBar>,
}

impl Output {
    /// Output in `mode` for the job `job`.
    pub fn new(mode: Mode, job: &str) -> Self {
        let bar = (mode == Mode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(TEMPLATE)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(job.to_owned());
            bar.set_message("connecting...");
            bar
        });
        Self { mode, bar }
    }

    /// A record that changed what is known.
    pub fn record(&mut self, record: &ProgressRecord) {
        match self.mode {
            Mode::Bar => self.draw(record),
            Mode::Lines => eprintln!("{}", format::line(record, Utc::now())),
            Mode::Json => {
                if let Ok(json) = serde_json::to_string(record) {
                    let mut stdout = std::io::stdout().lock();
                    // A closed pipe (`| head -1`) is not this program's
                    // failure: the watch goes on to its verdict.
                    let _ = writeln!(stdout, "{json}").and_then(|()| stdout.flush());
                }
            }
        }
    }

    /// Redraws what depends on the time (the bar's time left); plain
    /// lines and JSON print only on updates.
    pub fn tick(&mut self, latest: Option<&ProgressRecord>) {
        if let Some(record) = latest {
            self.draw(record);
        }
    }

    fn draw(&self, record: &ProgressRecord) {
        let Some(bar) = &self.bar else { return };
        // A job without a total moves through its steps: the bar shows
        // its percentage.
        match record.total_target_count {
            Some(total) => {
                bar.set_length(total);
                bar.set_position(record.current_sent_count);
            }
            None => {
                bar.set_length(100);
                bar.set_position(u64::from(record.progress_percentage));
            }
        }
        let mut message = format!(
            "{}% {} failed, {}",
            record.progress_percentage,
            record.failure_count,
            format::rate(record)
        );
        if record.status.is_active() {
            message.push_str(", ");
            message.push_str(&format::eta(record, Clock::Local, Utc::now()));
        }
        if let Some(doing) = format::doing(record) {
            message = format!("{doing} · {message}");
        }
        if record.stalled {
            message = format!(
                "{} {message}",
                console::style("STALLED (no update from its worker)")
                    .for_stderr()
                    .yellow()
                    .bold()
            );
        }
        bar.set_message(message);
    }

    /// One of the job's log lines (`--logs`), on standard error in every
    /// mode: standard output stays the records' with `--json`.
    pub fn log(&self, line: &LogLine) {
        let clock = if self.bar.is_some() {
            Clock::Local
        } else {
            Clock::Utc
        };
        let level = format!("{:<5}", line.level.to_uppercase());
        let level = match (&self.bar, line.level.as_str()) {
            (Some(_), "error") => console::style(level).for_stderr().red().to_string(),
            (Some(_), "warn") => console::style(level).for_stderr().yellow().to_string(),
            _ => level,
        };
        let text = format!(
            "{} {level} {}",
            clock.time(line.at, Utc::now()),
            line.message
        );
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Something the person should know that is not an update (the stream
    /// broke, the server is retried).
    pub fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("job-progress: {text}")),
            None => eprintln!("job-progress: {text}"),
        }
    }

    /// The end: the bar is left on screen with the verdict; the other
    /// modes say why only when the job did not simply finish.
    pub fn finish(&mut self, verdict: Verdict, latest: Option<&ProgressRecord>, detail: &str) {
        let summary = summary(verdict, latest, detail);
        match self.bar.take() {
            Some(bar) => {
                let styled = match verdict {
                    Verdict::Completed => console::style(summary).for_stderr().green(),
                    _ => console::style(summary).for_stderr().red(),
                };
                bar.abandon_with_message(styled.to_string());
            }
            None => eprintln!("job-progress: {summary}"),
        }
    }
}

/// One sentence on how the watch ended.
fn summary(verdict: Verdict, latest: Option<&ProgressRecord>, detail: &str) -> String {
    let counts = latest
        .map(|r| {
            format!(
                "{} processed, {} failed",
                super::format::counts(r),
                r.failure_count
            )
        })
        .unwrap_or_default();
    match verdict {
        Verdict::Completed => match latest.and_then(|r| r.result_url.as_ref()) {
            Some(url) => format!("completed: {counts}; result: {}", url.as_str()),
            None => format!("completed: {counts}"),
        },
        Verdict::Failed => {
            let why = latest
                .and_then(|r| r.error_message.as_deref())
                .unwrap_or("no reason given");
            format!("failed: {why} ({counts})")
        }
        Verdict::Unknown => format!("unknown job: {detail}"),
        Verdict::Stalled => {
            format!("stalled for {detail}: its worker has most likely died ({counts})")
        }
        Verdict::NoAnswer => format!("gave up: {detail}"),
        Verdict::Cancelled => {
            let by = latest
                .and_then(|r| r.cancel_requested.as_ref())
                .map(|cancel| format!(" by {}", cancel.by))
                .unwrap_or_default();
            format!("cancelled{by} ({counts})")
        }
    }
}
