//! A linearizability-style checker for snapshots: writer threads record
//! when each write began and ended on one global counter, and a state read
//! from a snapshot must be the state at one instant of the snapshot's
//! acquisition.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// One write: its interval on the global counter and what it left.
#[derive(Debug, Clone, Copy)]
pub struct Write {
    pub start: u64,
    pub end: u64,
    /// The version now current (`None`: the key is absent).
    pub version: Option<u64>,
}

/// What a writer asks its store to do to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Write a new record holding this version.
    Put(u64),
    /// Change the present record in place to this version.
    Update(u64),
    /// Remove the key.
    Remove,
}

/// One tick of the global counter.
pub fn tick(clock: &AtomicU64) -> u64 {
    clock.fetch_add(1, Ordering::SeqCst)
}

/// Runs `ops` writes on keys `{prefix}-k0 ..` (`keys` of them) chosen by a
/// seeded sequence: half puts, a fifth in-place updates of present keys,
/// the rest removals, each version one higher than the key's last. Returns
/// every key's history.
pub fn write_keys(
    prefix: &str,
    keys: usize,
    ops: usize,
    seed: u64,
    clock: &AtomicU64,
    mut apply: impl FnMut(&str, Op),
) -> BTreeMap<String, Vec<Write>> {
    let names: Vec<String> = (0..keys).map(|k| format!("{prefix}-k{k}")).collect();
    let mut histories = vec![Vec::<Write>::new(); keys];
    let mut next_version = vec![1u64; keys];
    let mut present = vec![false; keys];
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ seed.wrapping_add(1);
    for _ in 0..ops {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let k = (x % keys as u64) as usize;
        let v = next_version[k];
        next_version[k] += 1;
        let op = match (x >> 32) % 10 {
            0..=4 => Op::Put(v),
            5 | 6 if present[k] => Op::Update(v),
            _ => Op::Remove,
        };
        let start = tick(clock);
        apply(&names[k], op);
        let end = tick(clock);
        let version = match op {
            Op::Put(v) | Op::Update(v) => Some(v),
            Op::Remove => None,
        };
        present[k] = version.is_some();
        histories[k].push(Write {
            start,
            end,
            version,
        });
    }
    names.into_iter().zip(histories).collect()
}

/// Intersects sorted disjoint open intervals.
fn intersect(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo < hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// The instants (open intervals) at which `history` shows `seen`: state `j`
/// is current from when write `j` began (0: the start) until write `j + 1`
/// ended (never, for the last).
fn instants(history: &[Write], seen: Option<u64>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    let states = std::iter::once((0u64, None)).chain(history.iter().map(|w| (w.start, w.version)));
    for (j, (from, version)) in states.enumerate() {
        if version != seen {
            continue;
        }
        let until = history.get(j).map_or(u64::MAX, |next| next.end);
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(until),
            _ => out.push((from, until)),
        }
    }
    out
}

/// Checks that `observed` (key -> version; absent keys absent) is the state
/// of every key of `histories` at one instant strictly between `start` and
/// `end`, and that it holds no other key.
///
/// # Errors
/// A message naming the first key that no common instant explains.
pub fn check_one_instant(
    start: u64,
    end: u64,
    histories: &BTreeMap<String, Vec<Write>>,
    observed: &BTreeMap<String, u64>,
) -> Result<(), String> {
    if let Some(extra) = observed.keys().find(|k| !histories.contains_key(*k)) {
        return Err(format!("{extra} was never written"));
    }
    let mut allowed = vec![(start, end)];
    for (key, history) in histories {
        let seen = observed.get(key).copied();
        allowed = intersect(&allowed, &instants(history, seen));
        if allowed.is_empty() {
            return Err(format!(
                "ticks {start}..{end}: no single instant explains {key} = {seen:?}"
            ));
        }
    }
    Ok(())
}

/// Whether some write overlapped the interval `start..end`.
pub fn overlaps_writes(start: u64, end: u64, histories: &BTreeMap<String, Vec<Write>>) -> bool {
    histories
        .values()
        .flatten()
        .any(|w| w.start < end && w.end > start)
}
