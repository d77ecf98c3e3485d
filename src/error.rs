//! Error policy.
//!
//! - Where a caller must branch on what went wrong, the error is a
//!   `thiserror` enum: [`StoreError`](crate::store::StoreError) (fall back,
//!   retry or answer 503), [`WriteError`](crate::write::WriteError) (the
//!   worker passed impossible input), [`IdError`](crate::domain::IdError).
//! - Outside the request cycle (start-up, migrations, the command line),
//!   `anyhow` with `.context("...")`: the error is only reported.
//! - A read that cannot be answered with data is a
//!   [`ReadError`](crate::read::ReadError) (not found, unreadable,
//!   unavailable), which maps to its status in one place and is rendered
//!   into the cached answer like any other.
//! - At the HTTP edge, [`ApiError`](crate::http::ApiError) maps what is
//!   wrong with a request to its status.
//! - A 5xx body never says anything internal; the cause chain goes to the
//!   log, joined by [`error_chain`]. A panic inside a read is answered with
//!   a bare 500 (see [`read::cache`](crate::read::cache)).

/// `error: cause: cause ...`: an error and all its sources on one line, for
/// one log field.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
