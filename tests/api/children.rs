//! Parent and child jobs: children roll up into their parent's record
//! (`children`, summed counts), a parent declared with
//! `completeWithChildren` ends when its expected children all ended (and
//! not before), cancelling a parent asks its running children to stop,
//! jobs nest two deep, `/children` pages, the active list shows top-level
//! jobs unless asked, and a parent's read token reads its children.

use std::time::Duration;

use job_progress::{
    domain::{JobStatus, MAX_DEPTH},
    http::job_token::SigningKeys,
};
use serde_json::{Value, json};

use support::{AppWithTokens, Stores, app_with_tokens, counts, declaration, envelope, job};

async fn uncached(stores: Stores) -> AppWithTokens {
    app_with_tokens(stores, |options| {
        options.cache_ttl = Duration::ZERO;
        options.settings.access.token_signing_key =
            Some(SigningKeys::parse("children-signing-key-0123456789abcdef").unwrap());
    })
    .await
}

/// A child of `parent` with `total` targets.
fn child_of(parent: &str, total: u64) -> Value {
    let mut body = declaration(total);
    body["parentJobId"] = json!(parent);
    body
}

/// A parent without a total of its own that ends with its `expected`
/// children, by `policy`.
fn parent_of(expected: u64, policy: &str) -> Value {
    json!({
        "expectedChildren": expected,
        "completeWithChildren": true,
        "failurePolicy": policy,
        "refreshIntervalMs": 5000,
    })
}

/// Declares children `<parent>-<from>` to `<parent>-<to - 1>` of ten
/// targets each.
async fn declare_children(w: &AppWithTokens, parent: &str, from: u32, to: u32) {
    for n in from..to {
        let (status, body) = w
            .declare(&format!("{parent}-{n}"), child_of(parent, 10))
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

/// Ends child `<parent>-<n>`: completed with 10 done, or failed.
async fn end_child(w: &AppWithTokens, parent: &str, n: u32, fail: bool) -> (u16, Value) {
    let id = format!("{parent}-{n}");
    if fail {
        w.fail(
            &id,
            json!({"errorMessage": "bounced", "successCount": 6, "failureCount": 4}),
        )
        .await
    } else {
        w.complete(&id, counts(10, 0)).await
    }
}

async fn fifty_children_roll_up_into_the_parents_counts_and_final_status(stores: Stores) {
    let w = uncached(stores).await;
    let (status, body) = w.declare("import", parent_of(50, "fail")).await;
    assert_eq!(status, 201, "{body}");

    // The first 25 are declared and all end before the rest exist.
    declare_children(&w, "import", 0, 25).await;
    for n in 0..25 {
        w.report(&format!("import-{n}"), counts(5, 0)).await;
    }
    let parent = w.record("import").await;
    assert_eq!(parent["children"]["total"], 25);
    assert_eq!(parent["children"]["running"], 25);
    assert_eq!(parent["currentSentCount"], 125, "summed from the children");
    assert_eq!(parent["totalTargetCount"], 250);
    assert_eq!(parent["progressPercentage"], 50);
    for n in 0..25 {
        let (status, body) = end_child(&w, "import", n, false).await;
        assert_eq!(status, 200, "{body}");
    }
    let parent = w.record("import").await;
    assert_eq!(parent["children"]["completed"], 25);
    assert_eq!(
        parent["status"], "in_progress",
        "25 of 50 expected children ended: not the end"
    );

    declare_children(&w, "import", 25, 50).await;
    for n in 25..50 {
        let (status, body) = end_child(&w, "import", n, n == 40).await;
        assert_eq!(status, 200, "{body}");
    }
    // Ended by the last child's update, durable before its answer.
    let parent = w.record("import").await;
    assert_eq!(parent["status"], "failed", "{parent}");
    assert_eq!(
        parent["children"],
        json!({"total": 50, "running": 0, "completed": 49, "failed": 1, "cancelled": 0})
    );
    assert_eq!(parent["successCount"], 496);
    assert_eq!(parent["failureCount"], 4);
    assert!(
        parent["errorMessage"]
            .as_str()
            .unwrap()
            .contains("1 of its 50"),
        "{parent}"
    );
    let archived = w.app.archive.read(&job("import")).await.unwrap().unwrap();
    assert_eq!(archived.status, JobStatus::Failed);
    assert_eq!(archived.children.map(|c| c.completed), Some(49));
    assert_eq!(archived.total_target_count, Some(500));
}

async fn with_failure_policy_continue_a_failed_child_does_not_fail_the_parent(stores: Stores) {
    let w = uncached(stores).await;
    w.declare("batch", parent_of(3, "continue")).await;
    declare_children(&w, "batch", 0, 3).await;
    end_child(&w, "batch", 0, true).await;
    end_child(&w, "batch", 1, false).await;
    assert_eq!(w.record("batch").await["status"], "in_progress");
    end_child(&w, "batch", 2, false).await;
    let parent = w.record("batch").await;
    assert_eq!(parent["status"], "completed", "{parent}");
    assert_eq!(parent["children"]["failed"], 1);
}

async fn cancelling_a_parent_asks_its_running_children_to_stop(stores: Stores) {
    let w = uncached(stores).await;
    w.declare("nightly", declaration(100)).await;
    declare_children(&w, "nightly", 0, 3).await;
    let (status, _) = w.declare("nightly-0-a", child_of("nightly-0", 10)).await;
    assert_eq!(status, 201, "a grandchild");
    end_child(&w, "nightly", 2, false).await;

    let (status, body) = w
        .send_as(
            Some(&w.tokens.control),
            "POST",
            "/api/v1/jobs/nightly/cancel",
            json!({"reason": "wrong day"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for id in ["nightly-0", "nightly-1", "nightly-0-a"] {
        let record = w.record(id).await;
        assert_eq!(
            record["cancelRequested"]["reason"], "wrong day",
            "{id}: {record}"
        );
        // Durable before the parent's 200.
        let archived = w.app.archive.read(&job(id)).await.unwrap().unwrap();
        assert!(archived.cancel_requested.is_some(), "{id}");
    }
    let ended = w.record("nightly-2").await;
    assert!(ended.get("cancelRequested").is_none(), "{ended}");
}

async fn jobs_nest_two_deep_and_a_parent_must_exist(stores: Stores) {
    let w = uncached(stores).await;
    assert_eq!(MAX_DEPTH, 2);
    w.declare("top", declaration(10)).await;
    let (status, _) = w.declare("kid", child_of("top", 10)).await;
    assert_eq!(status, 201);
    let (status, _) = w.declare("grandkid", child_of("kid", 10)).await;
    assert_eq!(status, 201);
    let (status, body) = w.declare("too-deep", child_of("grandkid", 10)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("parentJobId"),
        "{body}"
    );
    // An unknown parent depends on what was declared before: a conflict.
    let (status, body) = w.declare("orphan", child_of("nobody", 10)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["data"]["reason"], "unknown_parent", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("unknown"),
        "{body}"
    );
    let (status, body) = w.declare("selfish", child_of("selfish", 10)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["data"]["reason"], "unknown_parent", "{body}");
    for id in ["too-deep", "orphan", "selfish"] {
        let response = w.app.get_progress(id).await;
        assert_eq!(response.status(), 404, "{id} was not stored");
    }
    let (status, body) = w
        .declare("no-count", json!({"completeWithChildren": true}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("expectedChildren"),
        "{body}"
    );
}

async fn children_are_paged_by_id_with_a_cursor(stores: Stores) {
    let w = uncached(stores).await;
    w.declare("family", declaration(10)).await;
    declare_children(&w, "family", 0, 5).await;
    w.report("family-3", counts(7, 0)).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let query = cursor
            .as_ref()
            .map_or_else(String::new, |c| format!("&cursor={c}"));
        let (status, body) = w
            .send(
                "GET",
                &format!("/api/v1/jobs/family/children?limit=2{query}"),
                json!(null),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        for job in body["data"]["jobs"].as_array().unwrap() {
            if job["jobId"] == "family-3" {
                assert_eq!(job["currentSentCount"], 7, "the live record");
            }
            seen.push(job["jobId"].as_str().unwrap().to_owned());
        }
        match body["data"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).map(|n| format!("family-{n}")).collect();
    assert_eq!(seen, expected);

    let (status, _) = w
        .send("GET", "/api/v1/jobs/nobody/children", json!(null))
        .await;
    assert_eq!(status, 404);
    let (status, body) = w
        .send("GET", "/api/v1/jobs/family/children?limit=0", json!(null))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = w
        .send(
            "GET",
            "/api/v1/jobs/family/children?cursor=a%20b",
            json!(null),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

async fn the_active_list_shows_top_level_jobs_unless_children_are_asked_for(stores: Stores) {
    let w = uncached(stores).await;
    let mut parent = declaration(10);
    parent["kind"] = json!("import");
    w.declare("list-parent", parent).await;
    let mut child = child_of("list-parent", 10);
    child["kind"] = json!("import");
    w.declare("list-child", child).await;

    let ids = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|job| job["jobId"].as_str().unwrap().to_owned())
            .collect()
    };
    for (query, expected) in [
        ("", vec!["list-parent"]),
        ("?children=true", vec!["list-parent", "list-child"]),
        ("?kind=import", vec!["list-parent"]),
        (
            "?kind=import&children=true",
            vec!["list-parent", "list-child"],
        ),
        ("?q=list", vec!["list-parent"]),
        ("?q=list&children=true", vec!["list-parent", "list-child"]),
    ] {
        let body = envelope(w.app.get_active(query).await).await;
        assert_eq!(ids(&body), expected, "{query}: {body}");
    }
    let response = w.app.get_active("?children=maybe").await;
    assert_eq!(response.status(), 400);
}

async fn a_parents_read_token_reads_its_children_and_no_other_job(stores: Stores) {
    let w = uncached(stores).await;
    w.declare("shop", declaration(10)).await;
    w.declare("shop-1", child_of("shop", 10)).await;
    w.declare("elsewhere", declaration(10)).await;
    let (status, body) = w
        .send("POST", "/api/v1/jobs/shop/read-tokens", json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["token"].as_str().unwrap();
    for (path, expected) in [
        ("/api/v1/jobs/shop/progress", 200),
        ("/api/v1/jobs/shop/children", 200),
        ("/api/v1/jobs/shop-1/progress", 200),
        ("/api/v1/jobs/elsewhere/progress", 403),
    ] {
        let status = w.app.get_bearer(path, token).await.status().as_u16();
        assert_eq!(status, expected, "{path}");
    }
}

async fn a_parents_stream_carries_its_childrens_changes_at_most_once_a_second(stores: Stores) {
    let w = uncached(stores).await;
    w.declare("streamed", parent_of(10, "fail")).await;
    let url = format!("{}/api/v1/jobs/streamed/events", w.app.address);
    let mut stream = support::sse_client::SseStream::open(&url, None).await;
    let snapshot = stream.next_within(Duration::from_secs(10)).await.unwrap();
    assert!(snapshot.json().get("children").is_none());

    // A hundred child writes in a burst.
    let started = std::time::Instant::now();
    declare_children(&w, "streamed", 0, 10).await;
    for round in 1..=9 {
        for n in 0..10 {
            w.report(&format!("streamed-{n}"), counts(round, 0)).await;
        }
    }
    let burst = started.elapsed();
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let Some(event) = stream.next_within(Duration::from_secs(3)).await else {
            break;
        };
        let done = event.json()["currentSentCount"] == 90;
        events.push(event);
        if done {
            break;
        }
    }
    let last = events.last().expect("the children's changes").json();
    assert_eq!(last["children"]["running"], 10, "{last}");
    assert_eq!(last["currentSentCount"], 90, "{last}");
    // One re-read a second at most: far fewer events than writes.
    let allowed = burst.as_secs() as usize + 3;
    assert!(
        events.len() <= allowed,
        "{} events for 100 child writes in {burst:?}",
        events.len()
    );
}

support::on_both_stores!(
    a_parents_stream_carries_its_childrens_changes_at_most_once_a_second,
    fifty_children_roll_up_into_the_parents_counts_and_final_status,
    with_failure_policy_continue_a_failed_child_does_not_fail_the_parent,
    cancelling_a_parent_asks_its_running_children_to_stop,
    jobs_nest_two_deep_and_a_parent_must_exist,
    children_are_paged_by_id_with_a_cursor,
    the_active_list_shows_top_level_jobs_unless_children_are_asked_for,
    a_parents_read_token_reads_its_children_and_no_other_job,
);

/// On a three-master cluster, a parent and its fifty children spread over
/// every master: each child's roll-up crosses to its parent's slot, and the
/// parent ends with the last of them.
#[sqlx::test(migrations = "migrations/postgres")]
async fn fifty_children_on_every_master_roll_up_into_their_parent(pool: sqlx::PgPool) {
    let cluster = support::cluster_harness::shared().await;
    let c = crate::cluster::cluster_app(pool, cluster, |o| o.cache_ttl = Duration::ZERO).await;
    let children = c.ids_on_every_master(cluster, "part", 17).await;
    let (status, body) = c.declare("whole", parent_of(50, "continue")).await;
    assert_eq!(status, 201, "{body}");
    for (id, _) in children.iter().take(50) {
        let (status, body) = c.declare(id.as_str(), child_of("whole", 10)).await;
        assert_eq!(status, 201, "{body}");
        c.report(id.as_str(), counts(4, 0)).await;
    }
    let parent = c.record("whole").await;
    assert_eq!(parent["children"]["running"], 50, "{parent}");
    assert_eq!(parent["currentSentCount"], 200);
    for (n, (id, _)) in children.iter().take(50).enumerate() {
        let (status, body) = if n == 7 {
            c.fail(id.as_str(), json!({"errorMessage": "lost"})).await
        } else {
            c.complete(id.as_str(), counts(10, 0)).await
        };
        assert_eq!(status, 200, "{body}");
    }
    let parent = c.record("whole").await;
    assert_eq!(parent["status"], "completed", "{parent}");
    assert_eq!(
        parent["children"],
        json!({"total": 50, "running": 0, "completed": 49, "failed": 1, "cancelled": 0})
    );
    assert_eq!(parent["currentSentCount"], 494);
}
