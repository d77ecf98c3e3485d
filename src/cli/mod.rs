//! The terminal commands: `job-progress watch <jobId>` follows one job to
//! its end, `job-progress ls` lists the active jobs. Both are clients of
//! the HTTP API, like any dashboard; `main.rs` only parses their command
//! lines (`args.rs`) and calls [`watch::run`] or [`ls::run`].
//!
//! They behave like cargo and ripgrep: a bar and colour only for a person
//! at a terminal, one plain line per update when standard error is not one
//! (CI logs), `--json` for programs, and exit codes that mean something:
//!
//! | code | `watch`                                      | `ls`            |
//! |------|----------------------------------------------|-----------------|
//! | 0    | the job completed                            | listed          |
//! | 1    | the job failed                               | -               |
//! | 2    | unknown job, stalled past `--timeout`, or a usage error | a usage error |
//! | 3    | the API could not be asked (unreachable for `--retry-for`, token refused, certificate not trusted) | the API could not be asked |
//!
//! - `client.rs`: the four requests and how each failure is sorted
//!   (retry, wait for `Retry-After`, stop), over the HTTP client of
//!   [`crate::outbound`] (https with the system's roots plus `--cacert`);
//! - `retry.rs`: the backoff;
//! - `follow.rs`: which record is the latest, and the [`Verdict`];
//! - `watch.rs`: the event stream, the polling fallback, the stall check;
//! - `logs.rs`: `watch --logs`, each log line once, in order;
//! - `show.rs` and `format.rs`: the bar, the plain lines, JSON;
//! - `ls.rs`: paging and the table; `tree.rs`: the order and indent of `ls --tree`.

pub mod args;
pub mod client;
pub mod follow;
pub mod format;
pub mod logs;
pub mod ls;
pub mod retry;
pub mod show;
pub mod tree;
pub mod watch;

pub use args::{ApiArgs, LsArgs, WatchArgs};
pub use follow::Verdict;
