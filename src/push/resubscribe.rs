//! How long a bus subscriber waits before subscribing again after it lost
//! its subscription, shared by every kind of bus.

use std::time::Duration;

/// The first pause before resubscribing after the subscription failed;
/// doubled up to [`MAX_RESUBSCRIBE_DELAY`]. A restarted Redis is back
/// within a fraction of a second, and meanwhile streams poll.
pub(super) const FIRST_RESUBSCRIBE_DELAY: Duration = Duration::from_millis(100);
/// The longest pause between attempts to resubscribe.
pub(super) const MAX_RESUBSCRIBE_DELAY: Duration = Duration::from_secs(2);
