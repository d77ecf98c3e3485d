//! How long a bus subscriber waits before subscribing again after it lost
//! its subscription, shared by every kind of bus.

use std::time::Duration;

use crate::backoff::Backoff;

/// The first pause before resubscribing after the subscription failed;
/// doubled up to [`MAX_RESUBSCRIBE_DELAY`]. A restarted Redis is back
/// within a fraction of a second, and meanwhile streams poll.
const FIRST_RESUBSCRIBE_DELAY: Duration = Duration::from_millis(100);
/// The longest pause between attempts to resubscribe.
const MAX_RESUBSCRIBE_DELAY: Duration = Duration::from_secs(2);
/// The pauses between attempts to resubscribe, reset once subscribed.
pub(super) const RESUBSCRIBE: Backoff =
    Backoff::new(FIRST_RESUBSCRIBE_DELAY, MAX_RESUBSCRIBE_DELAY);
