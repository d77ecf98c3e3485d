//! Live streams: real Redis and NATS buses, a writer in another process,
//! two API instances, bus connections killed mid-job.

use std::{process::Command, sync::Arc, time::Duration};

use job_progress::{
    push::{Publisher, bus::BUS_HEALTH_CHECK},
    store::{HotStore, RedisStore, Ttls},
    write::{JobSpec, ProgressWriter},
};

use support::{
    Stores, database_url_for, eager, envelope, eventually, example_binary, job,
    local_server::{NatsServer, RedisServer},
    redis_url, spawn_app, spawn_app_with,
    sse_client::{SseEvent, SseStream},
};

const LIMIT: Duration = Duration::from_secs(10);

fn status(event: &SseEvent) -> String {
    event.json()["status"].as_str().unwrap().to_owned()
}

/// Checks a job stream from its first event to `end`: progress events
/// with growing ids and counts, the last one completed.
fn assert_whole_job(events: &[SseEvent], total: u64) {
    let (end, progress) = events.split_last().unwrap();
    assert_eq!(end.event, "end");
    assert!(!progress.is_empty() && progress.iter().all(|e| e.event == "progress"));
    let ids: Vec<u64> = progress
        .iter()
        .map(|e| e.id.as_deref().unwrap().parse().unwrap())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids only grow: {ids:?}"
    );
    let counts: Vec<u64> = progress
        .iter()
        .map(|e| e.json()["currentSentCount"].as_u64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    let last = progress.last().unwrap();
    assert_eq!(status(last), "completed");
    assert_eq!(last.json()["currentSentCount"], total);
    assert_eq!(
        last.id.as_deref(),
        Some(&*last.json()["version"].to_string())
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn streams_on_two_instances_follow_a_worker_process_from_snapshot_to_end(pool: sqlx::PgPool) {
    let first = spawn_app(pool.clone()).await;
    let keys = first.keys.clone();
    let second = spawn_app_with(pool.clone(), |o| o.keys = Some(keys)).await;
    let mut worker = Command::new(example_binary("send_campaign"))
        .args([
            "--job-id",
            "pushed",
            "--total",
            "3000",
            "--chunk-size",
            "250",
        ])
        .args([
            "--pause-ms",
            "100",
            "--work-ms",
            "50",
            "--failure-rate",
            "0",
        ])
        .env("REDIS_URL", redis_url())
        .env("KEY_PREFIX", first.keys.prefix())
        .env("DATABASE_URL", database_url_for(&pool))
        .env("FLUSH_INTERVAL_MS", "50")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually(LIMIT, "the worker has started the job", || async {
        first.get_progress("pushed").await.status() == 200
    })
    .await;

    let url = |address: &str| format!("{address}/api/v1/jobs/pushed/events");
    let (url_one, url_two) = (url(&first.address), url(&second.address));
    let (mut one, mut two) = tokio::join!(
        SseStream::open(&url_one, None),
        SseStream::open(&url_two, None)
    );
    let (from_one, from_two) = tokio::join!(one.until("end", LIMIT), two.until("end", LIMIT));

    assert!(worker.wait().unwrap().success());
    for events in [&from_one, &from_two] {
        assert_eq!(
            status(&events[0]),
            "in_progress",
            "the snapshot comes first"
        );
        assert_whole_job(events, 3000);
        assert!(
            events.len() > 3,
            "changes arrive as they happen: {events:?}"
        );
    }
    assert_eq!(one.next_within(LIMIT).await, None, "closed after end");
}

async fn a_reconnect_with_the_latest_id_gets_nothing_until_a_change_and_an_old_id_the_snapshot(
    stores: Stores,
) {
    let app = stores.spawn().await;
    let handle = app.writer(eager()).start(job("resumed"), JobSpec::new(10));
    handle.record(2, 0).unwrap();
    handle.flush().await;
    let url = format!("{}/api/v1/jobs/resumed/events", app.address);
    let snapshot = SseStream::open(&url, None)
        .await
        .next_within(LIMIT)
        .await
        .unwrap();
    let latest = snapshot.id.clone().unwrap();

    let mut up_to_date = SseStream::open(&url, Some(&latest)).await;
    assert_eq!(
        up_to_date.poll_within(Duration::from_millis(500)).await,
        None,
        "nothing newer, nothing sent"
    );
    let mut behind = SseStream::open(&url, Some("1")).await;
    assert_eq!(
        behind.next_within(LIMIT).await.unwrap(),
        snapshot,
        "an old id: the snapshot"
    );

    handle.record(3, 0).unwrap();
    handle.flush().await;
    let next = up_to_date.next_within(LIMIT).await.unwrap();
    assert_eq!(next.json()["currentSentCount"], 5);
    assert!(next.id.unwrap().parse::<u64>().unwrap() > latest.parse().unwrap());
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_client_that_never_reads_does_not_delay_another(pool: sqlx::PgPool) {
    use tokio::io::AsyncWriteExt as _;
    let app = spawn_app(pool).await;
    let handle = app
        .writer(eager())
        .start(job("busy"), JobSpec::new(100_000));
    handle.flush().await;
    let url = format!("{}/api/v1/jobs/busy/events", app.address);

    // A client with a tiny receive window that never reads a byte.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(1024).unwrap();
    let address = app.address.trim_start_matches("http://").parse().unwrap();
    let mut stuck = socket.connect(address).await.unwrap();
    stuck
        .write_all(b"GET /api/v1/jobs/busy/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut reader = SseStream::open(&url, None).await;

    for _ in 0..2000 {
        handle.record(50, 0).unwrap();
        tokio::task::yield_now().await;
    }
    handle.complete().await.unwrap();

    let events = reader.until("end", LIMIT).await;
    assert_whole_job(&events, 100_000);
    drop(stuck);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_killed_redis_subscription_loses_no_final_state(pool: sqlx::PgPool) {
    let redis = RedisServer::redis().await;
    let url = redis.url();
    let app = spawn_app_with(pool, |o| o.redis_url = url).await;
    let handle = app.writer(eager()).start(job("cut-off"), JobSpec::new(10));
    handle.record(1, 0).unwrap();
    handle.flush().await;
    let mut stream =
        SseStream::open(&format!("{}/api/v1/jobs/cut-off/events", app.address), None).await;
    assert_eq!(stream.next_within(LIMIT).await.unwrap().event, "progress");

    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(killed, 1, "the instance's one subscription");
    // Published while the instance is resubscribing, or just after.
    handle.record(9, 0).unwrap();
    handle.complete().await.unwrap();

    let events = stream.until("end", LIMIT).await;
    let last = &events[events.len() - 2];
    assert_eq!(status(last), "completed");
    assert_eq!(last.json()["currentSentCount"], 10);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_hung_redis_takes_the_bus_down_within_two_health_checks_and_streams_poll_meanwhile(
    pool: sqlx::PgPool,
) {
    let redis = RedisServer::redis().await;
    let url = redis.url();
    let app = spawn_app_with(pool, |o| o.redis_url = url).await;
    let bus_up = || app.state.hub.bus_state().borrow().up;
    eventually(LIMIT, "the bus is up", || async { bus_up() }).await;
    let handle = app.writer(eager()).start(job("hung"), JobSpec::new(10));
    handle.record(1, 0).unwrap();
    handle.flush().await;
    let mut stream =
        SseStream::open(&format!("{}/api/v1/jobs/hung/events", app.address), None).await;
    assert_eq!(
        stream.next_within(LIMIT).await.unwrap().json()["currentSentCount"],
        1
    );
    let resyncs = app.state.hub.bus_state().borrow().resyncs;

    // SIGSTOP: the subscription's connection stays open and silent.
    redis.pause();
    let bound = 2 * BUS_HEALTH_CHECK + Duration::from_millis(500);
    eventually(bound, "the hub sees the bus down", || async { !bus_up() }).await;

    // Meanwhile the stream polls: a change that only reached the archive
    // (Redis is hung) still arrives.
    handle.record(4, 0).unwrap();
    handle.flush().await;
    let polled = stream.next_within(LIMIT).await.unwrap();
    assert_eq!(polled.json()["currentSentCount"], 5, "{polled:?}");

    redis.resume();
    eventually(LIMIT, "the bus is back", || async {
        let state = *app.state.hub.bus_state().borrow();
        state.up && state.resyncs > resyncs
    })
    .await;
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn over_nats_a_stream_follows_the_job_and_a_lost_bus_loses_no_final_state(
    pool: sqlx::PgPool,
) {
    let mut nats = NatsServer::nats().await;
    let nats_url = nats.url();
    let app = spawn_app_with(pool, |o| o.nats = Some(nats_url)).await;
    let redis = RedisStore::new(
        &redis_url(),
        app.keys.clone(),
        Ttls::default(),
        Duration::from_millis(200),
    )
    .unwrap()
    .without_publishing();
    let publisher = Publisher::nats(&nats.url(), app.keys.events_channel())
        .await
        .unwrap();
    let writer = ProgressWriter::new(
        Arc::new(redis) as Arc<dyn HotStore>,
        Arc::clone(&app.archive),
        eager(),
    )
    .with_publisher(publisher);
    let handle = writer.start(job("over-nats"), JobSpec::new(10));
    handle.flush().await;
    let mut stream = SseStream::open(
        &format!("{}/api/v1/jobs/over-nats/events", app.address),
        None,
    )
    .await;
    assert_eq!(
        stream.next_within(LIMIT).await.unwrap().json()["currentSentCount"],
        0
    );

    handle.record(4, 0).unwrap();
    let seen = stream.next_within(LIMIT).await.unwrap();
    assert_eq!(seen.json()["currentSentCount"], 4, "delivered through NATS");

    nats.kill();
    handle.record(6, 0).unwrap();
    handle.complete().await.unwrap();
    nats.restart().await;

    let events = stream.until("end", LIMIT).await;
    let last = &events[events.len() - 2];
    assert_eq!(status(last), "completed");
    assert_eq!(last.json()["currentSentCount"], 10);
}

async fn the_active_stream_sees_a_job_appear_progress_and_leave(stores: Stores) {
    let app = stores.spawn().await;
    let mut stream =
        SseStream::open(&format!("{}/api/v1/jobs/active/events", app.address), None).await;
    let snapshot = stream.next_within(LIMIT).await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.json(), serde_json::json!([]));

    let handle = app.writer(eager()).start(job("newcomer"), JobSpec::new(4));
    handle.flush().await;
    let joined = stream.next_within(LIMIT).await.unwrap();
    assert_eq!(
        (joined.event.as_str(), joined.json()["jobId"].clone()),
        ("progress", "newcomer".into()),
        "it appears"
    );
    assert_eq!(status(&joined), "in_progress");

    handle.record(2, 0).unwrap();
    handle.flush().await;
    handle.complete().await.unwrap();
    let events = stream.until("leave", LIMIT).await;
    let (leave, progress) = events.split_last().unwrap();
    assert!(
        progress
            .iter()
            .all(|e| e.event == "progress" && e.json()["jobId"] == "newcomer"),
        "{events:?}"
    );
    let last = progress.last().expect("its final state before it leaves");
    assert_eq!(status(last), "completed");
    assert_eq!(last.json()["currentSentCount"], 2);
    assert_eq!(leave.json(), serde_json::json!({"jobId": "newcomer"}));
    eventually(
        LIMIT,
        "it leaves the list (once the cache has it)",
        || async { envelope(app.get_active("").await).await["data"] == serde_json::json!([]) },
    )
    .await;
}

async fn a_stream_of_chosen_jobs_sends_only_theirs(stores: Stores) {
    let app = stores.spawn().await;
    let writer = app.writer(eager());
    let chosen = writer.start(job("chosen"), JobSpec::new(10));
    let other = writer.start(job("other"), JobSpec::new(10));
    chosen.flush().await;
    other.flush().await;
    let mut stream = SseStream::open(
        &format!(
            "{}/api/v1/jobs/active/events?ids=chosen,absent",
            app.address
        ),
        None,
    )
    .await;
    let snapshot = stream.next_within(LIMIT).await.unwrap();
    let listed: Vec<_> = snapshot
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["jobId"].clone())
        .collect();
    assert_eq!(listed, ["chosen"]);

    other.record(5, 0).unwrap();
    other.flush().await;
    chosen.record(3, 0).unwrap();
    chosen.flush().await;
    let next = stream.next_within(LIMIT).await.unwrap();
    assert_eq!(
        (
            next.json()["jobId"].clone(),
            next.json()["currentSentCount"].clone()
        ),
        ("chosen".into(), 3.into())
    );

    let too_many: Vec<String> = (0..101).map(|i| format!("j{i}")).collect();
    let refused = app
        .get_active(&format!("/events?ids={}", too_many.join(",")))
        .await;
    assert_eq!(refused.status(), 400);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn unknown_and_bad_jobs_get_the_polling_answers_and_the_cap_a_503(pool: sqlx::PgPool) {
    let app = spawn_app_with(pool, |o| o.settings.push.sse_max_streams = 1).await;
    assert_eq!(app.get("/api/v1/jobs/nobody/events").await.status(), 404);
    assert_eq!(app.get("/api/v1/jobs/bad%20id/events").await.status(), 400);

    let _open = SseStream::open(&format!("{}/api/v1/jobs/active/events", app.address), None).await;
    let refused = app.get("/api/v1/jobs/active/events").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body = envelope(refused).await;
    assert!(
        body["message"].as_str().unwrap().contains("too many"),
        "{body}"
    );
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn on_sigterm_streams_end_at_once_and_the_server_exits(pool: sqlx::PgPool) {
    let app = spawn_app(pool.clone()).await;
    let handle = app.writer(eager()).start(job("long"), JobSpec::new(10));
    handle.flush().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(crate::SERVER_BINARY)
        .args(["serve", "--listen-addr", &format!("127.0.0.1:{port}")])
        .env("REDIS_URL", redis_url())
        .env("KEY_PREFIX", app.keys.prefix())
        .env("DATABASE_URL", database_url_for(&pool))
        .env("SHUTDOWN_TIMEOUT_SECS", "30")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let address = format!("http://127.0.0.1:{port}");
    eventually(LIMIT, "the server answers", || async {
        support::http_get(format!("{address}/healthz"))
            .await
            .is_ok()
    })
    .await;
    let mut stream = SseStream::open(&format!("{address}/api/v1/jobs/long/events"), None).await;
    assert_eq!(stream.next_within(LIMIT).await.unwrap().event, "progress");

    let started = std::time::Instant::now();
    let term = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());

    assert_eq!(stream.next_within(LIMIT).await, None, "the stream ends");
    assert!(server.wait().unwrap().success(), "a clean exit");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "streams do not hold the 30 s drain: {:?}",
        started.elapsed()
    );
}

support::on_both_stores!(
    a_reconnect_with_the_latest_id_gets_nothing_until_a_change_and_an_old_id_the_snapshot,
    the_active_stream_sees_a_job_appear_progress_and_leave,
    a_stream_of_chosen_jobs_sends_only_theirs,
);
