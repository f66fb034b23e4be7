//! Time as the record store sees it: an injectable millisecond clock.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
#[cfg(not(target_os = "linux"))]
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of epoch milliseconds. Every time-based behaviour of a record
/// store (expiry, LRU order, metadata times) reads its clock, so tests can
/// drive time with a [`ManualClock`] instead of sleeping.
pub trait Clock: Send + Sync + Debug {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;
}

/// The system's wall clock, read coarsely.
///
/// On Linux this is `CLOCK_REALTIME_COARSE` (the time of the last timer
/// tick, read from the vDSO without touching the clock hardware): about
/// 40 ns here against 210-370 ns for `SystemTime::now()` on the project's
/// VM, whose precise clock falls back to a system call. Its precision is
/// one kernel tick (`clock_getres`: 4 ms at 250 Hz, at most 10 ms), and it
/// never runs ahead of the precise clock. That is all the store needs:
///
/// * expiry (TTL, max-idle; millisecond settings) may happen up to one tick
///   late, never early: a record is never dropped before its time;
/// * recency (LRU / LFU sampling, `last_access_time`) only orders accesses,
///   and accesses within one tick tie, which sampled eviction already
///   tolerates (docs/benchmarks.md, RS3b: the hit ratio is unchanged);
/// * metadata times are the tick's time, up to one tick before the call.
///
/// Elsewhere, `SystemTime::now()`. Tests inject a [`ManualClock`] instead.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[cfg(target_os = "linux")]
    fn now_millis(&self) -> i64 {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
        t.tv_sec
            .saturating_mul(1000)
            .saturating_add(t.tv_nsec / 1_000_000)
    }

    #[cfg(not(target_os = "linux"))]
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

    #[test]
    fn system_clock_is_within_a_tick_of_the_precise_clock() {
        let precise = |()| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        };
        let before = precise(());
        let coarse = SystemClock.now_millis();
        let after = precise(());
        // Never ahead of the precise clock; behind by about one tick (10 ms
        // at 100 Hz, the coarsest kernel setting; 50 ms leaves room for a
        // busy machine).
        assert!(coarse <= after, "{coarse} > {after}");
        assert!(coarse >= before - 50, "{coarse} < {before} - 50");
    }
}
