//! The hot-store contract for the state kept beside a record on its own:
//! `replace_state` swaps it only from the version it expects and leaves
//! the record as it was (its version, its history), so no stream hears of
//! it (on one Redis, on a cluster and in memory).

use job_progress::store::{Replaced, Ttls};

use super::{Make, cluster, id, memory, redis, running};

/// The state alone is replaced, from the version it expects, and nothing
/// else moves: the record keeps its version, its history gets no sample,
/// and the next update from that version still goes in.
async fn the_state_alone_is_replaced_from_the_version_it_expects(make: Make) {
    let store = make(Ttls::default()).await;
    let job = id("confirmed");
    assert!(
        !store.replace_state(&job, b"s0", 0).await.unwrap(),
        "no record, no state"
    );
    assert!(store.load(&job).await.unwrap().is_none());
    let Replaced::Written { version } = store
        .replace(&running("confirmed", 10, 1), b"s1", 0)
        .await
        .unwrap()
    else {
        panic!("the first replace is written");
    };
    let samples = store.history(&job).await.unwrap().len();
    assert!(
        !store.replace_state(&job, b"s2", version + 1).await.unwrap(),
        "another version"
    );
    assert!(store.replace_state(&job, b"s2", version).await.unwrap());
    let held = store.load(&job).await.unwrap().unwrap();
    assert_eq!(held.record.version, version, "the record is not rewritten");
    assert_eq!(held.record.current_sent_count, 10);
    assert_eq!(held.state.as_deref(), Some(&b"s2"[..]));
    assert_eq!(store.history(&job).await.unwrap().len(), samples);
    assert!(matches!(
        store
            .replace(&running("confirmed", 20, 1), b"s3", version)
            .await
            .unwrap(),
        Replaced::Written { .. }
    ));
}

contract!(the_state_alone_is_replaced_from_the_version_it_expects);
