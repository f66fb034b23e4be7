//! Rows: a [`StoredRecord`] as the columns of TopGun's TypeScript table plus
//! this store's exact copy, and back (docs/postgres.md, "What is stored
//! where").
//!
//! The TS columns (`value JSONB`, `ts_millis`, `ts_counter`, `ts_node_id`,
//! `is_deleted`) are written exactly as TopGun's `PostgresAdapter` writes
//! them, so a TypeScript server reads our rows as its own. JSONB cannot hold
//! everything a record can (key order, bytes, integer versus float, NaN and
//! infinities, U+0000, `ttlMs`, expiry), so every row also gets the exact
//! copy in `tgs_record`: the whole [`StoredRecord`] in the record format of
//! [`format`](crate::datastores::format) (canonical MessagePack, the expiry
//! fields, a CRC32C). A row whose exact copy is missing (written by the TS
//! adapter, or rewritten by it, which clears the copy through the table's
//! trigger) is read from the TS columns, as the TS adapter reads it.

use crate::codec::{record_value_from_json, value_from_json};
use crate::datastores::format;
use crate::map_data_store::{DataStoreError, DataStoreErrorKind, DataStoreResult, StoredRecord};
use crate::record::{OrMapEntry, RecordValue, Timestamp};
use crate::value::Value;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::borrow::Cow;
use tokio_postgres::Row;

/// What TopGun's TS adapter writes in `ts_node_id` to mark an OR-map row
/// (`ORMAP_MARKER` in its `IServerStorage.ts`).
pub(super) const ORMAP_MARKER: &str = "__ORMAP__";

/// The character that stands for U+0000 in the TS columns, which cannot
/// hold it (the exact copy keeps the original).
const NUL_STAND_IN: &str = "\u{FFFD}";

/// The record columns every read of TopGun's table selects, in the order
/// [`decode_record`] reads them: the exact copy, the JSONB text only when
/// there is no exact copy (so a normal read does not transfer the value
/// twice), and the TS columns.
pub(super) const TS_RECORD_COLUMNS: &str = "tgs_record, \
     CASE WHEN tgs_record IS NULL THEN value::text END, ts_millis, ts_counter, ts_node_id, \
     is_deleted";

/// The same columns from the extra table, which has only the exact copy.
pub(super) const EXTRA_RECORD_COLUMNS: &str =
    "record, NULL::text, NULL::int8, NULL::int4, NULL::text, NULL::bool";

/// The TS columns of a batch of rows, one array per column (bound as arrays
/// and expanded with `UNNEST`).
#[derive(Debug, Default)]
pub(super) struct TsColumns {
    pub values: Vec<String>,
    pub ts_millis: Vec<i64>,
    pub ts_counters: Vec<i32>,
    pub ts_node_ids: Vec<String>,
    pub is_deleted: Vec<bool>,
}

impl TsColumns {
    /// Appends the TS adapter's columns for `value` (its `store()` row
    /// mapping). Where the columns cannot hold the record, they get the
    /// nearest stand-in and only the exact copy keeps the original: an LWW
    /// `millis` past `BIGINT` or `counter` past `INTEGER` is clamped to the
    /// column's maximum, U+0000 in the node id becomes U+FFFD, and an LWW
    /// node id equal to the OR-map marker `__ORMAP__` gets a U+FFFD after it
    /// (so the TS adapter still reads an LWW record).
    pub fn push(&mut self, value: &RecordValue) {
        match value {
            RecordValue::Lww {
                value, timestamp, ..
            } => {
                let mut node_id = ts_str(&timestamp.node_id).into_owned();
                if node_id == ORMAP_MARKER {
                    node_id.push_str(NUL_STAND_IN);
                }
                self.values.push(ts_json(&TsValue(value)));
                self.ts_millis
                    .push(i64::try_from(timestamp.millis).unwrap_or(i64::MAX));
                self.ts_counters
                    .push(i32::try_from(timestamp.counter).unwrap_or(i32::MAX));
                self.ts_node_ids.push(node_id);
                self.is_deleted.push(value.is_null());
            }
            RecordValue::OrMap { .. } | RecordValue::OrTombstones { .. } => {
                self.values.push(ts_json(&TsRecord(value)));
                self.ts_millis.push(0);
                self.ts_counters.push(0);
                self.ts_node_ids.push(ORMAP_MARKER.to_owned());
                self.is_deleted.push(false);
            }
        }
    }
}

/// The exact copy of `record`: its bytes in the record format of
/// [`format`](crate::datastores::format).
///
/// # Errors
///
/// [`Rejected`](DataStoreErrorKind::Rejected) for a value whose MessagePack
/// form exceeds 4 GiB.
pub(super) fn exact_copy(record: &StoredRecord) -> DataStoreResult<Vec<u8>> {
    format::encode_record(record)
}

/// Reads the record in the columns `first..first + 6` of `row` (selected by
/// [`TS_RECORD_COLUMNS`] or [`EXTRA_RECORD_COLUMNS`]).
///
/// # Errors
///
/// [`Corrupt`](DataStoreErrorKind::Corrupt), naming the table, map and key,
/// when the exact copy does not decode, or when a row without one has TS
/// columns the TS adapter could not have written (JSON that is not a
/// record, a negative timestamp).
pub(super) fn decode_record(
    row: &Row,
    first: usize,
    table: &str,
    map: &str,
    key: &str,
) -> DataStoreResult<StoredRecord> {
    let corrupt = |why: String| {
        DataStoreError::new(
            DataStoreErrorKind::Corrupt,
            format!("the row of key {key:?} in map {map:?} of table {table} cannot be read: {why}"),
        )
    };
    let get = |i: usize| first + i;
    let column = |e: tokio_postgres::Error| corrupt(format!("unexpected column type: {e}"));
    let exact: Option<&[u8]> = row.try_get(get(0)).map_err(column)?;
    if let Some(bytes) = exact {
        return format::decode_record(bytes)
            .map_err(|e| corrupt(format!("its exact copy does not decode: {e}")));
    }
    // No exact copy: read the TS columns as the TS adapter's mapRowToRecord.
    let json: Option<&str> = row.try_get(get(1)).map_err(column)?;
    let ts_millis: Option<i64> = row.try_get(get(2)).map_err(column)?;
    let ts_counter: Option<i32> = row.try_get(get(3)).map_err(column)?;
    let node_id: Option<String> = row.try_get(get(4)).map_err(column)?;
    let is_deleted: Option<bool> = row.try_get(get(5)).map_err(column)?;
    let (Some(ts_millis), Some(ts_counter), Some(node_id)) = (ts_millis, ts_counter, node_id)
    else {
        return Err(corrupt(
            "it has neither an exact copy nor TS columns".to_owned(),
        ));
    };
    if node_id == ORMAP_MARKER {
        let value = record_value_from_json(json.unwrap_or("null"))
            .map_err(|e| corrupt(format!("its OR-map value is not a TopGun record: {e}")))?;
        return Ok(StoredRecord::new(value, 0));
    }
    let millis = u64::try_from(ts_millis)
        .map_err(|_| corrupt(format!("ts_millis {ts_millis} is negative")))?;
    let counter = u32::try_from(ts_counter)
        .map_err(|_| corrupt(format!("ts_counter {ts_counter} is negative")))?;
    let value = match json {
        Some(text) if is_deleted != Some(true) => value_from_json(text)
            .map_err(|e| corrupt(format!("its value is not a TopGun value: {e}")))?,
        _ => Value::Null,
    };
    let record = RecordValue::Lww {
        value,
        timestamp: Timestamp::new(millis, counter, node_id),
        ttl_ms: None,
    };
    // The TS adapter keeps no write time; the HLC's wall-clock part is the
    // closest thing to one.
    Ok(StoredRecord::new(record, ts_millis))
}

// ---------------------------------------------------------------------------
// The JSONB column: what JSON.stringify makes of the value in TopGun's TS
// server, with stand-ins where JSONB cannot hold the value.

fn ts_json(view: &impl Serialize) -> String {
    // Writing to memory through views that never fail cannot fail.
    serde_json::to_string(view).unwrap_or_else(|_| "null".to_owned())
}

fn ts_str(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', NUL_STAND_IN))
    } else {
        Cow::Borrowed(s)
    }
}

/// A user value as `JSON.stringify` writes it, with JSONB's limits:
/// non-finite floats become `null` (as `JSON.stringify` does), U+0000 in a
/// string or key becomes U+FFFD, bytes become `{"$bytes": "<hex>"}` (the
/// codec's JSON form, so a TS server that writes the object back writes
/// bytes back).
struct TsValue<'a>(&'a Value);

impl Serialize for TsValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_unit(),
            Value::String(text) => s.serialize_str(&ts_str(text)),
            Value::Bytes(bytes) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("$bytes", &hex::encode(bytes))?;
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&TsValue(item))?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut m = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries.iter() {
                    m.serialize_entry(&ts_str(k), &TsValue(v))?;
                }
                m.end()
            }
        }
    }
}

struct TsTimestamp<'a>(&'a Timestamp);

impl Serialize for TsTimestamp<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("millis", &self.0.millis)?;
        m.serialize_entry("counter", &self.0.counter)?;
        m.serialize_entry("nodeId", &ts_str(&self.0.node_id))?;
        m.end()
    }
}

struct TsEntry<'a>(&'a OrMapEntry);

impl Serialize for TsEntry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("value", &TsValue(&e.value))?;
        m.serialize_entry("timestamp", &TsTimestamp(&e.timestamp))?;
        m.serialize_entry("tag", &ts_str(&e.tag))?;
        if let Some(ttl) = e.ttl_ms {
            m.serialize_entry("ttlMs", &ttl)?;
        }
        m.end()
    }
}

/// An OR value or OR tombstones as the whole object, as the TS adapter
/// stores them.
struct TsRecord<'a>(&'a RecordValue);

impl Serialize for TsRecord<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        match self.0 {
            RecordValue::OrMap { records } => {
                m.serialize_entry("type", "OR")?;
                let entries: Vec<TsEntry<'_>> = records.iter().map(TsEntry).collect();
                m.serialize_entry("records", &entries)?;
            }
            RecordValue::OrTombstones { tags } => {
                m.serialize_entry("type", "OR_TOMBSTONES")?;
                let tags: Vec<Cow<'_, str>> = tags.iter().map(|t| ts_str(t)).collect();
                m.serialize_entry("tags", &tags)?;
            }
            RecordValue::Lww {
                value,
                timestamp,
                ttl_ms,
            } => {
                m.serialize_entry("value", &TsValue(value))?;
                m.serialize_entry("timestamp", &TsTimestamp(timestamp))?;
                if let Some(ttl) = ttl_ms {
                    m.serialize_entry("ttlMs", ttl)?;
                }
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ValueMap;

    fn lww(value: Value) -> RecordValue {
        RecordValue::lww(value, Timestamp::new(1_700_000_000_000, 3, "node-a"))
    }

    #[test]
    fn lww_rows_are_the_ts_adapters_columns() {
        let mut ts = TsColumns::default();
        let map: ValueMap = [("b", Value::Int(1)), ("a", Value::Float(2.5))]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        ts.push(&lww(Value::from(map)));
        ts.push(&lww(Value::Null));
        assert_eq!(ts.values, [r#"{"b":1,"a":2.5}"#, "null"]);
        assert_eq!(ts.ts_millis, [1_700_000_000_000, 1_700_000_000_000]);
        assert_eq!(ts.ts_counters, [3, 3]);
        assert_eq!(ts.ts_node_ids, ["node-a", "node-a"]);
        assert_eq!(ts.is_deleted, [false, true]);
    }

    #[test]
    fn or_rows_are_the_whole_object_with_the_marker() {
        let mut ts = TsColumns::default();
        let or = RecordValue::OrMap {
            records: vec![OrMapEntry {
                value: Value::from("v"),
                timestamp: Timestamp::new(5, 1, "n"),
                tag: "t1".into(),
                ttl_ms: Some(60_000),
            }],
        };
        ts.push(&or);
        let tombs = RecordValue::OrTombstones {
            tags: vec!["t0".into()],
        };
        ts.push(&tombs);
        assert_eq!(
            ts.values,
            [
                r#"{"type":"OR","records":[{"value":"v","timestamp":{"millis":5,"counter":1,"nodeId":"n"},"tag":"t1","ttlMs":60000}]}"#,
                r#"{"type":"OR_TOMBSTONES","tags":["t0"]}"#
            ]
        );
        assert_eq!(ts.ts_millis, [0, 0]);
        assert_eq!(ts.ts_counters, [0, 0]);
        assert_eq!(ts.ts_node_ids, [ORMAP_MARKER, ORMAP_MARKER]);
        assert_eq!(ts.is_deleted, [false, false]);
    }

    #[test]
    fn the_jsonb_form_uses_stand_ins_where_jsonb_cannot_hold_the_value() {
        let v = Value::Array(vec![
            Value::Float(f64::NAN),
            Value::Float(f64::NEG_INFINITY),
            Value::Float(1.0),
            Value::from("a\0b"),
            Value::Bytes(vec![0, 255]),
            [("k\0", 1)].into_iter().collect(),
        ]);
        assert_eq!(
            ts_json(&TsValue(&v)),
            "[null,null,1.0,\"a\u{FFFD}b\",{\"$bytes\":\"00ff\"},{\"k\u{FFFD}\":1}]"
        );
    }

    #[test]
    fn what_the_ts_columns_cannot_hold_gets_a_stand_in() {
        let mut ts = TsColumns::default();
        for timestamp in [
            Timestamp::new(u64::MAX, u32::MAX, "a\0b"),
            Timestamp::new(1, 0, ORMAP_MARKER),
        ] {
            ts.push(&RecordValue::lww("v", timestamp));
        }
        assert_eq!(ts.ts_millis, [i64::MAX, 1]);
        assert_eq!(ts.ts_counters, [i32::MAX, 0]);
        assert_eq!(ts.ts_node_ids, ["a\u{FFFD}b", "__ORMAP__\u{FFFD}"]);
    }
}
