//! Time as the record store sees it: an injectable millisecond clock.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of epoch milliseconds. Every time-based behaviour of a record
/// store (expiry, LRU order, metadata times) reads its clock, so tests can
/// drive time with a [`ManualClock`] instead of sleeping.
pub trait Clock: Send + Sync + Debug {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;
}

/// The system's wall clock. One `SystemTime::now()` call per read.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to. Clones share the same time, so a
/// test keeps one clone and hands another to the store.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock reading `start_millis`.
    #[must_use]
    pub fn new(start_millis: i64) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(start_millis)),
        }
    }

    /// Sets the time.
    pub fn set(&self, millis: i64) {
        self.now.store(millis, Ordering::SeqCst);
    }

    /// Moves the time by `delta_millis` (may be negative); returns the new
    /// time. Saturates instead of overflowing.
    pub fn advance(&self, delta_millis: i64) -> i64 {
        let mut current = self.now.load(Ordering::SeqCst);
        loop {
            let next = current.saturating_add(delta_millis);
            match self
                .now
                .compare_exchange(current, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(seen) => current = seen,
            }
        }
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        let shared = clock.clone();
        assert_eq!(shared.now_millis(), 1_000);
        assert_eq!(clock.advance(500), 1_500);
        assert_eq!(shared.now_millis(), 1_500);
        clock.set(10);
        assert_eq!(shared.now_millis(), 10);
        clock.set(i64::MAX - 1);
        assert_eq!(clock.advance(10), i64::MAX);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_millis() > 1_577_836_800_000);
    }
}
