//! A job crossing its stall threshold is announced on both streams, and
//! the event id says so, so a reconnecting client gets it too.

use std::time::Duration;

use job_progress::write::JobSpec;

use support::{
    Stores, eager, job,
    sse_client::{SseEvent, SseStream},
};

const LIMIT: Duration = Duration::from_secs(10);

fn stalled(event: &SseEvent) -> bool {
    event.json()["stalled"].as_bool().unwrap()
}

async fn both_streams_announce_a_stall_and_the_recovery_and_a_reconnect_gets_it(stores: Stores) {
    // A one-second stall limit; the writer's heartbeat (15 s) never
    // refreshes the job in time.
    let app = stores
        .spawn_with(|o| {
            o.settings.stall_floor_secs = 1;
            o.settings.stall_ceiling_secs = 1;
        })
        .await;
    let handle = app.writer(eager()).start(job("silent"), JobSpec::new(10));
    handle.record(2, 0).unwrap();
    handle.flush().await;
    let url = format!("{}/api/v1/jobs/silent/events", app.address);
    let mut one = SseStream::open(&url, None).await;
    let mut list =
        SseStream::open(&format!("{}/api/v1/jobs/active/events", app.address), None).await;
    let snapshot = one.next_within(LIMIT).await.unwrap();
    assert!(!stalled(&snapshot), "{snapshot:?}");
    let version = snapshot.id.clone().unwrap();
    assert_eq!(list.next_within(LIMIT).await.unwrap().event, "snapshot");

    // No write: the stall itself is the event.
    let stall = one.next_within(LIMIT).await.unwrap();
    assert_eq!(stall.event, "progress");
    assert!(stalled(&stall), "{stall:?}");
    assert_eq!(
        stall.id,
        Some(format!("{version}s")),
        "same version, seen stalled"
    );
    let listed = list.next_within(LIMIT).await.unwrap();
    assert_eq!(
        (listed.event.as_str(), stalled(&listed)),
        ("progress", true)
    );

    // Reconnects: with the stalled id nothing is due; with the id from
    // before the stall, the stalled record.
    let mut current = SseStream::open(&url, stall.id.as_deref()).await;
    assert_eq!(current.poll_within(Duration::from_millis(500)).await, None);
    let mut behind = SseStream::open(&url, Some(&version)).await;
    let caught_up = behind.next_within(LIMIT).await.unwrap();
    assert!(stalled(&caught_up));
    assert_eq!(caught_up.id, stall.id);

    // The worker writes again: recovered, with a new (numeric) id.
    handle.record(1, 0).unwrap();
    handle.flush().await;
    for stream in [&mut one, &mut current] {
        let back = stream.next_within(LIMIT).await.unwrap();
        assert!(!stalled(&back), "{back:?}");
        assert!(back.id.unwrap().parse::<u64>().unwrap() > version.parse().unwrap());
    }
    let listed = list.next_within(LIMIT).await.unwrap();
    assert!(!stalled(&listed));
}

support::on_both_stores!(both_streams_announce_a_stall_and_the_recovery_and_a_reconnect_gets_it);
