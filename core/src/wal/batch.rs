//! The payload of a frame: one write batch of one map and namespace, as
//! [`MapDataStore::write`](crate::MapDataStore::write) received it.
//!
//! Layout, version 1 (little-endian; lengths are `u32` byte counts; text is
//! UTF-8):
//!
//! ```text
//! u8  payload kind = 1 (write batch)
//! u8  namespace: 0 primary, 1 backup
//! u32 map length, map name
//! u32 number of operations
//! per operation:
//!   u8  1 = put, 2 = remove
//!   u32 key length, key
//!   put only: u32 record length, the record in the record format every
//!             byte-oriented backend stores (crate::datastores::format:
//!             version, expiry, max idle, write time, MessagePack value, CRC32C)
//! ```
//!
//! Decoding checks every length against the bytes left, the UTF-8 of every
//! string and each record (its own checksum and MessagePack), and refuses
//! trailing bytes; it never panics.

use crate::datastores::format::{decode_record, encode_record_into};
use crate::map_data_store::{
    DataStoreError, DataStoreErrorKind, DataStoreResult, Namespace, StoredRecord, WriteOp,
};

const KIND_BATCH: u8 = 1;
const OP_PUT: u8 = 1;
const OP_REMOVE: u8 = 2;

/// One operation of a decoded batch.
#[derive(Debug, Clone, PartialEq)]
pub enum LoggedOp {
    /// Store `record` under `key`.
    Put(String, StoredRecord),
    /// Delete `key`.
    Remove(String),
}

impl LoggedOp {
    /// The key the operation addresses.
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            LoggedOp::Put(k, _) | LoggedOp::Remove(k) => k,
        }
    }

    /// The operation as a [`WriteOp`] borrowing from `self`.
    #[must_use]
    pub fn as_write_op(&self) -> WriteOp<'_> {
        match self {
            LoggedOp::Put(key, record) => WriteOp::Put { key, record },
            LoggedOp::Remove(key) => WriteOp::Remove { key },
        }
    }
}

/// A decoded batch.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedBatch {
    /// The map.
    pub map: String,
    /// Its namespace.
    pub namespace: Namespace,
    /// The operations, in order.
    pub ops: Vec<LoggedOp>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Lengths above u32::MAX cannot occur: the log refuses payloads above
    // 1 GiB before they are written, and the batch is checked below.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

/// Encodes a batch into `out` (cleared first).
///
/// # Errors
///
/// [`Rejected`](DataStoreErrorKind::Rejected) if a string or value is
/// longer than 4 GiB - 1 bytes (the payload limit refuses it anyway).
pub fn encode_batch(
    out: &mut Vec<u8>,
    map: &str,
    namespace: Namespace,
    ops: &[WriteOp<'_>],
) -> DataStoreResult<()> {
    out.clear();
    out.push(KIND_BATCH);
    out.push(match namespace {
        Namespace::Primary => 0,
        Namespace::Backup => 1,
    });
    let too_long = |what: &str| {
        DataStoreError::new(
            DataStoreErrorKind::Rejected,
            format!("{what} is too long for the write-ahead log"),
        )
    };
    if u32::try_from(map.len()).is_err() || u32::try_from(ops.len()).is_err() {
        return Err(too_long("the map name or batch"));
    }
    put_str(out, map);
    put_len(out, ops.len());
    for op in ops {
        if u32::try_from(op.key().len()).is_err() {
            return Err(too_long("a key"));
        }
        match op {
            WriteOp::Put { key, record } => {
                out.push(OP_PUT);
                put_str(out, key);
                let len_at = out.len();
                out.extend_from_slice(&[0; 4]);
                encode_record_into(record, out)?;
                let len = u32::try_from(out.len() - len_at - 4).map_err(|_| too_long("a value"))?;
                out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
            }
            WriteOp::Remove { key } => {
                out.push(OP_REMOVE);
                put_str(out, key);
            }
        }
    }
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

fn bad(detail: impl std::fmt::Display) -> DataStoreError {
    DataStoreError::new(
        DataStoreErrorKind::Corrupt,
        format!("write-ahead log frame holds an unreadable batch: {detail}"),
    )
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> DataStoreResult<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(bad(format!("{n} bytes needed at offset {}", self.at)));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> DataStoreResult<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> DataStoreResult<u32> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }

    fn string(&mut self) -> DataStoreResult<String> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|e| bad(format!("a string is not UTF-8: {e}")))
    }
}

/// Decodes a payload written by [`encode_batch`].
///
/// # Errors
///
/// [`Corrupt`](DataStoreErrorKind::Corrupt) if the bytes are not a batch of
/// this version (a frame whose checksums pass always decodes, unless it was
/// written by a later version).
pub fn decode_batch(bytes: &[u8]) -> DataStoreResult<LoggedBatch> {
    let mut r = Reader { bytes, at: 0 };
    let kind = r.u8()?;
    if kind != KIND_BATCH {
        return Err(bad(format!("unknown payload kind {kind}")));
    }
    let namespace = match r.u8()? {
        0 => Namespace::Primary,
        1 => Namespace::Backup,
        other => return Err(bad(format!("unknown namespace {other}"))),
    };
    let map = r.string()?;
    let count = r.u32()? as usize;
    // Each operation takes at least 5 bytes: never reserve more than the
    // input can hold.
    let mut ops = Vec::with_capacity(count.min(bytes.len() / 5));
    for _ in 0..count {
        match r.u8()? {
            OP_PUT => {
                let key = r.string()?;
                let len = r.u32()? as usize;
                let record = decode_record(r.take(len)?)
                    .map_err(|e| bad(format!("the record of key {key:?}: {}", e.message())))?;
                ops.push(LoggedOp::Put(key, record));
            }
            OP_REMOVE => ops.push(LoggedOp::Remove(r.string()?)),
            other => return Err(bad(format!("unknown operation {other}"))),
        }
    }
    if r.at != bytes.len() {
        return Err(bad(format!("{} trailing bytes", bytes.len() - r.at)));
    }
    Ok(LoggedBatch {
        map,
        namespace,
        ops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordValue, Timestamp};

    #[test]
    fn batches_round_trip_and_damage_is_an_error_not_a_panic() {
        let rec = StoredRecord {
            value: RecordValue::lww("välue", Timestamp::new(5, 1, "n")),
            expiration_time: 99,
            max_idle_millis: 7,
            write_time: -3,
        };
        let ops = [
            WriteOp::Put {
                key: "",
                record: &rec,
            },
            WriteOp::Remove { key: "ключ" },
        ];
        let mut bytes = Vec::new();
        encode_batch(&mut bytes, "map", Namespace::Backup, &ops).unwrap();
        let batch = decode_batch(&bytes).unwrap();
        assert_eq!(batch.map, "map");
        assert_eq!(batch.namespace, Namespace::Backup);
        assert_eq!(
            batch.ops,
            [
                LoggedOp::Put(String::new(), rec.clone()),
                LoggedOp::Remove("ключ".into())
            ]
        );
        for cut in 0..bytes.len() {
            let err = decode_batch(&bytes[..cut]).unwrap_err();
            assert_eq!(err.kind(), DataStoreErrorKind::Corrupt);
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_batch(&longer).is_err());
        for i in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[i / 8] ^= 1 << (i % 8);
            // Either an error or some batch: never a panic.
            let _ = decode_batch(&flipped);
        }
    }
}
