//! Loads that wait at the same moment share one store read.
//!
//! Every cache miss of one job is a load (`cache.rs`). Polled at random,
//! 10,000 jobs miss about 10,000 times a second, each for another job; a
//! flood of unknown ids misses on every request. A [`Batcher`] makes the
//! loads that wait together one read: one `MGET` of the hot store (with
//! each job's roll-up, in the same pipeline), one `WHERE job_id = ANY($1)`
//! of the archive.
//!
//! No timer gathers them. The first load to find no batch forming starts
//! one in a task of its own; while a batch is being read, the next one
//! forms, and it is read as soon as the first is done, and no sooner than
//! `gap` after the first began. So a lone miss on an idle server is read
//! at once, a busy server batches as deep as the store is slow, and with
//! a gap of a millisecond the archive sees at most 1,000 queries a second
//! from one instance however many unknown ids arrive.
//!
//! A batch holds at most `max` loads; more waiting are read in the next
//! one, right after.

use std::{
    mem,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use futures_util::future::BoxFuture;
use tokio::{sync::oneshot, time::Instant};

/// Reads a batch: one answer per key, in the order given.
pub type ReadBatch<K, V> = dyn Fn(Vec<K>) -> BoxFuture<'static, Vec<V>> + Send + Sync;

/// Gathers loads into batches (see the module doc).
pub struct Batcher<K, V> {
    /// The batch forming now. A std mutex: held for a push or a take,
    /// never across an await.
    forming: Mutex<Forming<K, V>>,
    /// When the last batch began; held by the task reading a batch, so
    /// one batch is read at a time.
    flight: tokio::sync::Mutex<Option<Instant>>,
    read: Box<ReadBatch<K, V>>,
    gap: Duration,
    max: usize,
}

struct Forming<K, V> {
    keys: Vec<K>,
    replies: Vec<oneshot::Sender<V>>,
    /// A task will take this batch.
    led: bool,
}

impl<K, V> std::fmt::Debug for Batcher<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("gap", &self.gap)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl<K: Send + 'static, V: Send + 'static> Batcher<K, V> {
    /// A batcher reading batches of at most `max` keys with `read`, each
    /// begun at least `gap` after the one before.
    pub fn new(gap: Duration, max: usize, read: Box<ReadBatch<K, V>>) -> Arc<Self> {
        Arc::new(Self {
            forming: Mutex::new(Forming {
                keys: Vec::new(),
                replies: Vec::new(),
                led: false,
            }),
            flight: tokio::sync::Mutex::new(None),
            read,
            gap,
            max: max.max(1),
        })
    }

    /// The answer for `key`, read with the other loads waiting now;
    /// `None` only if the reading task died (a panic in `read`).
    pub async fn load(self: &Arc<Self>, key: K) -> Option<V> {
        let (reply, answer) = oneshot::channel();
        let lead = {
            let mut forming = self.forming();
            forming.keys.push(key);
            forming.replies.push(reply);
            !mem::replace(&mut forming.led, true)
        };
        if lead {
            // In a task of its own: a caller that goes away must not take
            // the others' batch with it.
            tokio::spawn(Arc::clone(self).lead());
        }
        answer.await.ok()
    }

    /// Reads what forms, batch after batch, until nothing is left.
    async fn lead(self: Arc<Self>) {
        loop {
            let mut last = self.flight.lock().await;
            if let Some(last) = *last {
                tokio::time::sleep_until(last + self.gap).await;
            }
            let (keys, replies, more) = {
                let mut forming = self.forming();
                let n = forming.keys.len().min(self.max);
                let keys: Vec<K> = forming.keys.drain(..n).collect();
                let replies: Vec<_> = forming.replies.drain(..n).collect();
                let more = !forming.keys.is_empty();
                forming.led = more;
                (keys, replies, more)
            };
            *last = Some(Instant::now());
            let values = (self.read)(keys).await;
            drop(last);
            for (reply, value) in replies.into_iter().zip(values) {
                // A waiter that went away is no one's concern.
                let _ = reply.send(value);
            }
            if !more {
                return;
            }
        }
    }

    fn forming(&self) -> MutexGuard<'_, Forming<K, V>> {
        // Nothing panics while it is held; a poisoned lock's data is fine.
        self.forming.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::FutureExt as _;

    use super::*;

    /// The sizes of the batches read, in order.
    type Sizes = Arc<Mutex<Vec<usize>>>;

    /// A batcher that doubles its keys and records each batch's size.
    fn doubler(gap: Duration, max: usize) -> (Arc<Batcher<u32, u32>>, Sizes) {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&sizes);
        let batcher = Batcher::new(
            gap,
            max,
            Box::new(move |keys: Vec<u32>| {
                seen.lock().unwrap().push(keys.len());
                async move {
                    tokio::task::yield_now().await;
                    keys.into_iter().map(|k| k * 2).collect()
                }
                .boxed()
            }),
        );
        (batcher, sizes)
    }

    #[tokio::test]
    async fn loads_waiting_together_are_one_read_and_each_gets_its_own_answer() {
        let (batcher, sizes) = doubler(Duration::ZERO, 1000);
        let loads = (0..100).map(|k| {
            let batcher = Arc::clone(&batcher);
            async move { batcher.load(k).await }
        });
        let answers = futures_util::future::join_all(loads).await;
        assert_eq!(answers, (0..100).map(|k| Some(k * 2)).collect::<Vec<_>>());
        assert_eq!(*sizes.lock().unwrap(), vec![100]);
    }

    #[tokio::test]
    async fn a_batch_holds_at_most_max_and_the_rest_follow() {
        let (batcher, sizes) = doubler(Duration::ZERO, 30);
        let loads = (0..100).map(|k| {
            let batcher = Arc::clone(&batcher);
            async move { batcher.load(k).await }
        });
        let answers = futures_util::future::join_all(loads).await;
        assert!(answers.iter().all(Option::is_some));
        assert_eq!(*sizes.lock().unwrap(), vec![30, 30, 30, 10]);
    }

    #[tokio::test(start_paused = true)]
    async fn reads_begin_at_least_a_gap_apart() {
        let reads = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(Mutex::new(Vec::new()));
        let (count, times) = (Arc::clone(&reads), Arc::clone(&started));
        let batcher = Batcher::new(
            Duration::from_millis(1),
            1,
            Box::new(move |keys: Vec<u32>| {
                count.fetch_add(1, Ordering::SeqCst);
                times.lock().unwrap().push(Instant::now());
                async move { keys }.boxed()
            }),
        );
        let loads = (0..5).map(|k| {
            let batcher = Arc::clone(&batcher);
            async move { batcher.load(k).await }
        });
        futures_util::future::join_all(loads).await;
        assert_eq!(reads.load(Ordering::SeqCst), 5);
        let started = started.lock().unwrap();
        for pair in started.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(1), "{started:?}");
        }
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_leaves_the_others_answered() {
        let (batcher, _) = doubler(Duration::ZERO, 1000);
        // The first load leads; drop it before its answer.
        let first = Arc::clone(&batcher);
        let mut gone = Box::pin(async move { first.load(1).await });
        assert!(futures_util::poll!(gone.as_mut()).is_pending());
        let second = batcher.load(2);
        drop(gone);
        assert_eq!(second.await, Some(4));
    }
}
