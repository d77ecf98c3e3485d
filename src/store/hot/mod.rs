//! The hot stores: [`MemoryStore`], in this process, and [`RedisStore`],
//! on one Redis or a Redis Cluster.

mod memory;
mod redis;

// The store-wide names the stores below take from `super::`.
use super::{Held, HotStore, HotWrite, Keys, Replaced, StoreError, breaker, guard, keys};

pub use self::memory::MemoryStore;
pub use self::redis::{RedisStore, Ttls};
