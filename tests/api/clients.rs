//! The example workers in other languages, run as real programs against a
//! live app: what users copy must keep working.

use std::process::Command;

use support::{app_with_tokens, envelope};

/// Runs `program args... job_id` with the app's address and a write token;
/// then checks the job's final record.
async fn runs_to_completion(pool: sqlx::PgPool, program: &str, script: &str, job_id: &str) {
    let w = app_with_tokens(pool, |_| {}).await;
    let app = &w.app;

    let address = app.address.clone();
    let token = w.tokens.write.clone();
    let (program, file, id) = (program.to_owned(), script.to_owned(), job_id.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&program)
            .arg(&file)
            .arg(&id)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("JOB_PROGRESS_API", address)
            .env("JOB_PROGRESS_TOKEN", token)
            .output()
            .unwrap_or_else(|e| panic!("{program} must be installed to run {file}: {e}"))
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{script} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let record = envelope(app.get_progress(job_id).await).await["data"].clone();
    assert_eq!(record["status"], "completed", "{record}");
    assert_eq!(record["totalTargetCount"], 2000);
    assert_eq!(record["successCount"], 1970);
    assert_eq!(record["failureCount"], 30);
    assert_eq!(record["currentChunk"], 10);
    assert_eq!(record["totalChunks"], 10);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_python_worker_reports_a_job_to_completion(pool: sqlx::PgPool) {
    runs_to_completion(pool, "python3", "examples/worker.py", "py-worker-1").await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_node_worker_reports_a_job_to_completion(pool: sqlx::PgPool) {
    runs_to_completion(pool, "node", "examples/worker.mjs", "node-worker-1").await;
}

/// Runs `program script job_id` against a server on which the job has
/// completed already: the worker's declaration meets a 409 with `reason:
/// finished`, and it stops cleanly rather than failing or reporting.
async fn stops_on_a_finished_job(pool: sqlx::PgPool, program: &str, script: &str) {
    let w = app_with_tokens(pool, |_| {}).await;
    let app = &w.app;
    let (status, body) = w.declare("done", serde_json::json!({ "total": 5 })).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = w.complete("done", serde_json::json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (address, token) = (app.address.clone(), w.tokens.write.clone());
    let (program, file) = (program.to_owned(), script.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&program)
            .args([&file, "done"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("JOB_PROGRESS_API", address)
            .env("JOB_PROGRESS_TOKEN", token)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("already finished"),
        "{script}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let record = envelope(app.get_progress("done").await).await["data"].clone();
    assert_eq!(record["status"], "completed");
    assert_eq!(record["totalTargetCount"], 5, "nothing was redeclared");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_python_worker_stops_on_a_finished_job(pool: sqlx::PgPool) {
    stops_on_a_finished_job(pool, "python3", "examples/worker.py").await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_node_worker_stops_on_a_finished_job(pool: sqlx::PgPool) {
    stops_on_a_finished_job(pool, "node", "examples/worker.mjs").await;
}
