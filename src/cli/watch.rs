//! `job-progress watch <jobId>`: follows one job to its end.
//!
//! The job's event stream carries each change as it happens. While the
//! stream is quiet, a conditional poll every [`QUIET_CHECK`] asks whether
//! the job has stalled: a dead worker sends nothing, so only a fresh read
//! can say so (the server computes `stalled` when it reads). When the
//! stream cannot be opened or breaks, the watcher polls
//! `GET .../progress` with `If-None-Match` instead, and tries the stream
//! again every [`STREAM_RETRY`].
//!
//! With `--logs` it also prints the job's log lines (`logs.rs`): what was
//! logged before, the stream's `log` events, `GET .../logs?after=` on each
//! poll, and once more at the end.

use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::time::{Instant, MissedTickBehavior};

use super::{
    args::WatchArgs,
    client::{Api, Events, Failure, Polled},
    follow::{Follow, Verdict},
    format,
    logs::{LogCursor, LogPage},
    retry::Retry,
    show::{Mode, Output},
};
use crate::domain::{JobId, ProgressRecord};

/// Without an event for this long, poll once: has the job stalled?
pub const QUIET_CHECK: Duration = Duration::from_secs(5);
/// How often to poll when there is no stream.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How long to poll before trying the stream again.
pub const STREAM_RETRY: Duration = Duration::from_secs(30);
/// How often the bar's time left is redrawn.
const REDRAW: Duration = Duration::from_secs(1);

/// Follows the job `args` names until it completes (0), fails (1), is
/// unknown or stalled past `--timeout` (2), or the API cannot be asked
/// (3); returns the exit code.
pub async fn run(args: WatchArgs) -> u8 {
    let mut output = Output::new(Mode::pick(args.json), args.job.as_str());
    let api = match Api::new(&args.api) {
        Ok(api) => api,
        Err(failure) => {
            output.finish(Verdict::NoAnswer, None, &failure.to_string());
            return Verdict::NoAnswer.code();
        }
    };
    let mut watcher = Watcher {
        api,
        job: args.job.clone(),
        output,
        follow: Follow::new(args.stall_timeout()),
        retry: Retry::new(Some(Duration::from_secs(args.retry_for))),
        retry_for: Duration::from_secs(args.retry_for),
        etag: None,
        said_no_stream: false,
        logs: args.logs.then(LogCursor::default),
        said_no_logs: false,
    };
    watcher.catch_up_logs().await;
    let (verdict, detail) = watcher.watch().await;
    // What was logged after the last event or poll.
    watcher.catch_up_logs().await;
    watcher
        .output
        .finish(verdict, watcher.follow.latest(), &detail);
    verdict.code()
}

/// How one stretch of watching ended.
enum Step {
    /// The watch is over.
    Done(Verdict, String),
    /// Go on by polling, for a while.
    Poll,
}

struct Watcher {
    api: Api,
    job: JobId,
    output: Output,
    follow: Follow,
    retry: Retry,
    /// `--retry-for`, for messages.
    retry_for: Duration,
    /// The `ETag` of the last polled answer.
    etag: Option<String>,
    /// "No event stream" was noted since the last stream opened.
    said_no_stream: bool,
    /// With `--logs`: the last log line printed.
    logs: Option<LogCursor>,
    /// "Cannot read the log" was noted since the last page came.
    said_no_logs: bool,
}

impl Watcher {
    async fn watch(&mut self) -> (Verdict, String) {
        loop {
            if let Step::Done(verdict, detail) = self.stream().await {
                return (verdict, detail);
            }
            if let Step::Done(verdict, detail) = self.poll_for(STREAM_RETRY).await {
                return (verdict, detail);
            }
        }
    }

    /// The verdict, with its detail, if the watch is over.
    fn done(&self) -> Option<Step> {
        let verdict = self.follow.verdict()?;
        let detail = match verdict {
            Verdict::Stalled => format::duration(self.follow.stalled_for().unwrap_or_default()),
            _ => String::new(),
        };
        Some(Step::Done(verdict, detail))
    }

    /// Takes a record; the end, if it is one.
    fn see(&mut self, record: ProgressRecord) -> Option<Step> {
        if self.follow.see(record)
            && let Some(latest) = self.follow.latest()
        {
            self.output.record(latest);
        }
        self.done()
    }

    /// What a failure means: the end (unknown job, refused token, given
    /// up), or how long to wait before the next try.
    fn failed(&mut self, failure: &Failure) -> Result<Duration, Step> {
        if let Failure::NotFound(message) = failure {
            return Err(Step::Done(Verdict::Unknown, message.clone()));
        }
        let first = !self.retry.is_failing();
        match self.retry.after(failure) {
            Some(wait) => {
                // Once per run of failures: a log gets one line per
                // outage, not one per try.
                if first {
                    self.output.note(&format!(
                        "{failure}; retrying for up to {}s",
                        self.retry_for.as_secs()
                    ));
                }
                Ok(wait)
            }
            None => Err(Step::Done(Verdict::NoAnswer, failure.to_string())),
        }
    }

    /// An answer came.
    fn answered(&mut self) {
        if self.retry.succeeded() {
            self.output.note("the API answers again");
        }
    }

    /// Prints the log lines of `page` not printed yet.
    fn print_logs(&mut self, page: LogPage) {
        let Some(cursor) = &mut self.logs else { return };
        for line in cursor.fresh(page.lines) {
            self.output.log(&line);
        }
    }

    /// With `--logs`, reads and prints the lines logged since the last one
    /// printed, page by page. A failure is noted (once) and the watch goes
    /// on: the log is an extra, the verdict is not.
    async fn catch_up_logs(&mut self) {
        while let Some(after) = self.logs.map(|cursor| cursor.after()) {
            match self.api.logs(&self.job, after).await {
                Ok(page) => {
                    self.said_no_logs = false;
                    let more = page.next.is_some() && !page.lines.is_empty();
                    self.print_logs(page);
                    if !more {
                        return;
                    }
                }
                Err(failure) => {
                    if !self.said_no_logs {
                        self.output
                            .note(&format!("cannot read the job's log: {failure}"));
                        self.said_no_logs = true;
                    }
                    return;
                }
            }
        }
    }

    /// One conditional poll.
    async fn check(&mut self) -> Result<Option<Step>, Failure> {
        match self.api.progress(&self.job, self.etag.as_deref()).await? {
            Polled::Record(record, etag) => {
                self.answered();
                self.etag = etag;
                Ok(self.see(*record))
            }
            Polled::NotModified => {
                self.answered();
                Ok(self.done())
            }
        }
    }

    /// Opens the stream and follows it until it ends or breaks.
    async fn stream(&mut self) -> Step {
        // `<version>-<lastSeq>` when following the log, so a reopened
        // stream resumes both.
        let last_event_id = self
            .follow
            .latest()
            .filter(|record| record.version > 0)
            .map(|record| match self.logs {
                Some(cursor) if cursor.after() > 0 => {
                    format!("{}-{}", record.version, cursor.after())
                }
                _ => record.version.to_string(),
            });
        let events = match self.api.events(&self.job, last_event_id.as_deref()).await {
            Ok(events) => events,
            Err(Failure::NotFound(message)) => return Step::Done(Verdict::Unknown, message),
            Err(failure @ (Failure::Unauthorized(_) | Failure::Forbidden(_) | Failure::Tls(_))) => {
                return Step::Done(Verdict::NoAnswer, failure.to_string());
            }
            // Anything else (no server, too many streams, a proxy that
            // does not pass streams): polling takes over, and its
            // backoff decides when to give up.
            Err(failure) => {
                // Said once until a stream opens again; an outage has its
                // own note from polling.
                if self.follow.latest().is_some()
                    && !self.said_no_stream
                    && !self.retry.is_failing()
                {
                    self.output
                        .note(&format!("no event stream ({failure}); polling"));
                    self.said_no_stream = true;
                }
                return Step::Poll;
            }
        };
        self.said_no_stream = false;
        self.answered();
        self.follow_events(events).await
    }

    async fn follow_events(&mut self, mut events: Events) -> Step {
        let mut quiet = tokio::time::interval_at(Instant::now() + QUIET_CHECK, QUIET_CHECK);
        quiet.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut redraw = tokio::time::interval(REDRAW);
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) if event.event == "progress" => {
                        quiet.reset();
                        match serde_json::from_str::<ProgressRecord>(&event.data) {
                            Ok(record) => {
                                if let Some(step) = self.see(record) {
                                    return step;
                                }
                            }
                            Err(err) => self.output.note(&format!("skipped an event that is not a record: {err}")),
                        }
                    }
                    Some(Ok(event)) if event.event == "log" => {
                        match serde_json::from_str::<LogPage>(&event.data) {
                            Ok(page) => self.print_logs(page),
                            Err(err) => self.output.note(&format!("skipped a log event that is not a batch of lines: {err}")),
                        }
                    }
                    // After `end` the server closes the stream; the record
                    // before it was the last one. Should it be missing,
                    // a poll settles it.
                    Some(Ok(event)) if event.event == "end" => {
                        return match self.check().await {
                            Ok(Some(step)) => step,
                            Ok(None) | Err(_) => Step::Poll,
                        };
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => {
                        self.output.note(&format!("the event stream broke ({err}); polling"));
                        return Step::Poll;
                    }
                    None => {
                        // The server stopping (a deploy) ends streams
                        // for clients to reconnect elsewhere.
                        self.output.note("the event stream ended; polling");
                        return Step::Poll;
                    }
                },
                _ = quiet.tick() => match self.check().await {
                    Ok(Some(step)) => return step,
                    Ok(None) => {}
                    Err(failure) => {
                        if let Err(step) = self.failed(&failure) {
                            return step;
                        }
                    }
                },
                _ = redraw.tick() => {
                    self.output.tick(self.follow.latest());
                    if let Some(step) = self.done() {
                        return step;
                    }
                }
            }
        }
    }

    /// Polls for `how_long` (the first poll at once), then hands back to
    /// the stream.
    async fn poll_for(&mut self, how_long: Duration) -> Step {
        let until = Instant::now() + how_long;
        loop {
            let checked = self.check().await;
            if !matches!(checked, Err(_) | Ok(Some(_))) {
                self.catch_up_logs().await;
            }
            let wait = match checked {
                Ok(Some(step)) => return step,
                Ok(None) => POLL_INTERVAL,
                Err(failure) => match self.failed(&failure) {
                    Ok(wait) => wait,
                    Err(step) => return step,
                },
            };
            if Instant::now() + wait > until {
                tokio::time::sleep_until(until.max(Instant::now() + wait)).await;
                return Step::Poll;
            }
            if let Some(step) = self.pause(wait).await {
                return step;
            }
        }
    }

    /// Waits `wait`, redrawing the bar every second; a stall timeout that
    /// runs out meanwhile ends the watch.
    async fn pause(&mut self, wait: Duration) -> Option<Step> {
        let until = Instant::now() + wait;
        while Instant::now() < until {
            tokio::time::sleep_until(until.min(Instant::now() + REDRAW)).await;
            self.output.tick(self.follow.latest());
            if let Some(step) = self.done() {
                return Some(step);
            }
        }
        None
    }
}
