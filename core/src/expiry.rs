//! Expiry rules: per-entry policies, store defaults, and when a record is
//! expired.
//!
//! * A per-entry TTL or max-idle greater than 0 wins; otherwise the store's
//!   default applies; 0 there means "never".
//! * TTL counts from the record's last write (`last_update_time`): a record
//!   with a TTL of `t` is expired at `now` when `now - last_update_time > t`
//!   (strictly greater, as in TopGun).
//! * Max-idle counts from the last touched read or write: expired when
//!   `now - max(last_access_time, last_update_time) > max_idle`.
//! * When both apply, TTL is checked first.

use crate::record::RecordMetadata;

/// The longest TTL or max-idle time, in ms: 2^63-1, the largest difference
/// of two `i64` epoch-ms times, and the range of a record's `ttlMs` (so a
/// limit read back from a record can be written again). The bindings refuse
/// a larger limit with an invalid-argument error; the core treats one as
/// this value (the record never expires).
pub const MAX_EXPIRY_MILLIS: u64 = i64::MAX as u64;

/// How long a record may live (`ttl_millis`) and sit unread
/// (`max_idle_millis`); 0 means "use the store default". Each is at most
/// [`MAX_EXPIRY_MILLIS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ExpiryPolicy {
    /// Time to live after the last write, in milliseconds.
    pub ttl_millis: u64,
    /// Longest time without a touched read or a write, in milliseconds.
    pub max_idle_millis: u64,
}

impl ExpiryPolicy {
    /// No per-entry policy: the store defaults apply.
    pub const NONE: Self = Self {
        ttl_millis: 0,
        max_idle_millis: 0,
    };

    /// A policy with only a TTL.
    #[must_use]
    pub fn ttl(ttl_millis: u64) -> Self {
        Self {
            ttl_millis,
            max_idle_millis: 0,
        }
    }

    /// A policy with only a max-idle time.
    #[must_use]
    pub fn max_idle(max_idle_millis: u64) -> Self {
        Self {
            ttl_millis: 0,
            max_idle_millis,
        }
    }

    /// This policy where it sets a limit, `defaults` where it does not.
    #[must_use]
    pub fn or(self, defaults: ExpiryPolicy) -> Self {
        Self {
            ttl_millis: if self.ttl_millis > 0 {
                self.ttl_millis
            } else {
                defaults.ttl_millis
            },
            max_idle_millis: if self.max_idle_millis > 0 {
                self.max_idle_millis
            } else {
                defaults.max_idle_millis
            },
        }
    }

    /// Whether any limit is set.
    #[must_use]
    pub fn is_set(&self) -> bool {
        self.ttl_millis > 0 || self.max_idle_millis > 0
    }
}

/// Why a record is (or is not) expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpiryReason {
    /// The record is live.
    NotExpired,
    /// Its time to live has passed.
    Ttl,
    /// It was not read or written for longer than its max-idle time.
    MaxIdle,
}

impl ExpiryReason {
    /// `true` for [`ExpiryReason::Ttl`] and [`ExpiryReason::MaxIdle`].
    #[must_use]
    pub fn is_expired(self) -> bool {
        self != ExpiryReason::NotExpired
    }
}

fn millis(limit: u64) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The effective policy of a record: its own limits, else `defaults`.
#[must_use]
pub fn effective_policy(meta: &RecordMetadata, defaults: ExpiryPolicy) -> ExpiryPolicy {
    ExpiryPolicy {
        ttl_millis: meta.ttl_millis,
        max_idle_millis: meta.max_idle_millis,
    }
    .or(defaults)
}

/// Whether the record with `meta` is expired at `now` under `defaults`.
/// O(1), no allocation.
#[must_use]
pub fn expiry_reason(meta: &RecordMetadata, defaults: ExpiryPolicy, now: i64) -> ExpiryReason {
    let policy = effective_policy(meta, defaults);
    if policy.ttl_millis > 0
        && now.saturating_sub(meta.last_update_time) > millis(policy.ttl_millis)
    {
        return ExpiryReason::Ttl;
    }
    let last_used = meta.last_access_time.max(meta.last_update_time);
    if policy.max_idle_millis > 0 && now.saturating_sub(last_used) > millis(policy.max_idle_millis)
    {
        return ExpiryReason::MaxIdle;
    }
    ExpiryReason::NotExpired
}

/// The absolute time (epoch ms) after which the record expires if nothing
/// touches it, or 0 for never; what a data store receives as
/// `expiration_time`. Saturates instead of overflowing.
#[must_use]
pub fn expiration_time(meta: &RecordMetadata, defaults: ExpiryPolicy) -> i64 {
    let policy = effective_policy(meta, defaults);
    let ttl_end = (policy.ttl_millis > 0).then(|| {
        meta.last_update_time
            .saturating_add(millis(policy.ttl_millis))
    });
    let idle_end = (policy.max_idle_millis > 0).then(|| {
        meta.last_access_time
            .max(meta.last_update_time)
            .saturating_add(millis(policy.max_idle_millis))
    });
    match (ttl_end, idle_end) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(created: i64) -> RecordMetadata {
        RecordMetadata::new(created, 0)
    }

    #[test]
    fn no_limits_never_expire() {
        let m = meta(0);
        assert_eq!(
            expiry_reason(&m, ExpiryPolicy::NONE, i64::MAX),
            ExpiryReason::NotExpired
        );
        assert_eq!(expiration_time(&m, ExpiryPolicy::NONE), 0);
    }

    #[test]
    fn ttl_is_strictly_greater() {
        let m = meta(1_000);
        let d = ExpiryPolicy::ttl(500);
        assert_eq!(expiry_reason(&m, d, 1_500), ExpiryReason::NotExpired);
        assert_eq!(expiry_reason(&m, d, 1_501), ExpiryReason::Ttl);
        assert_eq!(expiration_time(&m, d), 1_500);
    }

    #[test]
    fn ttl_counts_from_the_last_write() {
        let mut m = meta(1_000);
        m.on_update(2_000);
        assert_eq!(
            expiry_reason(&m, ExpiryPolicy::ttl(500), 2_400),
            ExpiryReason::NotExpired
        );
        assert_eq!(
            expiry_reason(&m, ExpiryPolicy::ttl(500), 2_501),
            ExpiryReason::Ttl
        );
    }

    #[test]
    fn max_idle_counts_from_the_last_touch() {
        let mut m = meta(0);
        let d = ExpiryPolicy::max_idle(100);
        m.on_access(90);
        assert_eq!(expiry_reason(&m, d, 190), ExpiryReason::NotExpired);
        assert_eq!(expiry_reason(&m, d, 191), ExpiryReason::MaxIdle);
        assert_eq!(expiration_time(&m, d), 190);
    }

    #[test]
    fn per_entry_limits_win_over_defaults() {
        let mut m = meta(0);
        m.ttl_millis = 50;
        let defaults = ExpiryPolicy {
            ttl_millis: 1_000,
            max_idle_millis: 10,
        };
        // Own TTL 50 wins over 1000; default max-idle 10 still applies.
        assert_eq!(expiry_reason(&m, defaults, 11), ExpiryReason::MaxIdle);
        m.max_idle_millis = 1_000;
        assert_eq!(expiry_reason(&m, defaults, 11), ExpiryReason::NotExpired);
        assert_eq!(expiry_reason(&m, defaults, 51), ExpiryReason::Ttl);
        assert_eq!(expiration_time(&m, defaults), 50);
    }

    #[test]
    fn ttl_is_checked_before_max_idle() {
        let m = meta(0);
        let d = ExpiryPolicy {
            ttl_millis: 10,
            max_idle_millis: 10,
        };
        assert_eq!(expiry_reason(&m, d, 11), ExpiryReason::Ttl);
    }

    #[test]
    fn huge_limits_saturate_to_never() {
        let m = meta(i64::MAX - 5);
        let d = ExpiryPolicy {
            ttl_millis: u64::MAX,
            max_idle_millis: u64::MAX,
        };
        assert_eq!(expiry_reason(&m, d, i64::MAX), ExpiryReason::NotExpired);
        assert_eq!(expiration_time(&m, d), i64::MAX);
        let past = meta(i64::MIN);
        assert_eq!(
            expiry_reason(&past, ExpiryPolicy::ttl(1), i64::MAX),
            ExpiryReason::Ttl
        );
    }
}
