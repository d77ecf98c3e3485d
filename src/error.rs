//! Error policy.
//!
//! - Where a caller must branch on what went wrong, the error is a
//!   `thiserror` enum: [`StoreError`](crate::store::StoreError) (fall back,
//!   retry or answer 503), [`WriteError`](crate::write::WriteError) (the
//!   worker passed impossible input), [`IdError`](crate::domain::IdError).
//! - Outside the request cycle (start-up, migrations, the command line),
//!   `anyhow` with `.context("...")`: the error is only reported.
//! - At the HTTP edge, [`ApiError`](crate::http::ApiError) maps kinds to
//!   statuses. A 5xx body never says anything internal; the cause chain
//!   goes to the log, joined by [`error_chain`].

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
