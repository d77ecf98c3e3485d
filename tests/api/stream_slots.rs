//! Stream slots belong to the live connection: `HEAD` takes none, a
//! closed stream gives its slot back at once, and one client address
//! cannot hold more than its cap.

use std::{net::IpAddr, time::Duration};

use job_progress::write::JobSpec;

use support::{Stores, TestApp, eager, eventually, job, sse_client::SseStream};

/// The bound on "at once": a close is noticed from the connection's EOF,
/// not from a heartbeat (15 s by default).
const AT_ONCE: Duration = Duration::from_secs(1);

/// The open-streams gauge, as `/metrics` serves it.
async fn open_streams_gauge(app: &TestApp) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("job_progress_sse_streams_open "))
        .expect("the gauge is served")
        .parse()
        .unwrap()
}

/// Opens a stream and reads its first event, as a browser would (a socket
/// closed with unread data is reset, which any server notices; a browser
/// that read it closes with a plain FIN).
async fn open_stream(app: &TestApp, path: &str) -> SseStream {
    let mut stream = SseStream::open(&format!("{}{path}", app.address), None).await;
    stream.next_within(Duration::from_secs(10)).await.unwrap();
    stream
}

/// A client whose connections come from `address` (a loopback address
/// other than 127.0.0.1 is another client to the server).
fn client_from(address: [u8; 4]) -> reqwest::Client {
    job_progress::outbound::client_builder(None)
        .expect("the TLS setup")
        .local_address(IpAddr::from(address))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn a_head_to_a_stream_route_answers_its_headers_and_holds_no_slot(stores: Stores) {
    let app = stores
        .spawn_with(|o| o.settings.push.sse_max_streams = 2)
        .await;
    let handle = app
        .writer(eager())
        .start(job("looked-at"), JobSpec::new(10));
    handle.flush().await;

    for path in [
        "/api/v1/jobs/looked-at/events",
        "/api/v1/jobs/active/events",
        "/api/v1/jobs/active/events?ids=looked-at",
    ] {
        for _ in 0..10 {
            let head = app
                .client
                .head(format!("{}{path}", app.address))
                .send()
                .await
                .unwrap();
            assert_eq!(head.status(), 200, "{path}");
            assert_eq!(head.headers()["content-type"], "text/event-stream");
            assert_eq!(head.headers()["cache-control"], "no-cache");
        }
    }
    let unknown = app
        .client
        .head(format!("{}/api/v1/jobs/nobody/events", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404, "as GET would answer");
    assert_eq!(open_streams_gauge(&app).await, 0.0, "no HEAD holds a slot");

    // Both slots are still there for streams.
    let first = open_stream(&app, "/api/v1/jobs/looked-at/events").await;
    let second = open_stream(&app, "/api/v1/jobs/active/events").await;
    assert_eq!(open_streams_gauge(&app).await, 2.0);
    drop((first, second));
    eventually(AT_ONCE, "the streams' slots are back", || async {
        open_streams_gauge(&app).await == 0.0
    })
    .await;
}

async fn a_closed_stream_gives_its_slot_back_within_a_second(stores: Stores) {
    // The default heartbeat (15 s): the close must be noticed without a
    // write.
    let app = stores.spawn().await;
    let handle = app.writer(eager()).start(job("left"), JobSpec::new(10));
    handle.flush().await;

    for path in ["/api/v1/jobs/left/events", "/api/v1/jobs/active/events"] {
        let stream = open_stream(&app, path).await;
        assert_eq!(open_streams_gauge(&app).await, 1.0, "{path}");
        drop(stream);
        eventually(AT_ONCE, "the closed stream's slot is back", || async {
            open_streams_gauge(&app).await == 0.0
        })
        .await;
    }
}

async fn a_client_over_its_cap_gets_a_429_and_another_address_is_not_affected(stores: Stores) {
    let app = stores
        .spawn_with(|o| {
            o.settings.push.sse_max_streams_per_client = 2;
            o.settings.push.sse_max_streams = 10;
        })
        .await;
    let url = format!("{}/api/v1/jobs/active/events", app.address);
    let greedy = client_from([127, 0, 0, 1]);
    let first = greedy.get(&url).send().await.unwrap();
    let second = greedy.get(&url).send().await.unwrap();
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );

    let refused = greedy.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["statusCode"], 429);
    let head = greedy.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 429, "HEAD answers as GET would");

    let other = client_from([127, 0, 0, 2]);
    let theirs = other.get(&url).send().await.unwrap();
    assert_eq!(theirs.status(), 200, "another address has its own cap");

    drop(first);
    eventually(AT_ONCE, "the closed stream makes room", || async {
        greedy.head(&url).send().await.unwrap().status() == 200
    })
    .await;
    assert_eq!(greedy.get(&url).send().await.unwrap().status(), 200);
    drop((second, theirs));
}

support::on_both_stores!(
    a_head_to_a_stream_route_answers_its_headers_and_holds_no_slot,
    a_closed_stream_gives_its_slot_back_within_a_second,
    a_client_over_its_cap_gets_a_429_and_another_address_is_not_affected,
);
