//! Redis Cluster mode against a real local cluster of three masters:
//! writes and reads through the API, jobs spread over the masters, the
//! active list merged across buckets, live streams over sharded pub/sub,
//! and a master killed in the middle of a job.

use std::{collections::BTreeSet, num::NonZeroU16, time::Duration};

use chrono::Utc;
use job_progress::{
    domain::{JobId, JobStatus, ProgressRecord},
    store::{HotStore as _, Keys},
    write::JobSpec,
};
use serde_json::json;

use support::{
    AppWithTokens, Options, TestApp, app_with_tokens,
    cluster_harness::{RedisCluster, shared},
    counts, eager, envelope, eventually, job, job_ids,
    sse_client::{SseEvent, SseStream},
};

const LIMIT: Duration = Duration::from_secs(10);
const BUCKETS: NonZeroU16 = NonZeroU16::new(16).unwrap();

/// An app in cluster mode on `cluster`, with its tokens.
pub(crate) struct ClusterApp(AppWithTokens);

impl std::ops::Deref for ClusterApp {
    type Target = AppWithTokens;

    fn deref(&self) -> &AppWithTokens {
        &self.0
    }
}

/// The app on `cluster` (its first master as `REDIS_URL`), 16 buckets,
/// under a key prefix whose buckets fall on all three masters (almost
/// every prefix's do; the few that do not are skipped, so the tests
/// below never depend on luck).
pub(crate) async fn cluster_app(
    pool: sqlx::PgPool,
    cluster: &RedisCluster,
    tune: impl FnOnce(&mut Options),
) -> ClusterApp {
    let keys = loop {
        let keys = Keys::new(format!("test-{}:", uuid::Uuid::new_v4())).bucketed(BUCKETS);
        let mut masters = BTreeSet::new();
        for bucket in keys.buckets() {
            masters.insert(cluster.master_of(&keys.active_index(bucket)).await);
        }
        if masters.len() == cluster.masters() {
            break keys;
        }
    };
    let w = app_with_tokens(pool, |o| {
        o.redis_url = cluster.url();
        o.cluster_buckets = Some(BUCKETS);
        o.keys = Some(Keys::new(keys.prefix()));
        tune(o);
    })
    .await;
    ClusterApp(w)
}

impl ClusterApp {
    /// Job ids `<stem>-<n>`, `per_master` of them on each master (by the
    /// master of their bucket's slot), in the order of n.
    pub(crate) async fn ids_on_every_master(
        &self,
        cluster: &RedisCluster,
        stem: &str,
        per_master: usize,
    ) -> Vec<(JobId, usize)> {
        let mut counts = vec![0; cluster.masters()];
        let mut chosen = Vec::new();
        for n in 0.. {
            if counts.iter().all(|&count| count == per_master) {
                break;
            }
            let id = job(&format!("{stem}-{n}"));
            let master = cluster.master_of(&self.app.keys.progress(&id)).await;
            if counts[master] < per_master {
                counts[master] += 1;
                chosen.push((id, master));
            }
        }
        chosen
    }
}

fn status(event: &SseEvent) -> String {
    event.json()["status"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn jobs_written_and_read_through_the_api_spread_over_the_three_masters(pool: sqlx::PgPool) {
    let cluster = shared().await;
    let c = cluster_app(pool, cluster, |o| o.cache_ttl = Duration::ZERO).await;
    let jobs = c.ids_on_every_master(cluster, "spread", 8).await;

    // Over HTTP: the write script stores the value, the writer's state and
    // both index entries on one slot.
    for (n, (id, _)) in jobs.iter().enumerate() {
        let (declared, _) = c.declare(id.as_str(), json!({ "total": 100 })).await;
        assert_eq!(declared, 201);
        let (reported, _) = c.report(id.as_str(), counts(n as u64, 1)).await;
        assert_eq!(reported, 200);
    }

    for (n, (id, _)) in jobs.iter().enumerate() {
        let response = c.app.get_progress(id.as_str()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-progress-source"], "redis");
        let body = envelope(response).await;
        assert_eq!(body["data"]["successCount"], n);
        assert_eq!(body["data"]["currentSentCount"], n + 1);
    }
    // Each master holds exactly its jobs' keys (value, state, history) and
    // its buckets' indexes and names hashes (these jobs have no kind and no
    // parent).
    let keys = &c.app.keys;
    let mut expected = vec![BTreeSet::new(); cluster.masters()];
    for (id, master) in &jobs {
        let bucket = keys.bucket(id);
        expected[*master].extend([
            keys.progress(id),
            keys.state(id),
            keys.history(id),
            keys.active_index(bucket),
            keys.by_start_index(bucket),
            keys.top_index(bucket),
            keys.names(bucket),
        ]);
    }
    for (master, expected) in expected.iter().enumerate() {
        let found: BTreeSet<String> = cluster
            .keys_on(master, &format!("{{{}", keys.prefix()))
            .await
            .into_iter()
            .collect();
        assert_eq!(&found, expected, "the keys on master {master}");
        assert!(found.len() >= 8 * 2, "master {master} holds its 8 jobs");
    }
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn the_active_list_merges_every_bucket_by_start_with_paging_and_totals(pool: sqlx::PgPool) {
    let cluster = shared().await;
    let c = cluster_app(pool, cluster, |o| o.cache_ttl = Duration::ZERO).await;
    let jobs = c.ids_on_every_master(cluster, "listed", 12).await;
    // Starts in whole seconds, three or so jobs on each (ties, ordered by
    // id), and the last four without a start (listed last, by id).
    let now = Utc::now();
    let base = now - chrono::Duration::minutes(10);
    let mut expected: Vec<(Option<i64>, String)> = Vec::new();
    for (k, (id, _)) in jobs.iter().enumerate() {
        let mut record = ProgressRecord::new(id.clone(), JobStatus::InProgress, Some(10));
        let second = (k < jobs.len() - 4).then_some(((k * 7) % 11) as i64);
        record.started_at = second.map(|s| base + chrono::Duration::seconds(s));
        record.updated_at = Some(now);
        c.app.redis().write(&record).await.unwrap();
        expected.push((second, id.as_str().to_owned()));
    }
    expected.sort_by_key(|(second, id)| (second.unwrap_or(i64::MAX), id.clone()));
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

    let mut paged = Vec::new();
    for offset in (0..jobs.len() + 7).step_by(7) {
        let response = c.app.get_active(&format!("?limit=7&offset={offset}")).await;
        assert_eq!(response.headers()["x-total-count"], "36");
        assert_eq!(response.headers()["x-progress-source"], "redis");
        paged.extend(job_ids(&envelope(response).await));
    }
    assert_eq!(paged, expected, "pages, oldest start first, ties by id");
    let whole = envelope(c.app.get_active("?limit=10000").await).await;
    assert_eq!(job_ids(&whole), expected);

    // A value gone (a worker died, its TTL ran out): the listing that
    // meets it leaves it out of its page (one short), counts it out, and
    // prunes it from its bucket's indexes; the next page is whole.
    let gone = job(&expected[5]);
    let master = cluster.master_of(&c.app.keys.progress(&gone)).await;
    let mut node = cluster.node(master).await;
    let _: i64 = redis::cmd("DEL")
        .arg(c.app.keys.progress(&gone))
        .query_async(&mut node)
        .await
        .unwrap();
    let page = c.app.get_active("?limit=10").await;
    assert_eq!(page.headers()["x-total-count"], "35");
    let listed = job_ids(&envelope(page).await);
    let mut without: Vec<String> = expected.clone();
    without.remove(5);
    assert_eq!(listed, without[..9]);
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg(c.app.keys.by_start_index(c.app.keys.bucket(&gone)))
        .arg(gone.as_str())
        .query_async(&mut node)
        .await
        .unwrap();
    assert_eq!(score, None, "pruned from its bucket's index");
    let after = c.app.get_active("?limit=10").await;
    assert_eq!(after.headers()["x-total-count"], "35");
    assert_eq!(job_ids(&envelope(after).await), without[..10]);
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn streams_get_changes_from_every_master_over_sharded_pub_sub(pool: sqlx::PgPool) {
    let cluster = shared().await;
    // Reads are cached for a minute: only the bus can bring a change to a
    // stream within this test.
    let c = cluster_app(pool, cluster, |o| o.cache_ttl = Duration::from_secs(60)).await;
    let mut bus = c.app.state.hub.bus_state();
    tokio::time::timeout(LIMIT, bus.wait_for(|state| state.up))
        .await
        .expect("subscribed to every shard channel in time")
        .unwrap();
    let jobs = c.ids_on_every_master(cluster, "pushed", 1).await;
    let writer = c.app.writer(eager());
    let mut handles = Vec::new();
    for (id, _) in &jobs {
        let handle = writer.start(id.clone(), JobSpec::new(10));
        handle.flush().await;
        handles.push(handle);
    }
    let address = &c.app.address;
    let mut list = SseStream::open(&format!("{address}/api/v1/jobs/active/events"), None).await;
    assert_eq!(list.next_within(LIMIT).await.unwrap().event, "snapshot");
    let first = jobs[0].0.as_str();
    let mut one = SseStream::open(&format!("{address}/api/v1/jobs/{first}/events"), None).await;
    assert_eq!(
        one.next_within(LIMIT).await.unwrap().json()["currentSentCount"],
        0
    );

    for handle in &handles {
        handle.record(4, 1).unwrap();
        handle.flush().await;
    }

    let mut moved = BTreeSet::new();
    while moved.len() < jobs.len() {
        let event = list.next_within(LIMIT).await.unwrap();
        if event.event == "progress" && event.json()["currentSentCount"] == 5 {
            moved.insert(event.json()["jobId"].as_str().unwrap().to_owned());
        }
    }
    let expected: BTreeSet<String> = jobs.iter().map(|(id, _)| id.as_str().to_owned()).collect();
    assert_eq!(moved, expected, "a change from each master");
    assert_eq!(
        one.next_within(LIMIT).await.unwrap().json()["currentSentCount"],
        5
    );
    handles.remove(0).complete().await.unwrap();
    let events = one.until("end", LIMIT).await;
    assert_eq!(status(&events[events.len() - 2]), "completed");
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn a_master_killed_mid_job_falls_back_to_postgres_and_loses_nothing_once_back(
    pool: sqlx::PgPool,
) {
    let mut cluster = RedisCluster::start().await;
    let c = cluster_app(pool, &cluster, |o| o.cache_ttl = Duration::ZERO).await;
    // A job on a master other than the one the app was pointed at.
    let victim_job = c.ids_on_every_master(&cluster, "victim", 1).await;
    let (id, victim) = victim_job
        .into_iter()
        .find(|(_, master)| *master != 0)
        .unwrap();
    let source = |response: &reqwest::Response| {
        response.headers()["x-progress-source"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let handle = c.app.writer(eager()).start(id.clone(), JobSpec::new(100));
    handle.record(10, 0).unwrap();
    handle.flush().await;
    let response = c.app.get_progress(id.as_str()).await;
    assert_eq!(source(&response), "redis");
    let url = format!("{}/api/v1/jobs/{id}/events", c.app.address);
    let mut stream = SseStream::open(&url, None).await;
    assert_eq!(
        stream.next_within(LIMIT).await.unwrap().json()["currentSentCount"],
        10
    );
    let resyncs = c.app.state.hub.bus_state().borrow().resyncs;

    cluster.kill(victim);
    // The writer goes on: its Redis writes fail and are retried, its
    // checkpoints land, and reads are answered from them.
    handle.record(30, 0).unwrap();
    let flushed = handle.flush().await;
    assert!(flushed.archive && !flushed.hot, "{flushed:?}");
    let response = c.app.get_progress(id.as_str()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(source(&response), "database");
    assert_eq!(envelope(response).await["data"]["currentSentCount"], 40);
    handle.record(60, 0).unwrap();
    let finished = handle.complete().await.unwrap();
    assert!(finished.archive && !finished.hot, "{finished:?}");

    cluster.restart(victim).await;

    // The restarted master is empty; the writer's retry brings the final
    // state back, and the stream ends with it.
    eventually(
        Duration::from_secs(20),
        "the final state is in Redis again",
        || async {
            let response = c.app.get_progress(id.as_str()).await;
            if source(&response) != "redis" {
                return false;
            }
            let body = envelope(response).await;
            body["data"]["status"] == "completed" && body["data"]["currentSentCount"] == 100
        },
    )
    .await;
    let events = stream.until("end", Duration::from_secs(20)).await;
    let last = &events[events.len() - 2];
    assert_eq!(status(last), "completed");
    assert_eq!(last.json()["currentSentCount"], 100);
    let mut bus = c.app.state.hub.bus_state();
    tokio::time::timeout(
        Duration::from_secs(20),
        bus.wait_for(|state| state.up && state.resyncs > resyncs),
    )
    .await
    .expect("the subscription noticed the lost master and came back")
    .unwrap();
}

/// The value of the breaker gauge of the master at `node` (`host:port`),
/// if the process has one.
async fn node_breaker(app: &TestApp, node: &str) -> Option<f64> {
    let text = app.get("/metrics").await.text().await.unwrap();
    let label = format!("node=\"{node}\"");
    text.lines()
        .filter(|line| line.starts_with("job_progress_store_breaker_open{"))
        .find(|line| line.contains(&label))
        .and_then(|line| line.rsplit_once(' '))
        .map(|(_, value)| value.parse().unwrap())
}

#[sqlx::test(migrations = "migrations/postgres")]
async fn with_one_master_killed_jobs_on_the_others_are_still_read_from_redis(pool: sqlx::PgPool) {
    // The live masters go on serving their slots however long one is
    // down (by default the cluster refuses every command once the dead
    // one is marked failed, after the 15 s node timeout).
    let mut cluster = RedisCluster::start_with(&["--cluster-require-full-coverage", "no"]).await;
    let c = cluster_app(pool, &cluster, |o| o.cache_ttl = Duration::ZERO).await;
    let source = |response: &reqwest::Response| {
        response.headers()["x-progress-source"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let jobs = c.ids_on_every_master(&cluster, "kept", 2).await;
    let writer = c.app.writer(eager());
    let mut handles = Vec::new();
    for (id, _) in &jobs {
        let handle = writer.start(id.clone(), JobSpec::new(10));
        handle.record(3, 0).unwrap();
        let flushed = handle.flush().await;
        assert!(flushed.hot && flushed.archive, "{flushed:?}");
        handles.push(handle);
    }
    for (id, _) in &jobs {
        assert_eq!(source(&c.app.get_progress(id.as_str()).await), "redis");
    }
    // A scrape installs the process's recorder, so the gauges below are
    // recorded.
    assert_eq!(c.app.get("/metrics").await.status(), 200);
    let nodes: Vec<String> = (0..cluster.masters())
        .map(|at| cluster.node_url(at).replace("redis://", ""))
        .collect();

    // Not the master `REDIS_URL` names, which the client starts from.
    let victim = 2;
    cluster.kill(victim);
    let (dead, _) = jobs.iter().find(|(_, master)| *master == victim).unwrap();
    // Failures enough to open any breaker the dead master's calls count
    // against (three in a row open one).
    for _ in 0..5 {
        let response = c.app.get_progress(dead.as_str()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(source(&response), "database");
    }

    for round in 0..3 {
        for (id, master) in &jobs {
            let response = c.app.get_progress(id.as_str()).await;
            assert_eq!(response.status(), 200);
            let expected = if *master == victim {
                "database"
            } else {
                "redis"
            };
            assert_eq!(
                source(&response),
                expected,
                "round {round}: {id} on master {master}"
            );
            assert_eq!(envelope(response).await["data"]["currentSentCount"], 3);
        }
    }
    // Writes of jobs on the live masters still land in Redis.
    let (at, (live, _)) = jobs
        .iter()
        .enumerate()
        .find(|(_, (_, master))| *master != victim)
        .unwrap();
    handles[at].record(1, 0).unwrap();
    let flushed = handles[at].flush().await;
    assert!(flushed.hot && flushed.archive, "{flushed:?}");
    let response = c.app.get_progress(live.as_str()).await;
    assert_eq!(source(&response), "redis");
    assert_eq!(envelope(response).await["data"]["currentSentCount"], 4);

    assert_eq!(node_breaker(&c.app, &nodes[victim]).await, Some(1.0));
    for at in (0..cluster.masters()).filter(|&at| at != victim) {
        assert_eq!(node_breaker(&c.app, &nodes[at]).await, Some(0.0), "{at}");
    }

    // A page of the active list merges every bucket: with one master's
    // skipped, the whole page comes from the archive, none left out.
    let list = c.app.get_active("?limit=100").await;
    assert_eq!(source(&list), "database");
    assert_eq!(list.headers()["x-total-count"], jobs.len().to_string());
    // Readiness asks every master, so it says the cluster is not whole.
    let ready = envelope(c.app.get("/readyz").await).await;
    assert_eq!(ready["data"]["hot"]["state"], "down");
}
