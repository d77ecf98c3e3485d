//! A job's log on its event stream: `event: log` as lines are written,
//! ids `<version>-<lastSeq>`, and a reconnect that misses no kept line;
//! over Redis pub/sub, the in-process bus and NATS.

use std::time::Duration;

use serde_json::{Value, json};

use support::{
    AppWithTokens, Stores, app_with_tokens, counts, declaration,
    local_server::NatsServer,
    on_both_stores,
    sse_client::{SseEvent, SseStream},
};

const LIMIT: Duration = Duration::from_secs(10);

fn lines(messages: &[&str]) -> Value {
    let lines: Vec<Value> = messages
        .iter()
        .map(|message| json!({ "level": "info", "message": message }))
        .collect();
    json!({ "lines": lines })
}

fn messages(event: &SseEvent) -> Vec<String> {
    event.json()["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| line["message"].as_str().unwrap().to_owned())
        .collect()
}

fn events_url(w: &AppWithTokens, id: &str) -> String {
    format!("{}/api/v1/jobs/{id}/events", w.app.address)
}

/// The next `log` event, skipping progress.
async fn next_log(stream: &mut SseStream) -> SseEvent {
    stream.until("log", LIMIT).await.pop().unwrap()
}

async fn follows_lines_live_and_across_a_reconnect(w: AppWithTokens) {
    let (status, body) = w.declare("tail", declaration(100)).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = w.log("tail", lines(&["before"])).await;
    assert_eq!(status, 200);

    let mut stream = SseStream::open(&events_url(&w, "tail"), None).await;
    let snapshot = stream.next_within(LIMIT).await.unwrap();
    assert_eq!(snapshot.event, "progress");
    let version = snapshot.json()["version"].to_string();
    let backlog = next_log(&mut stream).await;
    assert_eq!(
        messages(&backlog),
        ["before"],
        "a new stream gets the kept lines"
    );
    assert_eq!(backlog.id.as_deref(), Some(&*format!("{version}-1")));

    let (status, _) = w.log("tail", lines(&["a", "b"])).await;
    assert_eq!(status, 200);
    let live = next_log(&mut stream).await;
    assert_eq!(messages(&live), ["a", "b"]);
    assert_eq!(live.id.as_deref(), Some(&*format!("{version}-3")));
    drop(stream);

    // Missed while away: two lines.
    w.log("tail", lines(&["c"])).await;
    w.log("tail", lines(&["d"])).await;
    let mut again = SseStream::open(&events_url(&w, "tail"), live.id.as_deref()).await;
    let caught_up = again.next_within(LIMIT).await.unwrap();
    assert_eq!(caught_up.event, "log", "the client has the record");
    assert_eq!(
        messages(&caught_up),
        ["c", "d"],
        "nothing kept is missed, nothing repeated"
    );
    assert_eq!(caught_up.id.as_deref(), Some(&*format!("{version}-5")));
    let (status, _) = w.report("tail", counts(5, 0)).await;
    assert_eq!(status, 200);
    let progress = again.next_within(LIMIT).await.unwrap();
    assert_eq!(progress.event, "progress");
    let newer = progress.json()["version"].to_string();
    assert_eq!(progress.id.as_deref(), Some(&*format!("{newer}-5")));

    // Today's ids, without a line number: every kept line.
    let mut old = SseStream::open(&events_url(&w, "tail"), Some(&newer)).await;
    let all = next_log(&mut old).await;
    assert_eq!(messages(&all), ["before", "a", "b", "c", "d"]);

    // Lines written just before the end come before `end`.
    w.log("tail", lines(&["last words"])).await;
    let (status, _) = w.complete("tail", counts(100, 0)).await;
    assert_eq!(status, 200);
    let rest = again.until("end", LIMIT).await;
    let logged: Vec<String> = rest
        .iter()
        .filter(|e| e.event == "log")
        .flat_map(messages)
        .collect();
    assert_eq!(logged, ["last words"]);
}

async fn a_stream_carries_log_lines_and_a_reconnect_misses_none(stores: Stores) {
    follows_lines_live_and_across_a_reconnect(app_with_tokens(stores, |_| {}).await).await;
}

on_both_stores!(a_stream_carries_log_lines_and_a_reconnect_misses_none);

#[sqlx::test(migrations = "migrations/postgres")]
async fn over_nats_a_stream_carries_log_lines(pool: sqlx::PgPool) {
    let nats = NatsServer::nats().await;
    let url = nats.url();
    let w = app_with_tokens(pool, |o| o.nats = Some(url)).await;
    follows_lines_live_and_across_a_reconnect(w).await;
}
