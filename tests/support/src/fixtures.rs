//! Small values most tests need: a job id, an eager writer, an example
//! program.

use std::time::Duration;

use job_progress::{domain::JobId, write::WriterConfig};

/// A job id the test knows to be valid.
pub fn job(id: &str) -> JobId {
    JobId::parse(id).expect("a valid test job id")
}

/// A writer configuration that writes every change at once.
pub fn eager() -> WriterConfig {
    WriterConfig {
        flush_interval: Duration::ZERO,
        checkpoint_interval: Duration::ZERO,
        ..WriterConfig::default()
    }
}

/// An example program, built by `cargo test` beside the test binary.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let binary = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        binary.exists(),
        "{} is built by cargo test",
        binary.display()
    );
    binary
}
