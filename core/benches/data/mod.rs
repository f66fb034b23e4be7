//! The benchmark data set of docs/benchmarks.md: 16-byte ASCII keys and
//! records holding a 64-byte string value.

#![allow(dead_code)]

use topgun_storage_core::{Record, RecordMetadata, RecordValue, Timestamp, Value};

/// `n` distinct 16-byte ASCII keys.
pub fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key-{i:012}")).collect()
}

/// A record value with a 64-byte string, as TopGun's LWW maps hold.
pub fn value(i: usize) -> RecordValue {
    let mut s = format!("value-{i:010}-");
    while s.len() < 64 {
        s.push('x');
    }
    RecordValue::Lww {
        value: Value::String(s),
        timestamp: Timestamp::new(1_700_000_000_000 + i as u64, 0, "node-1"),
        ttl_ms: None,
    }
}

pub fn record(i: usize) -> Record {
    Record::new(value(i), RecordMetadata::new(1_700_000_000_000, 120))
}
