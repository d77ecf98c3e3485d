//! A stream of the active list follows its page: the jobs on it, the ones
//! joining it and leaving it, gathered over `SSE_BATCH_MS`; jobs off the
//! page send nothing. On Redis + PostgreSQL and on the embedded stores.

use std::{collections::BTreeMap, time::Duration};

use job_progress::write::{JobHandle, JobSpec, ProgressWriter};
use serde_json::json;

use support::{
    Stores, TestApp, eager, envelope, job,
    sse_client::{SseEvent, SseStream},
};

const LIMIT: Duration = Duration::from_secs(10);
/// A window long enough that a test's few writes surely fall in one.
const WINDOW_MS: u64 = 1_500;

/// `count` jobs `job-00`, `job-01`, ..., each written once, by id.
async fn start_jobs(writer: &ProgressWriter, count: usize) -> BTreeMap<String, JobHandle> {
    let mut handles = BTreeMap::new();
    for i in 0..count {
        let id = format!("job-{i:02}");
        let handle = writer.start(job(&id), JobSpec::new(100));
        handle.flush().await;
        handles.insert(id, handle);
    }
    handles
}

/// The ids of the active list's page `query`, as the polling read lists it.
async fn page_ids(app: &TestApp, query: &str) -> Vec<String> {
    let listed = envelope(app.get_active(query).await).await;
    ids_in(&listed["data"])
}

fn ids_in(records: &serde_json::Value) -> Vec<String> {
    records
        .as_array()
        .expect("an array of records")
        .iter()
        .map(|record| record["jobId"].as_str().unwrap().to_owned())
        .collect()
}

fn job_of(event: &SseEvent) -> String {
    event.json()["jobId"].as_str().unwrap().to_owned()
}

async fn open(app: &TestApp, query: &str) -> (SseStream, Vec<String>) {
    let mut stream = SseStream::open(
        &format!("{}/api/v1/jobs/active/events{query}", app.address),
        None,
    )
    .await;
    let snapshot = stream.next_within(LIMIT).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    (stream, ids_in(&snapshot.json()))
}

/// Events until a `progress` of `id` with `currentSentCount` `count`.
async fn until_count(stream: &mut SseStream, id: &str, count: u64) -> Vec<SseEvent> {
    let deadline = tokio::time::Instant::now() + LIMIT;
    let mut events = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = stream
            .next_within(left)
            .await
            .expect("the stream stays open");
        let done = event.event == "progress"
            && job_of(&event) == id
            && event.json()["currentSentCount"] == count;
        events.push(event);
        if done {
            return events;
        }
    }
}

async fn a_page_stream_sends_its_page_only_each_job_once_a_window(stores: Stores) {
    let app = stores
        .spawn_with(|o| o.settings.push.sse_batch_ms = WINDOW_MS)
        .await;
    let writer = app.writer(eager());
    let handles = start_jobs(&writer, 20).await;
    let page = page_ids(&app, "?limit=5").await;
    let (mut stream, snapshot) = open(&app, "?limit=5").await;
    assert_eq!(snapshot, page, "the snapshot is the page");

    // Every job off the page moves, then one on it three times over.
    for (id, handle) in &handles {
        if !page.contains(id) {
            handle.record(7, 0).unwrap();
            handle.flush().await;
        }
    }
    let watched = &handles[&page[2]];
    for _ in 0..3 {
        watched.record(1, 0).unwrap();
        watched.flush().await;
    }

    let events = until_count(&mut stream, &page[2], 3).await;
    assert!(
        events.iter().all(|e| page.contains(&job_of(e))),
        "no job off the page is sent: {events:?}"
    );
    let of_watched: Vec<_> = events.iter().filter(|e| job_of(e) == page[2]).collect();
    assert_eq!(
        of_watched.len(),
        1,
        "three writes in one window are one event, the latest: {events:?}"
    );
    assert_eq!(
        of_watched[0].id.as_deref(),
        Some(&*of_watched[0].json()["version"].to_string()),
        "the event id is the version, as before"
    );
    // Nothing else is on its way: the window after it stays quiet.
    let next = stream
        .poll_within(Duration::from_millis(2 * WINDOW_MS))
        .await;
    assert!(next.is_none(), "nothing more: {next:?}");
}

async fn a_job_ending_sends_its_final_state_then_leaves_and_the_next_moves_in(stores: Stores) {
    let app = stores.spawn().await;
    let writer = app.writer(eager());
    let mut handles = start_jobs(&writer, 6).await;
    let all = page_ids(&app, "?limit=6").await;
    let (mut stream, page) = open(&app, "?limit=5").await;
    assert_eq!(page, all[..5]);

    let ending = handles.remove(&page[0]).unwrap();
    ending.record(3, 0).unwrap();
    ending.complete().await.unwrap();

    let deadline = tokio::time::Instant::now() + LIMIT;
    let mut events = Vec::new();
    while !events
        .iter()
        .any(|e: &SseEvent| e.event == "progress" && job_of(e) == all[5])
    {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        events.push(stream.next_within(left).await.unwrap());
    }
    let names: Vec<(String, String)> = events
        .iter()
        .map(|e| (e.event.clone(), job_of(e)))
        .collect();
    let leave = names
        .iter()
        .position(|(event, id)| event == "leave" && *id == page[0])
        .unwrap_or_else(|| panic!("it leaves: {names:?}"));
    let last = events[..leave]
        .iter()
        .rfind(|e| job_of(e) == page[0])
        .unwrap_or_else(|| panic!("its final state comes first: {names:?}"));
    assert_eq!(last.event, "progress");
    assert_eq!(last.json()["status"], "completed");
    assert_eq!(last.json()["currentSentCount"], 3);
    let joined = names.len() - 1;
    assert!(leave < joined, "then the next moves in: {names:?}");
    assert_eq!(events[joined].json()["status"], "in_progress");
}

async fn a_stream_of_chosen_jobs_batches_and_leaves_alike(stores: Stores) {
    let app = stores
        .spawn_with(|o| o.settings.push.sse_batch_ms = WINDOW_MS)
        .await;
    let writer = app.writer(eager());
    let mut handles = start_jobs(&writer, 6).await;
    let (mut stream, snapshot) = open(&app, "?ids=job-01,job-04").await;
    assert_eq!(snapshot, ["job-01", "job-04"]);

    for handle in handles.values() {
        handle.record(1, 0).unwrap();
        handle.flush().await;
    }
    let chosen = &handles["job-04"];
    chosen.record(1, 0).unwrap();
    chosen.flush().await;
    let events = until_count(&mut stream, "job-04", 2).await;
    assert!(
        events
            .iter()
            .all(|e| ["job-01", "job-04"].contains(&&*job_of(e))),
        "only the chosen jobs: {events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| job_of(e) == "job-04").count(),
        1,
        "two writes in one window are one event: {events:?}"
    );

    handles.remove("job-01").unwrap().complete().await.unwrap();
    let events = stream.until("leave", LIMIT).await;
    let (leave, before) = events.split_last().unwrap();
    assert_eq!(leave.json(), json!({"jobId": "job-01"}));
    let last = before.last().expect("its final state first");
    assert_eq!(
        (job_of(last), last.json()["status"].clone()),
        ("job-01".to_owned(), "completed".into())
    );
}

support::on_both_stores!(
    a_page_stream_sends_its_page_only_each_job_once_a_window,
    a_job_ending_sends_its_final_state_then_leaves_and_the_next_moves_in,
    a_stream_of_chosen_jobs_batches_and_leaves_alike,
);
