//! [`Slots`]: the caps on open streams, for the instance
//! (`SSE_MAX_STREAMS`) and for each client address
//! (`SSE_MAX_STREAMS_PER_CLIENT`).
//!
//! A slot is a value, [`StreamSlot`], that the response body owns: it is
//! released when the body is dropped, which is when the connection ends
//! (the client went, or the stream finished), not when the task feeding
//! the stream next notices. A request that opens no stream (`HEAD`, an
//! error answer) never takes one.
//!
//! Per address, not per token: one read token is often shared by a team's
//! dashboards, and the address is what one misbehaving client cannot
//! multiply cheaply.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard},
};

/// Why a stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The instance has `SSE_MAX_STREAMS` open.
    Instance,
    /// This client has its cap open.
    Client {
        /// The cap (`SSE_MAX_STREAMS_PER_CLIENT`).
        cap: usize,
    },
}

/// The counts behind the caps; share with `Arc`.
#[derive(Debug)]
pub struct Slots {
    instance_cap: usize,
    /// 0: no cap per client.
    client_cap: usize,
    /// A std mutex: held for a count, never across an await. One lock for
    /// both counts, so a refusal never leaves either half-taken.
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    open: usize,
    /// Only addresses with a stream open: an entry leaves with its last.
    by_client: HashMap<IpAddr, usize>,
}

impl Slots {
    /// At most `instance_cap` streams in all, and `client_cap` per client
    /// address (0: no cap per client).
    pub fn new(instance_cap: usize, client_cap: usize) -> Self {
        Self {
            instance_cap,
            client_cap,
            counts: Mutex::default(),
        }
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // Each operation leaves the counts whole, so a poisoned lock is usable.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn refusal(&self, counts: &Counts, client: IpAddr) -> Option<Refused> {
        let of_client = counts.by_client.get(&client).copied().unwrap_or(0);
        if self.client_cap > 0 && of_client >= self.client_cap {
            Some(Refused::Client {
                cap: self.client_cap,
            })
        } else if counts.open >= self.instance_cap {
            Some(Refused::Instance)
        } else {
            None
        }
    }

    /// Whether `client` could open a stream now (for `HEAD`, which
    /// answers as `GET` would but holds nothing).
    pub fn check(&self, client: IpAddr) -> Result<(), Refused> {
        match self.refusal(&self.counts(), client) {
            Some(refused) => Err(refused),
            None => Ok(()),
        }
    }

    /// A slot for one more stream of `client`, unless a cap is reached.
    pub fn open(self: &Arc<Self>, client: IpAddr) -> Result<StreamSlot, Refused> {
        let mut counts = self.counts();
        if let Some(refused) = self.refusal(&counts, client) {
            return Err(refused);
        }
        counts.open += 1;
        *counts.by_client.entry(client).or_default() += 1;
        Ok(StreamSlot {
            slots: Arc::clone(self),
            client,
        })
    }

    /// How many streams are open.
    pub fn open_streams(&self) -> usize {
        self.counts().open
    }

    /// How many streams `client` has open.
    pub fn open_streams_of(&self, client: IpAddr) -> usize {
        self.counts().by_client.get(&client).copied().unwrap_or(0)
    }
}

/// One open stream's place under both caps; released when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<Slots>,
    client: IpAddr,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut counts = self.slots.counts();
        counts.open -= 1;
        if let Some(count) = counts.by_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                counts.by_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn the_instance_cap_refuses_streams_beyond_it_and_frees_places() {
        let slots = Arc::new(Slots::new(2, 0));
        let (a, _b) = (
            slots.open(address(1)).unwrap(),
            slots.open(address(2)).unwrap(),
        );
        assert_eq!(slots.open(address(3)).unwrap_err(), Refused::Instance);
        assert_eq!(slots.check(address(3)), Err(Refused::Instance));
        assert_eq!(slots.open_streams(), 2);
        drop(a);
        assert!(slots.open(address(3)).is_ok());
    }

    #[test]
    fn a_client_at_its_cap_is_refused_and_others_are_not() {
        let slots = Arc::new(Slots::new(10, 2));
        let held: Vec<_> = (0..2).map(|_| slots.open(address(1)).unwrap()).collect();
        assert_eq!(
            slots.open(address(1)).unwrap_err(),
            Refused::Client { cap: 2 }
        );
        assert!(slots.open(address(2)).is_ok(), "another address");
        assert_eq!(slots.open_streams_of(address(1)), 2);
        drop(held);
        assert_eq!(slots.open_streams_of(address(1)), 0);
        assert!(slots.counts().by_client.is_empty(), "no entry is left");
    }

    #[test]
    fn zero_means_no_cap_per_client() {
        let slots = Arc::new(Slots::new(1000, 0));
        let _held: Vec<_> = (0..500).map(|_| slots.open(address(1)).unwrap()).collect();
        assert_eq!(slots.open_streams(), 500);
    }
}
