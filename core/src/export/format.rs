//! The bytes of an export file (format 1): header, frames, record entries.
//! See the [`super`] module docs for the layout; this module only encodes
//! and decodes, with no I/O.

use crate::codec::{decode_record_value, encode_record_value_into};
use crate::record::{Record, RecordMetadata};

/// The first 8 bytes of every export file. The high first byte and the
/// CR LF / Ctrl-Z / LF tail catch files mangled by text-mode transfers.
pub(super) const MAGIC: [u8; 8] = *b"\x89TGX\r\n\x1a\n";

/// The format this build writes (and the newest it reads).
pub const FORMAT_VERSION: u16 = 1;

/// Header: magic, version, kind, reserved byte, instant, CRC32C.
pub(super) const HEADER_LEN: usize = 8 + 2 + 1 + 1 + 8 + 4;

/// Frame: tag, payload length, payload, CRC32C.
pub(super) const FRAME_OVERHEAD: usize = 1 + 4 + 4;

/// Tag of a frame that starts a store's records: partition, map name.
pub(super) const TAG_STORE: u8 = b'S';
/// Tag of a frame of records: count, then that many entries.
pub(super) const TAG_RECORDS: u8 = b'R';
/// Tag of the last frame: store count, record count, CRC32C of the file
/// before this frame.
pub(super) const TAG_END: u8 = b'E';

/// Bytes of a record's metadata in an entry.
const META_LEN: usize = 4 + 4 + 8 * 7;

/// What an export file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportKind {
    /// One record store (one map, one partition).
    Store,
    /// Every store of a `MapStorage` (any number of maps and partitions).
    Maps,
}

impl ExportKind {
    fn byte(self) -> u8 {
        match self {
            ExportKind::Store => 1,
            ExportKind::Maps => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(ExportKind::Store),
            2 => Some(ExportKind::Maps),
            _ => None,
        }
    }
}

/// The header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub kind: ExportKind,
    /// The snapshot's clock reading (epoch ms).
    pub instant: i64,
}

/// Why bytes are not a valid part of an export file (the caller adds the
/// path and offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FormatError {
    NotAnExport,
    UnsupportedVersion(u16),
    Damaged(String),
}

fn damaged(reason: impl Into<String>) -> FormatError {
    FormatError::Damaged(reason.into())
}

pub(super) fn encode_header(header: Header) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[0..8].copy_from_slice(&MAGIC);
    b[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    b[10] = header.kind.byte();
    b[12..20].copy_from_slice(&header.instant.to_le_bytes());
    let crc = crc32c::crc32c(&b[..20]);
    b[20..24].copy_from_slice(&crc.to_le_bytes());
    b
}

pub(super) fn decode_header(b: &[u8; HEADER_LEN]) -> Result<Header, FormatError> {
    if b[0..8] != MAGIC {
        return Err(FormatError::NotAnExport);
    }
    let version = u16::from_le_bytes([b[8], b[9]]);
    if crc32c::crc32c(&b[..20]) != read_u32(&b[20..24]) {
        return Err(damaged("header checksum mismatch"));
    }
    if version != FORMAT_VERSION {
        return Err(FormatError::UnsupportedVersion(version));
    }
    let kind = ExportKind::from_byte(b[10])
        .ok_or_else(|| damaged(format!("unknown export kind {}", b[10])))?;
    if b[11] != 0 {
        return Err(damaged("reserved header byte set"));
    }
    Ok(Header {
        kind,
        instant: i64::from_le_bytes(array(&b[12..20])),
    })
}

/// Appends a frame of `tag` around `payload`.
pub(super) fn encode_frame(tag: u8, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.push(tag);
    // The writer keeps payloads far below 4 GiB (see `FRAME_TARGET`); a
    // single record larger than that cannot be encoded by its u32 lengths.
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// The checksum a frame must end with.
pub(super) fn frame_crc(tag: u8, len: u32, payload: &[u8]) -> u32 {
    let mut head = [0u8; 5];
    head[0] = tag;
    head[1..5].copy_from_slice(&len.to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c(&head), payload)
}

/// The payload of a store frame.
pub(super) fn store_payload(map: &str, partition: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + map.len());
    p.extend_from_slice(&partition.to_le_bytes());
    p.extend_from_slice(map.as_bytes());
    p
}

pub(super) fn decode_store(payload: &[u8]) -> Result<(String, u32), FormatError> {
    if payload.len() < 4 {
        return Err(damaged("store frame shorter than 4 bytes"));
    }
    let partition = read_u32(&payload[..4]);
    let map = std::str::from_utf8(&payload[4..]).map_err(|_| damaged("map name is not UTF-8"))?;
    Ok((map.to_owned(), partition))
}

/// The payload of the end frame.
pub(super) fn end_payload(stores: u64, records: u64, file_crc: u32) -> [u8; 20] {
    let mut p = [0u8; 20];
    p[0..8].copy_from_slice(&stores.to_le_bytes());
    p[8..16].copy_from_slice(&records.to_le_bytes());
    p[16..20].copy_from_slice(&file_crc.to_le_bytes());
    p
}

pub(super) fn decode_end(payload: &[u8]) -> Result<(u64, u64, u32), FormatError> {
    if payload.len() != 20 {
        return Err(damaged(format!(
            "end frame of {} bytes, expected 20",
            payload.len()
        )));
    }
    Ok((
        u64::from_le_bytes(array(&payload[0..8])),
        u64::from_le_bytes(array(&payload[8..16])),
        read_u32(&payload[16..20]),
    ))
}

/// Appends one record entry: key, metadata, MessagePack value.
pub(super) fn encode_entry(key: &str, record: &Record, out: &mut Vec<u8>) {
    put_len(key.len(), out);
    out.extend_from_slice(key.as_bytes());
    let m = &record.metadata;
    out.extend_from_slice(&m.version.to_le_bytes());
    out.extend_from_slice(&m.hits.to_le_bytes());
    for t in [
        m.creation_time,
        m.last_access_time,
        m.last_update_time,
        m.last_stored_time,
    ] {
        out.extend_from_slice(&t.to_le_bytes());
    }
    for n in [m.cost, m.ttl_millis, m.max_idle_millis] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    encode_record_value_into(&record.value, out);
    let value_len = out.len() - len_at - 4;
    out[len_at..len_at + 4]
        .copy_from_slice(&u32::try_from(value_len).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_len(len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

/// Decodes the entries of a records frame, calling `visit` on each.
pub(super) fn decode_records(
    payload: &[u8],
    visit: &mut dyn FnMut(&str, Record) -> Result<(), FormatError>,
) -> Result<u64, FormatError> {
    let mut input = Input(payload);
    let count = input.u32("record count")?;
    for i in 0..count {
        let key_len = input.u32("key length")? as usize;
        let key = std::str::from_utf8(input.take(key_len, "key")?)
            .map_err(|_| damaged(format!("key of record {i} is not UTF-8")))?;
        let m = input.take(META_LEN, "metadata")?;
        let mut at = 8;
        let mut i64_at = || {
            let v = i64::from_le_bytes(array(&m[at..at + 8]));
            at += 8;
            v
        };
        let (creation, access, update, stored) = (i64_at(), i64_at(), i64_at(), i64_at());
        let metadata = RecordMetadata {
            version: read_u32(&m[0..4]),
            hits: read_u32(&m[4..8]),
            creation_time: creation,
            last_access_time: access,
            last_update_time: update,
            last_stored_time: stored,
            cost: u64::from_le_bytes(array(&m[40..48])),
            ttl_millis: u64::from_le_bytes(array(&m[48..56])),
            max_idle_millis: u64::from_le_bytes(array(&m[56..64])),
        };
        let value_len = input.u32("value length")? as usize;
        let value = decode_record_value(input.take(value_len, "value")?)
            .map_err(|e| damaged(format!("value of key {key:?}: {e}")))?;
        visit(key, Record::new(value, metadata))?;
    }
    if !input.0.is_empty() {
        return Err(damaged(format!(
            "{} bytes after the last record of a frame",
            input.0.len()
        )));
    }
    Ok(u64::from(count))
}

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FormatError> {
        if self.0.len() < n {
            return Err(damaged(format!(
                "{what} needs {n} bytes, the frame has {} left",
                self.0.len()
            )));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        Ok(read_u32(self.take(4, what)?))
    }
}

/// A little-endian u32 from exactly 4 bytes (callers slice them).
pub(super) fn read_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes(array(b))
}

fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[..N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordValue, Timestamp};

    fn record() -> Record {
        let mut meta = RecordMetadata::new(1_700_000_000_000, 42);
        meta.version = 7;
        meta.hits = 3;
        meta.last_access_time = 1_700_000_000_500;
        meta.ttl_millis = 9_000;
        meta.max_idle_millis = 1_000;
        Record::new(
            RecordValue::lww("hello", Timestamp::new(5, 1, "node-1")),
            meta,
        )
    }

    #[test]
    fn header_round_trips_and_every_bit_flip_is_caught() {
        let h = Header {
            kind: ExportKind::Maps,
            instant: 1_700_000_000_123,
        };
        let bytes = encode_header(h);
        assert_eq!(decode_header(&bytes), Ok(h));
        for bit in 0..HEADER_LEN * 8 {
            let mut b = bytes;
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_header(&b).is_err(), "flip of bit {bit} accepted");
        }
    }

    #[test]
    fn an_unknown_version_is_named() {
        let mut b = encode_header(Header {
            kind: ExportKind::Store,
            instant: 0,
        });
        b[8..10].copy_from_slice(&9u16.to_le_bytes());
        let crc = crc32c::crc32c(&b[..20]);
        b[20..24].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_header(&b), Err(FormatError::UnsupportedVersion(9)));
    }

    #[test]
    fn entries_round_trip_with_their_metadata() {
        let mut payload = 2u32.to_le_bytes().to_vec();
        encode_entry("k\u{0}é", &record(), &mut payload);
        encode_entry("", &record(), &mut payload);
        let mut seen = Vec::new();
        let n = decode_records(&payload, &mut |k, r| {
            seen.push((k.to_owned(), r));
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            seen,
            [("k\u{0}é".into(), record()), (String::new(), record())]
        );
    }

    #[test]
    fn every_truncation_of_an_entry_is_an_error() {
        let mut payload = 1u32.to_le_bytes().to_vec();
        encode_entry("key", &record(), &mut payload);
        for len in 0..payload.len() {
            assert!(
                decode_records(&payload[..len], &mut |_, _| Ok(())).is_err(),
                "truncation at {len} accepted"
            );
        }
        let mut longer = payload.clone();
        longer.push(0);
        assert!(decode_records(&longer, &mut |_, _| Ok(())).is_err());
    }

    #[test]
    fn frames_carry_their_checksum() {
        let mut out = Vec::new();
        encode_frame(TAG_STORE, &store_payload("users", 7), &mut out);
        let len = read_u32(&out[1..5]);
        let payload = &out[5..5 + len as usize];
        assert_eq!(
            frame_crc(out[0], len, payload),
            read_u32(&out[out.len() - 4..])
        );
        assert_eq!(decode_store(payload), Ok(("users".to_owned(), 7)));
    }
}
