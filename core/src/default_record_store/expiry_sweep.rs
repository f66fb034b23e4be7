//! The expiry sweep of [`DefaultRecordStore`]: removing records found
//! expired, and the incremental scan behind `evict_expired` and `maintain`
//! that visits a bounded number of entries per call from a cursor that
//! resumes where the previous call stopped, so every entry is looked at over
//! successive calls without any call costing more than its budget.

use super::{bump, DefaultRecordStore, PAGE};
use crate::cursor::IterationCursor;
use crate::expiry::ExpiryReason;
use crate::observer::{EventBuffer, PendingEvent};

impl DefaultRecordStore {
    /// Removes `key` if it is (still) expired at `now`.
    pub(super) fn remove_if_expired(
        &self,
        key: &str,
        now: i64,
        backup: bool,
        events: &mut EventBuffer,
    ) -> bool {
        let mut why = ExpiryReason::NotExpired;
        let removed = self.engine.remove_if(key, &mut |r| {
            why = self.reason(&r.metadata, now);
            why.is_expired()
        });
        match removed {
            Some(record) => {
                bump(&self.counters.expirations);
                events.push(|| PendingEvent::Expire(key.to_owned(), record, why, backup));
                true
            }
            None => false,
        }
    }

    /// Scans at most `budget` entries from the sweep cursor and removes the
    /// expired ones; returns (scanned, removed).
    pub(super) fn sweep_expired(
        &self,
        budget: usize,
        now: i64,
        backup: bool,
        events: &mut EventBuffer,
    ) -> (u64, u64) {
        let mut expired = Vec::new();
        let mut scanned = 0usize;
        {
            let mut cursor = self.sweep.lock();
            while scanned < budget {
                let page = (budget - scanned).min(PAGE);
                let next = self.engine.fetch_with(&cursor, page, &mut |key, record| {
                    scanned += 1;
                    if self.reason(&record.metadata, now).is_expired() {
                        expired.push(key.to_owned());
                    }
                    true
                });
                match next {
                    Ok(next) if !next.is_finished() => *cursor = next,
                    // The end (or a cursor the engine no longer accepts):
                    // start over on the next call.
                    _ => {
                        *cursor = IterationCursor::start();
                        break;
                    }
                }
            }
        }
        let mut removed = 0;
        for key in expired {
            if self.remove_if_expired(&key, now, backup, events) {
                removed += 1;
            }
        }
        (scanned as u64, removed)
    }
}
