//! The coalescing queue of a write-behind store: one entry per key with a
//! write not yet confirmed by the backend, in the order of their first
//! pending time.

use crate::map_data_store::{Namespace, StoredRecord, WriteOp};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

/// The state a queued key will have in the backend.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum QueuedOp {
    /// Shared, so the drain takes it without copying the value.
    Put(Arc<StoredRecord>),
    Remove,
}

/// One queued key.
#[derive(Debug)]
pub(super) struct Entry {
    /// The latest write of the key (later writes replace earlier ones: the
    /// backend only ever needs the last state, so order per key is kept).
    pub op: QueuedOp,
    /// Sequence number of the write that set `op`.
    pub seq: u64,
    /// When the oldest write not yet taken by the drain was accepted (a
    /// rewrite keeps it, so frequent updates do not postpone persistence).
    pub since: i64,
    /// Position in the drain order while the entry waits to be taken;
    /// `None` while it is being stored and nothing newer came.
    pub order: Option<u64>,
    /// Sequence number of the write being stored now, if any.
    pub in_flight: Option<u64>,
}

/// A key's place in the drain order. Stale slots (the entry was taken,
/// stored or re-ordered since) are skipped.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    pub order: u64,
    pub map: Arc<str>,
    pub namespace: Namespace,
    pub key: String,
}

/// A write taken by the drain.
#[derive(Debug, Clone)]
pub(super) struct Taken {
    pub slot: Slot,
    pub op: QueuedOp,
    pub seq: u64,
}

#[derive(Debug, Default)]
struct MapQueue {
    keys: [BTreeMap<String, Entry>; 2],
}

fn ns_index(namespace: Namespace) -> usize {
    match namespace {
        Namespace::Primary => 0,
        Namespace::Backup => 1,
    }
}

/// What the drain may take in one round.
#[derive(Debug, Clone, Copy)]
pub(super) struct Due {
    /// Entries first pending at or before this time are due.
    pub pending_before: i64,
    /// Entries whose order is below this are due (a flush asked for them).
    pub order_below: u64,
    /// Take the first entries whatever their age (a full batch waits).
    pub force: bool,
    /// Entries whose write has a sequence number above this are not durable
    /// in the log yet and wait.
    pub durable_through: u64,
    /// At most this many entries.
    pub limit: usize,
}

/// The queue. Not synchronised: the store keeps it under its state lock.
#[derive(Debug, Default)]
pub(super) struct Queue {
    maps: HashMap<Arc<str>, MapQueue>,
    order: VecDeque<Slot>,
    next_order: u64,
    len: usize,
    in_flight: usize,
}

impl Queue {
    /// Keys with a write not yet confirmed (in flight included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Keys being stored now.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Keys waiting to be taken.
    pub fn waiting(&self) -> usize {
        self.len - self.in_flight
    }

    /// The order the next queued key will get (a flush drains every key
    /// ordered below it).
    pub fn next_order(&self) -> u64 {
        self.next_order
    }

    /// The first pending time of the key the drain would take next.
    pub fn front_since(&mut self) -> Option<i64> {
        while let Some(slot) = self.order.front() {
            if let Some(e) = self.live(slot) {
                return Some(e.since);
            }
            self.order.pop_front();
        }
        None
    }

    fn live(&self, slot: &Slot) -> Option<&Entry> {
        let e = self.maps.get(&slot.map)?.keys[ns_index(slot.namespace)].get(&slot.key)?;
        (e.order == Some(slot.order)).then_some(e)
    }

    /// The queued state of a key: `None` if nothing is queued,
    /// `Some(None)` for a queued remove.
    pub fn get(&self, map: &str, namespace: Namespace, key: &str) -> Option<Option<&StoredRecord>> {
        let e = self.maps.get(map)?.keys[ns_index(namespace)].get(key)?;
        Some(match &e.op {
            QueuedOp::Put(r) => Some(&**r),
            QueuedOp::Remove => None,
        })
    }

    /// How many distinct keys of `keys` are not queued in `map`'s
    /// `namespace`.
    pub fn count_new<'k>(
        &self,
        map: &str,
        namespace: Namespace,
        keys: impl Iterator<Item = &'k str>,
    ) -> usize {
        let queued = self.maps.get(map).map(|m| &m.keys[ns_index(namespace)]);
        let is_new = |k: &str| queued.is_none_or(|q| !q.contains_key(k));
        let mut keys = keys.peekable();
        let Some(first) = keys.next() else {
            return 0;
        };
        if keys.peek().is_none() {
            // One key (the common write): no set needed.
            return usize::from(is_new(first));
        }
        let mut seen = HashSet::new();
        std::iter::once(first)
            .chain(keys)
            .filter(|k| is_new(k) && seen.insert(*k))
            .count()
    }

    /// Queues the ops of one accepted batch with sequence number `seq` at
    /// time `now`; returns how many replaced a queued write.
    pub fn push(
        &mut self,
        map: &str,
        namespace: Namespace,
        ops: &[WriteOp<'_>],
        seq: u64,
        now: i64,
    ) -> u64 {
        let map_key: Arc<str> = match self.maps.get_key_value(map) {
            Some((k, _)) => Arc::clone(k),
            None => Arc::from(map),
        };
        let keys =
            &mut self.maps.entry(Arc::clone(&map_key)).or_default().keys[ns_index(namespace)];
        let mut coalesced = 0;
        let mut next_order = self.next_order;
        let mut added = 0;
        let mut slots = Vec::new();
        for op in ops {
            let queued = match op {
                WriteOp::Put { record, .. } => QueuedOp::Put(Arc::new((*record).clone())),
                WriteOp::Remove { .. } => QueuedOp::Remove,
            };
            let key = op.key();
            let needs_slot = match keys.get_mut(key) {
                Some(e) => {
                    coalesced += 1;
                    e.op = queued;
                    e.seq = seq;
                    if e.order.is_some() {
                        // Still waiting: keeps its place and first time.
                        false
                    } else {
                        // Being stored: this write waits for the next round.
                        e.since = now;
                        e.order = Some(next_order);
                        true
                    }
                }
                None => {
                    keys.insert(
                        key.to_owned(),
                        Entry {
                            op: queued,
                            seq,
                            since: now,
                            order: Some(next_order),
                            in_flight: None,
                        },
                    );
                    added += 1;
                    true
                }
            };
            if needs_slot {
                slots.push(Slot {
                    order: next_order,
                    map: Arc::clone(&map_key),
                    namespace,
                    key: key.to_owned(),
                });
                next_order += 1;
            }
        }
        self.len += added;
        self.next_order = next_order;
        self.order.extend(slots);
        coalesced
    }

    /// Takes the due entries from the front of the order (see [`Due`]),
    /// marking them in flight.
    pub fn take(&mut self, due: Due) -> Vec<Taken> {
        let mut out = Vec::new();
        while out.len() < due.limit {
            let Some(slot) = self.order.front() else {
                break;
            };
            let entry = self
                .maps
                .get_mut(&slot.map)
                .and_then(|m| m.keys[ns_index(slot.namespace)].get_mut(&slot.key))
                .filter(|e| e.order == Some(slot.order));
            let Some(e) = entry else {
                // A stale slot: the key was taken or re-ordered since.
                self.order.pop_front();
                continue;
            };
            let is_due = due.force || e.since <= due.pending_before || slot.order < due.order_below;
            if !is_due || e.seq > due.durable_through {
                break;
            }
            e.order = None;
            e.in_flight = Some(e.seq);
            let (op, seq) = (e.op.clone(), e.seq);
            let Some(slot) = self.order.pop_front() else {
                break;
            };
            out.push(Taken { op, seq, slot });
            self.in_flight += 1;
        }
        out
    }

    /// The backend holds `taken`: drops each entry unless a newer write of
    /// its key came meanwhile (that one stays queued).
    pub fn confirm(&mut self, taken: &[Taken]) {
        for t in taken {
            let slot = &t.slot;
            let Some(m) = self.maps.get_mut(&slot.map) else {
                continue;
            };
            let keys = &mut m.keys[ns_index(slot.namespace)];
            let Some(mut e) = keys.remove(&slot.key) else {
                continue;
            };
            if e.in_flight.take().is_some() {
                self.in_flight -= 1;
            }
            if e.seq == t.seq {
                self.len -= 1;
                if m.keys.iter().all(BTreeMap::is_empty) {
                    self.maps.remove(&slot.map);
                }
            } else {
                // A newer write came while this one was stored: it stays.
                keys.insert(slot.key.clone(), e);
            }
        }
    }

    /// Storing `taken` failed: each entry goes back to its place at the
    /// front of the order (unless a newer write already queued it again).
    pub fn give_back(&mut self, taken: &[Taken]) {
        for t in taken.iter().rev() {
            let slot = &t.slot;
            let Some(e) = self
                .maps
                .get_mut(&slot.map)
                .and_then(|m| m.keys[ns_index(slot.namespace)].get_mut(&slot.key))
            else {
                continue;
            };
            if e.in_flight.take().is_some() {
                self.in_flight -= 1;
            }
            if e.order.is_none() {
                e.order = Some(slot.order);
                self.order.push_front(slot.clone());
            }
        }
    }

    /// The lowest sequence number held by a queued entry (the log may drop
    /// every frame below it once the backend is synced).
    pub fn min_seq(&self) -> Option<u64> {
        self.maps
            .values()
            .flat_map(|m| m.keys.iter())
            .flat_map(BTreeMap::values)
            .map(|e| e.seq)
            .min()
    }

    /// Queued states of `map`'s `namespace` for keys in `(after, upto]`
    /// starting with `prefix`, in key order, stopping after `max_puts`
    /// queued puts. Returns them and whether the range was cut short.
    pub fn range(
        &self,
        map: &str,
        namespace: Namespace,
        prefix: &str,
        after: Option<&str>,
        upto: Option<&str>,
        max_puts: usize,
    ) -> (Vec<(String, Option<StoredRecord>)>, bool) {
        let Some(m) = self.maps.get(map) else {
            return (Vec::new(), false);
        };
        let keys = &m.keys[ns_index(namespace)];
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded(a),
            _ => Bound::Included(prefix),
        };
        let end = upto.map_or(Bound::Unbounded, Bound::Included);
        let mut out = Vec::new();
        let mut puts = 0;
        for (k, e) in keys.range::<str, _>((start, end)) {
            if !k.starts_with(prefix) {
                break;
            }
            if puts == max_puts {
                return (out, true);
            }
            let record = match &e.op {
                QueuedOp::Put(r) => {
                    puts += 1;
                    Some((**r).clone())
                }
                QueuedOp::Remove => None,
            };
            out.push((k.clone(), record));
        }
        (out, false)
    }

    /// Maps with a queued put in either namespace, and maps with queued
    /// removes (whose backend keys may all be removed).
    pub fn maps_touched(&self) -> (Vec<String>, Vec<String>) {
        let mut with_puts = Vec::new();
        let mut with_removes = Vec::new();
        for (name, m) in &self.maps {
            let entries = || m.keys.iter().flat_map(BTreeMap::values);
            if entries().any(|e| matches!(e.op, QueuedOp::Put(_))) {
                with_puts.push(name.to_string());
            } else if entries().any(|e| e.op == QueuedOp::Remove) {
                with_removes.push(name.to_string());
            }
        }
        (with_puts, with_removes)
    }

    /// Whether `key` has a queued remove in `map`'s `namespace`.
    pub fn is_removed(&self, map: &str, namespace: Namespace, key: &str) -> bool {
        matches!(self.get(map, namespace, key), Some(None))
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        *self = Queue {
            next_order: self.next_order,
            ..Queue::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordValue, Timestamp};

    fn rec(v: &str) -> StoredRecord {
        StoredRecord::new(RecordValue::lww(v, Timestamp::new(1, 0, "n")), 1)
    }

    fn due(limit: usize) -> Due {
        Due {
            pending_before: i64::MAX,
            order_below: 0,
            force: false,
            durable_through: u64::MAX,
            limit,
        }
    }

    #[test]
    fn a_put_then_a_remove_ends_removed_and_keeps_the_first_time_and_place() {
        let mut q = Queue::default();
        let (a, b) = (rec("a"), rec("b"));
        q.push(
            "m",
            Namespace::Primary,
            &[WriteOp::Put {
                key: "k",
                record: &a,
            }],
            1,
            10,
        );
        q.push(
            "m",
            Namespace::Primary,
            &[WriteOp::Put {
                key: "j",
                record: &b,
            }],
            2,
            11,
        );
        let coalesced = q.push(
            "m",
            Namespace::Primary,
            &[WriteOp::Remove { key: "k" }],
            3,
            12,
        );
        assert_eq!((coalesced, q.len()), (1, 2));
        assert_eq!(q.get("m", Namespace::Primary, "k"), Some(None));
        assert_eq!(q.front_since(), Some(10));
        let taken = q.take(due(10));
        let keys: Vec<_> = taken.iter().map(|t| (t.slot.key.as_str(), t.seq)).collect();
        assert_eq!(keys, [("k", 3), ("j", 2)]);
        assert_eq!(taken[0].op, QueuedOp::Remove);
    }

    #[test]
    fn a_write_during_the_store_stays_queued_after_the_confirmation() {
        let mut q = Queue::default();
        let (a, b) = (rec("a"), rec("b"));
        q.push(
            "m",
            Namespace::Primary,
            &[WriteOp::Put {
                key: "k",
                record: &a,
            }],
            1,
            10,
        );
        let taken = q.take(due(10));
        assert_eq!((q.in_flight(), q.waiting()), (1, 0));
        q.push(
            "m",
            Namespace::Primary,
            &[WriteOp::Put {
                key: "k",
                record: &b,
            }],
            2,
            20,
        );
        assert_eq!(
            q.get("m", Namespace::Primary, "k"),
            Some(Some(&b)),
            "readers see the newest"
        );
        q.confirm(&taken);
        assert_eq!((q.len(), q.in_flight()), (1, 0));
        assert_eq!(q.front_since(), Some(20));
        let again = q.take(due(10));
        assert_eq!(again[0].op, QueuedOp::Put(Arc::new(b)));
        q.confirm(&again);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn a_failed_store_goes_back_to_the_front_in_order() {
        let mut q = Queue::default();
        let r = rec("a");
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            q.push(
                "m",
                Namespace::Primary,
                &[WriteOp::Put { key: k, record: &r }],
                i as u64 + 1,
                0,
            );
        }
        let taken = q.take(due(2));
        q.give_back(&taken);
        let all: Vec<_> = q.take(due(10)).into_iter().map(|t| t.slot.key).collect();
        assert_eq!(all, ["a", "b", "c"]);
    }

    #[test]
    fn entries_wait_for_their_age_a_flush_or_durability() {
        let mut q = Queue::default();
        let r = rec("a");
        q.push(
            "m",
            Namespace::Primary,
            &[WriteOp::Put {
                key: "a",
                record: &r,
            }],
            1,
            100,
        );
        q.push(
            "m",
            Namespace::Primary,
            &[WriteOp::Put {
                key: "b",
                record: &r,
            }],
            2,
            200,
        );
        let young = Due {
            pending_before: 99,
            ..due(10)
        };
        assert!(q.take(young).is_empty());
        let one = Due {
            pending_before: 150,
            ..due(10)
        };
        assert_eq!(q.take(one).len(), 1);
        let not_durable = Due {
            durable_through: 1,
            ..due(10)
        };
        assert!(q.take(not_durable).is_empty());
        let flushed = Due {
            pending_before: 0,
            order_below: q.next_order(),
            ..due(10)
        };
        assert_eq!(q.take(flushed).len(), 1);
    }

    #[test]
    fn new_keys_are_counted_once() {
        let mut q = Queue::default();
        let r = rec("a");
        q.push(
            "m",
            Namespace::Primary,
            &[WriteOp::Put {
                key: "a",
                record: &r,
            }],
            1,
            0,
        );
        let n = q.count_new("m", Namespace::Primary, ["a", "b", "b", "c"].into_iter());
        assert_eq!(n, 2);
        assert_eq!(q.count_new("m", Namespace::Backup, ["a"].into_iter()), 1);
    }
}
