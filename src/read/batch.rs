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
//! forms, and it is read as soon as one of the `flights` reads allowed at
//! once is free, and in a later `window` of the clock than the last one
//! (if the batcher has a window). So a lone miss on an idle server is read
//! at once, a busy server batches as deep as the store is slow, and with a
//! window of a millisecond the archive sees at most 1,000 queries a second
//! from one instance however many unknown ids arrive.
//!
//! Why more than one read in flight: a store's answer takes a round trip
//! however few ids it holds. With one read at a time, a load that just
//! missed a batch waits for that batch's whole answer before its own read
//! even begins; with a few, it waits at most for the next window.
//!
//! Why windows of the clock, not a least gap between two reads: a timer
//! fires on the millisecond tick at or after its deadline, so a gap of
//! 1 ms after a read begun mid-tick came to 1.5 ms on average, and under a
//! flood of unknown ids the reads went out every 2 ms or so, each load
//! waiting about a millisecond for its batch to begin. A batch waiting
//! for the next window waits at most to the next tick.
//!
//! A batch holds at most `max` loads; more waiting are read in the next
//! one, right after.

use std::{
    mem,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use futures_util::{FutureExt as _, future::BoxFuture};
use tokio::{
    sync::{Semaphore, oneshot},
    time::Instant,
};

/// Reads a batch: one answer per key, in the order given.
pub type ReadBatch<K, V> = dyn Fn(Vec<K>) -> BoxFuture<'static, Vec<V>> + Send + Sync;

/// Gathers loads into batches (see the module doc).
pub struct Batcher<K, V> {
    /// The batch forming now. A std mutex: held for a push or a take,
    /// never across an await.
    forming: Mutex<Forming<K, V>>,
    /// The window the last batch began in; held by the task about to
    /// begin one while it waits for the next window, so no two begin in
    /// one.
    began: tokio::sync::Mutex<Option<u128>>,
    /// Where the windows are counted from.
    epoch: Instant,
    /// One permit per read allowed in flight at once.
    flights: Semaphore,
    read: Box<ReadBatch<K, V>>,
    window: Duration,
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
            .field("window", &self.window)
            .field("flights_free", &self.flights.available_permits())
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl<K: Send + 'static, V: Send + 'static> Batcher<K, V> {
    /// A batcher reading batches of at most `max` keys with `read`, at
    /// most `flights` at once, no two begun in one `window` of the clock
    /// (zero: no windows).
    pub fn new(
        window: Duration,
        flights: usize,
        max: usize,
        read: Box<ReadBatch<K, V>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            forming: Mutex::new(Forming {
                keys: Vec::new(),
                replies: Vec::new(),
                led: false,
            }),
            began: tokio::sync::Mutex::new(None),
            epoch: Instant::now(),
            flights: Semaphore::new(flights.max(1)),
            read,
            window,
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

    /// Reads the batch forming, once a flight is free and (with windows)
    /// in a later window than the last batch began in; leaves what is left
    /// to a task of its own.
    ///
    /// Boxed: it spawns itself, and a recursive future needs a name.
    fn lead(self: Arc<Self>) -> BoxFuture<'static, ()> {
        async move {
            // The semaphore is never closed.
            let Ok(_flight) = self.flights.acquire().await else {
                return;
            };
            let (keys, replies) = {
                let mut began = self.began.lock().await;
                let mut window = self.window_now();
                if let (Some(last), Some(now)) = (*began, window)
                    && now <= last
                {
                    tokio::time::sleep_until(self.window_start(last + 1)).await;
                    window = self.window_now();
                }
                let mut forming = self.forming();
                let n = forming.keys.len().min(self.max);
                let keys: Vec<K> = forming.keys.drain(..n).collect();
                let replies: Vec<_> = forming.replies.drain(..n).collect();
                let more = !forming.keys.is_empty();
                forming.led = more;
                drop(forming);
                *began = window;
                if more {
                    // The next batch's own leader, waiting for a flight and
                    // the next window while this one is read.
                    tokio::spawn(Arc::clone(&self).lead());
                }
                (keys, replies)
            };
            let values = (self.read)(keys).await;
            for (reply, value) in replies.into_iter().zip(values) {
                // A waiter that went away is no one's concern.
                let _ = reply.send(value);
            }
        }
        .boxed()
    }

    /// The window of the clock it is now, if the batcher has windows.
    fn window_now(&self) -> Option<u128> {
        (!self.window.is_zero()).then(|| self.epoch.elapsed().as_nanos() / self.window.as_nanos())
    }

    /// When window `n` begins.
    fn window_start(&self, n: u128) -> Instant {
        let nanos = self.window.as_nanos().saturating_mul(n);
        self.epoch + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
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
    fn doubler(window: Duration, max: usize) -> (Arc<Batcher<u32, u32>>, Sizes) {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&sizes);
        let batcher = Batcher::new(
            window,
            1,
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
    async fn reads_overlap_up_to_their_flights_and_no_two_begin_in_one_window() {
        let flying = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(Mutex::new(Vec::new()));
        let (now_flying, most_flying, times) =
            (Arc::clone(&flying), Arc::clone(&most), Arc::clone(&started));
        // Each read takes 10 ms: with one flight the six would take 60.
        // The clock is paused: the batcher counts its windows from now.
        let epoch = Instant::now();
        let batcher = Batcher::new(
            Duration::from_millis(1),
            3,
            1,
            Box::new(move |keys: Vec<u32>| {
                let n = now_flying.fetch_add(1, Ordering::SeqCst) + 1;
                most_flying.fetch_max(n, Ordering::SeqCst);
                times.lock().unwrap().push(Instant::now());
                let done = Arc::clone(&now_flying);
                async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    done.fetch_sub(1, Ordering::SeqCst);
                    keys
                }
                .boxed()
            }),
        );
        let begun = epoch;
        let loads = (0..6).map(|k| {
            let batcher = Arc::clone(&batcher);
            async move { batcher.load(k).await }
        });
        let answers = futures_util::future::join_all(loads).await;
        assert_eq!(answers, (0..6).map(Some).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 3);
        let started = started.lock().unwrap();
        assert_eq!(started.len(), 6);
        let windows: Vec<u128> = started
            .iter()
            .map(|t| (*t - epoch).as_nanos() / Duration::from_millis(1).as_nanos())
            .collect();
        assert!(windows.windows(2).all(|w| w[0] < w[1]), "{windows:?}");
        assert!(begun.elapsed() < Duration::from_millis(30), "{started:?}");
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
