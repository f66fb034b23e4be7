//! The on-disk format shared by the byte-oriented backends (redb, LMDB,
//! RocksDB): how a `(namespace, map, key)` becomes one ordered byte key, how
//! a [`StoredRecord`] becomes bytes, and the marker that says a file or
//! database holds a topgun-storage store.
//!
//! Every backend that stores bytes in one ordered keyspace uses exactly
//! these functions, so all of them write the same bytes for the same data
//! and one set of property tests (`core/tests/datastore_format.rs`) covers
//! them. docs/architecture.md ("The durable tier") describes the format for
//! readers of the files.
//!
//! # Keys (store format [`STORE_FORMAT_VERSION`] = 1)
//!
//! | bytes | meaning |
//! |---|---|
//! | 1 | keyspace tag: `0x00` store metadata, `0x01` [`Namespace::Primary`], `0x02` [`Namespace::Backup`] |
//! | map name | its UTF-8 bytes with every `0x00` written as `0x00 0xFF` |
//! | 2 | terminator `0x00 0x01` |
//! | key | its UTF-8 bytes, as they are |
//!
//! The escaped, terminated map name is prefix-free: no map's prefix
//! ([`map_prefix`]) is a prefix of another map's, so the keys of one map and
//! namespace form one contiguous range of the keyspace, ordered by the key's
//! UTF-8 bytes (the order [`MapDataStore::scan`](crate::MapDataStore::scan)
//! promises). Because UTF-8 never contains the byte `0xFF`, the keys that
//! start with a prefix end just before the prefix with its last byte
//! incremented, so a prefix scan is one range scan ([`scan_range`]). Maps
//! themselves sort by name (the escaping preserves byte order), so
//! [`MapDataStore::list_maps`](crate::MapDataStore::list_maps) walks the
//! keyspace skipping from one map to the next ([`MapEntry::next_map`]).
//! Map names and keys may be any UTF-8 string: empty, or holding NUL.
//!
//! # Records (record format [`RECORD_FORMAT_VERSION`] = 1)
//!
//! Integers little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | record format version, `1` |
//! | 1 | 8 | `expiration_time`, `i64` epoch ms (0: never) |
//! | 9 | 8 | `max_idle_millis`, `u64` (0: no limit) |
//! | 17 | 8 | `write_time`, `i64` epoch ms |
//! | 25 | 4 | `n`, the value's length, `u32` |
//! | 29 | `n` | the value as canonical MessagePack ([`crate::codec::encode_record_value`]) |
//! | 29 + `n` | 4 | CRC32C (Castagnoli) of bytes `0 .. 29 + n` |
//!
//! [`RECORD_OVERHEAD`] = 33 bytes on top of the value. The declared length
//! makes every truncation or extension an error, and the checksum every
//! flipped bit (CRC32C detects all errors of up to 32 consecutive bits), so
//! damaged bytes are reported, never read back as a different record.
//!
//! # Store marker
//!
//! Under [`MARKER_KEY`] (in the metadata keyspace) a store keeps
//! [`marker_value`]: the magic `topgun-storage\0` and the store format
//! version as a little-endian `u16`. A backend writes it when it creates a
//! store and checks it ([`check_marker`]) every time it opens one, so a
//! foreign or damaged file is refused instead of being opened empty.
//!
//! # Compatibility
//!
//! A later release reads every version this one writes: a change of layout
//! gets a new version number and the old decoder stays. Decoding a version
//! this build does not know is a [`DataStoreErrorKind::Corrupt`] error that
//! names the version.
//!
//! # Errors
//!
//! Every decoder returns [`DataStoreErrorKind::Corrupt`] errors whose
//! message says what was wrong (`"record truncated: 12 bytes, a record has
//! at least 33"`, `"record checksum mismatch: ..."`) and never panics,
//! whatever the input.

use crate::codec::{decode_record_value, encode_record_value_into, encoded_len};
use crate::map_data_store::{
    DataStoreError, DataStoreErrorKind, DataStoreResult, Namespace, ScanEntry, ScanPage,
    ScanRequest, StoredRecord,
};
use std::ops::Bound;

/// The version of the key layout and the store marker this build writes
/// (and the newest it reads).
pub const STORE_FORMAT_VERSION: u16 = 1;

/// The version of the record layout this build writes (and the newest it
/// reads).
pub const RECORD_FORMAT_VERSION: u8 = 1;

/// Bytes a record takes on top of its MessagePack value.
pub const RECORD_OVERHEAD: usize = HEADER_LEN + CRC_LEN;

/// The key of the store marker ([`marker_value`]).
pub const MARKER_KEY: &[u8] = b"\x00format";

/// Keyspace tag of store metadata (the marker).
pub const METADATA_TAG: u8 = 0x00;

const HEADER_LEN: usize = 1 + 8 + 8 + 8 + 4;
const CRC_LEN: usize = 4;
const MAGIC: &[u8] = b"topgun-storage\0";
const ESCAPE: u8 = 0x00;
const ESCAPED_NUL: u8 = 0xFF;
const TERMINATOR: u8 = 0x01;

fn corrupt(message: impl Into<String>) -> DataStoreError {
    DataStoreError::new(DataStoreErrorKind::Corrupt, message)
}

/// The keyspace tag of `namespace`.
#[must_use]
pub fn namespace_tag(namespace: Namespace) -> u8 {
    match namespace {
        Namespace::Primary => 0x01,
        Namespace::Backup => 0x02,
    }
}

fn namespace_of_tag(tag: u8) -> Option<Namespace> {
    match tag {
        0x01 => Some(Namespace::Primary),
        0x02 => Some(Namespace::Backup),
        _ => None,
    }
}

/// Appends the prefix every key of `map` in `namespace` starts with (tag,
/// escaped name, terminator) to `out`.
pub fn map_prefix_into(namespace: Namespace, map: &str, out: &mut Vec<u8>) {
    out.reserve(map.len() + 3);
    out.push(namespace_tag(namespace));
    for &b in map.as_bytes() {
        out.push(b);
        if b == ESCAPE {
            out.push(ESCAPED_NUL);
        }
    }
    out.extend_from_slice(&[ESCAPE, TERMINATOR]);
}

/// The length in bytes of [`map_prefix`] for `map` (either namespace).
#[must_use]
pub fn map_prefix_len(map: &str) -> usize {
    3 + map.len() + map.bytes().filter(|&b| b == ESCAPE).count()
}

/// The prefix every key of `map` in `namespace` starts with, and no key of
/// another map or namespace does.
#[must_use]
pub fn map_prefix(namespace: Namespace, map: &str) -> Vec<u8> {
    let mut out = Vec::new();
    map_prefix_into(namespace, map, &mut out);
    out
}

/// The stored key of `key` in `map`'s `namespace`.
///
/// Cost: one allocation of `map.len() + key.len() + 3` bytes (plus one byte
/// per NUL in `map`).
#[must_use]
pub fn encode_key(namespace: Namespace, map: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(map.len() + key.len() + 3);
    map_prefix_into(namespace, map, &mut out);
    out.extend_from_slice(key.as_bytes());
    out
}

/// The smallest byte string greater than every string that starts with
/// `bytes`, or `None` when there is none (`bytes` is empty or all `0xFF`).
#[must_use]
pub fn prefix_successor(bytes: &[u8]) -> Option<Vec<u8>> {
    let last = bytes.iter().rposition(|&b| b != 0xFF)?;
    let mut out = bytes[..=last].to_vec();
    out[last] += 1;
    Some(out)
}

/// The stored-key range of one page of a keyset scan: the keys of `map` in
/// `namespace` that start with `prefix` and are greater than `after`.
///
/// Returns `(start, end)` with `end` exclusive, or `None` when no key can
/// match (`after` is at or past the last key with the prefix), so callers
/// never build an inverted range.
#[must_use]
pub fn scan_range(
    namespace: Namespace,
    map: &str,
    prefix: &str,
    after: Option<&str>,
) -> Option<(Bound<Vec<u8>>, Vec<u8>)> {
    let mut low = map_prefix(namespace, map);
    let base = low.len();
    low.extend_from_slice(prefix.as_bytes());
    // The map prefix ends with the terminator byte 0x01 and UTF-8 never
    // holds 0xFF, so a successor always exists.
    let end = prefix_successor(&low)?;
    let start = match after {
        Some(after) if after >= prefix => {
            low.truncate(base);
            low.extend_from_slice(after.as_bytes());
            if low >= end {
                return None;
            }
            Bound::Excluded(low)
        }
        _ => Bound::Included(low),
    };
    Some((start, end))
}

/// The stored-key range `[start, end)` of every key in `namespace`, all
/// maps.
#[must_use]
pub fn namespace_range(namespace: Namespace) -> (Vec<u8>, Vec<u8>) {
    let tag = namespace_tag(namespace);
    (vec![tag], vec![tag + 1])
}

/// The user key of a stored key known to start with a map prefix of
/// `prefix_len` bytes (from [`map_prefix`] or [`scan_range`]).
///
/// # Errors
///
/// [`Corrupt`](DataStoreErrorKind::Corrupt) when the stored key is shorter
/// than the prefix or the rest is not UTF-8.
pub fn key_after_prefix(stored: &[u8], prefix_len: usize) -> DataStoreResult<&str> {
    let rest = stored.get(prefix_len..).ok_or_else(|| {
        corrupt(format!(
            "stored key of {} bytes is shorter than its map prefix ({prefix_len} bytes)",
            stored.len()
        ))
    })?;
    std::str::from_utf8(rest).map_err(|e| corrupt(format!("stored key is not UTF-8: {e}")))
}

/// Builds one page of a keyset scan from the stored entries of its range
/// ([`scan_range`]), fed in ascending order: every byte-ordered backend
/// walks its range with its own cursor and hands each entry here.
///
/// ```text
/// let mut page = PageBuilder::new(request);
/// while let Some((stored, value)) = cursor.current() {
///     if !page.push(stored, value)? { break; }
///     cursor.advance();
/// }
/// Ok(page.finish())
/// ```
#[derive(Debug)]
pub struct PageBuilder<'r> {
    request: &'r ScanRequest<'r>,
    prefix_len: usize,
    page: ScanPage,
}

impl<'r> PageBuilder<'r> {
    /// An empty page for `request`.
    #[must_use]
    pub fn new(request: &'r ScanRequest<'r>) -> Self {
        Self {
            request,
            prefix_len: map_prefix_len(request.map),
            page: ScanPage::default(),
        }
    }

    /// Adds the next stored entry of the range: its stored key and its
    /// record bytes (decoded only when the request asks for records).
    /// Returns `false` once the page is full; the entry that found it full
    /// is not added, it only tells that more follow (the page then gets a
    /// resume key).
    ///
    /// # Errors
    ///
    /// [`Corrupt`](DataStoreErrorKind::Corrupt) when the key or the record
    /// does not decode.
    pub fn push(&mut self, stored: &[u8], value: &[u8]) -> DataStoreResult<bool> {
        if self.page.entries.len() >= self.request.limit {
            self.page.resume_after = self.page.entries.last().map(|e| e.key.clone());
            return Ok(false);
        }
        let key = key_after_prefix(stored, self.prefix_len)?.to_owned();
        let record = if self.request.with_records {
            Some(decode_record(value)?)
        } else {
            None
        };
        self.page.entries.push(ScanEntry { key, record });
        Ok(true)
    }

    /// The page.
    #[must_use]
    pub fn finish(self) -> ScanPage {
        self.page
    }
}

/// A stored key taken apart by [`decode_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry<'a> {
    /// Its namespace.
    pub namespace: Namespace,
    /// Its map's name.
    pub map: String,
    /// Its user key.
    pub key: &'a str,
    /// Length of the map prefix (tag, escaped name, terminator) in bytes.
    pub prefix_len: usize,
}

impl MapEntry<'_> {
    /// The first stored key after every key of this entry's map and
    /// namespace: where a walk over the maps continues.
    #[must_use]
    pub fn next_map(&self) -> Vec<u8> {
        let mut prefix = map_prefix(self.namespace, &self.map);
        // The prefix ends with the terminator 0x01: incrementing it is the
        // successor.
        if let Some(last) = prefix.last_mut() {
            *last += 1;
        }
        prefix
    }
}

/// Takes a stored key of a map apart.
///
/// # Errors
///
/// [`Corrupt`](DataStoreErrorKind::Corrupt) naming what is wrong: an empty
/// key, an unknown keyspace tag (including the metadata tag, which holds no
/// map), a `0x00` followed by anything but `0xFF` or `0x01`, a missing
/// terminator, or a map name or key that is not UTF-8.
pub fn decode_key(stored: &[u8]) -> DataStoreResult<MapEntry<'_>> {
    let (&tag, rest) = stored
        .split_first()
        .ok_or_else(|| corrupt("stored key is empty"))?;
    let namespace = namespace_of_tag(tag)
        .ok_or_else(|| corrupt(format!("stored key has unknown keyspace tag 0x{tag:02x}")))?;
    let mut name = Vec::with_capacity(rest.len());
    let mut i = 0;
    let prefix_len = loop {
        match rest.get(i) {
            None => return Err(corrupt("stored key has no map-name terminator")),
            Some(&ESCAPE) => match rest.get(i + 1) {
                Some(&ESCAPED_NUL) => {
                    name.push(0);
                    i += 2;
                }
                Some(&TERMINATOR) => break 1 + i + 2,
                Some(&other) => {
                    return Err(corrupt(format!(
                        "stored key has byte 0x{other:02x} after 0x00 in its map name \
                         (expected 0xff or 0x01)"
                    )))
                }
                None => return Err(corrupt("stored key ends inside an escape of its map name")),
            },
            Some(&b) => {
                name.push(b);
                i += 1;
            }
        }
    };
    let map = String::from_utf8(name)
        .map_err(|e| corrupt(format!("stored map name is not UTF-8: {e}")))?;
    let key = key_after_prefix(stored, prefix_len)?;
    Ok(MapEntry {
        namespace,
        map,
        key,
        prefix_len,
    })
}

/// The encoded length of `record`: [`RECORD_OVERHEAD`] plus its value's
/// MessagePack length.
#[must_use]
pub fn record_len(record: &StoredRecord) -> usize {
    RECORD_OVERHEAD + encoded_len(&record.value)
}

/// Appends the encoding of `record` (layout in the [module docs](self)) to
/// `out`.
///
/// Cost: the value is encoded straight into `out` (the MessagePack
/// encoder's own sizing pass and its write; the declared length is filled
/// in afterwards), then one CRC32C over the result (hardware accelerated
/// where the CPU has it).
///
/// # Errors
///
/// [`Rejected`](DataStoreErrorKind::Rejected) when the value's MessagePack
/// encoding is longer than `u32::MAX` bytes; `out` is then unchanged.
pub fn encode_record_into(record: &StoredRecord, out: &mut Vec<u8>) -> DataStoreResult<()> {
    let start = out.len();
    out.reserve(RECORD_OVERHEAD);
    out.push(RECORD_FORMAT_VERSION);
    out.extend_from_slice(&record.expiration_time.to_le_bytes());
    out.extend_from_slice(&record.max_idle_millis.to_le_bytes());
    out.extend_from_slice(&record.write_time.to_le_bytes());
    // The value's length, known once it is written.
    out.extend_from_slice(&[0; 4]);
    encode_record_value_into(&record.value, out);
    let value_len = out.len() - start - HEADER_LEN;
    let Ok(declared) = u32::try_from(value_len) else {
        out.truncate(start);
        return Err(DataStoreError::new(
            DataStoreErrorKind::Rejected,
            format!("value of {value_len} bytes is larger than a record can hold (4 GiB)"),
        ));
    };
    out[start + HEADER_LEN - 4..start + HEADER_LEN].copy_from_slice(&declared.to_le_bytes());
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// The encoding of `record` (see [`encode_record_into`]).
///
/// # Errors
///
/// As [`encode_record_into`].
pub fn encode_record(record: &StoredRecord) -> DataStoreResult<Vec<u8>> {
    let mut out = Vec::new();
    encode_record_into(record, &mut out)?;
    Ok(out)
}

fn le_bytes<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

/// Decodes a record written by [`encode_record`] (or by any earlier
/// release).
///
/// Cost: one CRC32C over the bytes and one MessagePack decode of the value.
///
/// # Errors
///
/// [`Corrupt`](DataStoreErrorKind::Corrupt), naming what is wrong: no bytes,
/// an unknown format version, fewer bytes than the header and checksum, a
/// length that does not match the declared value length, a checksum
/// mismatch, or a value that is not a valid record value. Never panics.
pub fn decode_record(bytes: &[u8]) -> DataStoreResult<StoredRecord> {
    let &version = bytes
        .first()
        .ok_or_else(|| corrupt("record is empty (0 bytes)"))?;
    if version != RECORD_FORMAT_VERSION {
        return Err(corrupt(format!(
            "record has unknown format version {version} (this build reads version \
             {RECORD_FORMAT_VERSION})"
        )));
    }
    if bytes.len() < RECORD_OVERHEAD {
        return Err(corrupt(format!(
            "record truncated: {} bytes, a record has at least {RECORD_OVERHEAD}",
            bytes.len()
        )));
    }
    let declared = u32::from_le_bytes(le_bytes(bytes, 25));
    let value_end = HEADER_LEN.saturating_add(declared as usize);
    if value_end.checked_add(CRC_LEN) != Some(bytes.len()) {
        return Err(corrupt(format!(
            "record length mismatch: {} bytes, but it declares a value of {declared} bytes \
             ({} expected)",
            bytes.len(),
            u64::from(declared) + RECORD_OVERHEAD as u64
        )));
    }
    let stored_crc = u32::from_le_bytes(le_bytes(bytes, value_end));
    let crc = crc32c::crc32c(&bytes[..value_end]);
    if crc != stored_crc {
        return Err(corrupt(format!(
            "record checksum mismatch: stored 0x{stored_crc:08x}, computed 0x{crc:08x}"
        )));
    }
    let value = decode_record_value(&bytes[HEADER_LEN..value_end])
        .map_err(|e| corrupt(format!("record value is not a valid record value: {e}")))?;
    Ok(StoredRecord {
        value,
        expiration_time: i64::from_le_bytes(le_bytes(bytes, 1)),
        max_idle_millis: u64::from_le_bytes(le_bytes(bytes, 9)),
        write_time: i64::from_le_bytes(le_bytes(bytes, 17)),
    })
}

/// The store marker a backend writes under [`MARKER_KEY`] when it creates a
/// store: the magic `topgun-storage\0` and [`STORE_FORMAT_VERSION`].
#[must_use]
pub fn marker_value() -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&STORE_FORMAT_VERSION.to_le_bytes());
    out
}

/// Checks the store marker read from a store being opened, and returns its
/// store format version.
///
/// # Errors
///
/// [`Corrupt`](DataStoreErrorKind::Corrupt) when the marker is missing
/// (`None`: a foreign or damaged store), is not a topgun-storage marker, or
/// names a store format version newer than [`STORE_FORMAT_VERSION`] (a store
/// written by a later release, which this build cannot read).
pub fn check_marker(stored: Option<&[u8]>) -> DataStoreResult<u16> {
    let stored = stored.ok_or_else(|| {
        corrupt("no topgun-storage format marker: not a topgun-storage store, or a damaged one")
    })?;
    let version = stored
        .strip_prefix(MAGIC)
        .and_then(|rest| <[u8; 2]>::try_from(rest).ok())
        .map(u16::from_le_bytes)
        .ok_or_else(|| {
            corrupt(format!(
                "format marker {:?} is not a topgun-storage marker",
                String::from_utf8_lossy(stored)
            ))
        })?;
    if version == 0 || version > STORE_FORMAT_VERSION {
        return Err(corrupt(format!(
            "store format version {version} is not readable by this build (it reads versions \
             1 to {STORE_FORMAT_VERSION})"
        )));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordValue, Timestamp};

    fn record() -> StoredRecord {
        StoredRecord {
            value: RecordValue::lww("v", Timestamp::new(5, 1, "n")),
            expiration_time: 61_000,
            max_idle_millis: 500,
            write_time: 1_000,
        }
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let r = record();
        let bytes = encode_record(&r).unwrap();
        let value = crate::codec::encode_record_value(&r.value);
        assert_eq!(bytes.len(), RECORD_OVERHEAD + value.len());
        assert_eq!(bytes.len(), record_len(&r));
        assert_eq!(bytes[0], 1);
        assert_eq!(bytes[1..9], 61_000i64.to_le_bytes());
        assert_eq!(bytes[9..17], 500u64.to_le_bytes());
        assert_eq!(bytes[17..25], 1_000i64.to_le_bytes());
        assert_eq!(bytes[25..29], (value.len() as u32).to_le_bytes());
        assert_eq!(bytes[29..29 + value.len()], value[..]);
        let crc = crc32c::crc32c(&bytes[..29 + value.len()]);
        assert_eq!(bytes[29 + value.len()..], crc.to_le_bytes());
        assert_eq!(decode_record(&bytes).unwrap(), r);
    }

    #[test]
    fn keys_have_the_documented_layout() {
        assert_eq!(encode_key(Namespace::Primary, "", ""), [1, 0, 1]);
        assert_eq!(
            encode_key(Namespace::Backup, "a\0b", "k"),
            [2, b'a', 0, 0xFF, b'b', 0, 1, b'k']
        );
        let stored = encode_key(Namespace::Backup, "a\0b", "k\0");
        let entry = decode_key(&stored).unwrap();
        assert_eq!(
            (
                entry.namespace,
                entry.map.as_str(),
                entry.key,
                entry.prefix_len
            ),
            (Namespace::Backup, "a\0b", "k\0", 7)
        );
        assert_eq!(entry.next_map(), [2, b'a', 0, 0xFF, b'b', 0, 2]);
    }

    #[test]
    fn unknown_versions_and_foreign_markers_are_named() {
        let mut bytes = encode_record(&record()).unwrap();
        bytes[0] = 9;
        let err = decode_record(&bytes).unwrap_err();
        assert_eq!(err.kind(), DataStoreErrorKind::Corrupt);
        assert!(err.message().contains("unknown format version 9"), "{err}");
        assert_eq!(check_marker(Some(&marker_value())).unwrap(), 1);
        let err = check_marker(None).unwrap_err();
        assert!(err.message().contains("no topgun-storage format marker"));
        let mut newer = MAGIC.to_vec();
        newer.extend_from_slice(&7u16.to_le_bytes());
        let err = check_marker(Some(&newer)).unwrap_err();
        assert!(err.message().contains("store format version 7"), "{err}");
        let err = check_marker(Some(b"sqlite")).unwrap_err();
        assert!(
            err.message().contains("not a topgun-storage marker"),
            "{err}"
        );
    }

    #[test]
    fn a_page_takes_limit_entries_and_a_resume_key_only_when_more_follow() {
        let request = ScanRequest::entries("m", Namespace::Primary, 2);
        let r = encode_record(&record()).unwrap();
        let keys = ["a", "b", "c"].map(|k| encode_key(Namespace::Primary, "m", k));
        let mut page = PageBuilder::new(&request);
        assert!(page.push(&keys[0], &r).unwrap());
        assert!(page.push(&keys[1], &r).unwrap());
        assert!(!page.push(&keys[2], b"not even decoded").unwrap());
        let page = page.finish();
        let got: Vec<_> = page.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(got, ["a", "b"]);
        assert_eq!(page.entries[0].record, Some(record()));
        assert_eq!(page.resume_after.as_deref(), Some("b"));
        let keys_only = ScanRequest::keys("m", Namespace::Primary, 5);
        let mut page = PageBuilder::new(&keys_only);
        assert!(page.push(&keys[0], b"records are not decoded").unwrap());
        let page = page.finish();
        assert_eq!(
            (page.entries[0].record.clone(), page.resume_after),
            (None, None)
        );
        let mut page = PageBuilder::new(&request);
        let err = page.push(&keys[0], b"bad").unwrap_err();
        assert_eq!(err.kind(), DataStoreErrorKind::Corrupt);
    }
}
