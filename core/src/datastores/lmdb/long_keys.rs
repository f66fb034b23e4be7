//! Keys longer than LMDB's key limit (511 bytes), stored so that every key
//! works and scans stay in key order.
//!
//! A stored key (the shared encoding of namespace, map and key,
//! [`format::encode_key`](crate::datastores::format::encode_key)) of at
//! most [`MAX_KEY`] bytes lives in the `records` database as it is. A longer
//! one lives in the `long_keys` database under its *slot*: its first
//! [`BUCKET_LEN`] bytes (its *bucket*) followed by the CRC32C of the whole
//! stored key, big-endian. A slot's value is a *chain*: every long key that
//! hashes to that slot (almost always one) with its record, so a CRC
//! collision costs a longer chain, never a lost or wrong record.
//!
//! Order: two long keys in different buckets compare as their buckets do
//! (a bucket is a fixed-length prefix), so walking `long_keys` in order and
//! sorting each bucket's keys in memory yields the long keys in key order;
//! [`super::LmdbDataStore`]'s scan merges that stream with the `records`
//! stream. A page that meets a bucket reads the whole bucket: keys that
//! share their first 507 stored bytes (map prefix and key) are sorted in
//! memory, O(b log b) for a bucket of b keys.
//!
//! # Chain layout (integers little-endian)
//!
//! | size | field |
//! |---|---|
//! | 1 | chain format version, `1` |
//! | 4 | `n`, the number of entries, `u32` |
//! | per entry: 4 | the stored key's length `k`, `u32` |
//! | `k` | the stored key |
//! | 4 | the record's length `r`, `u32` |
//! | `r` | the record ([`format::encode_record`](crate::datastores::format::encode_record), which has its own checksum) |
//! | 4 | CRC32C of every byte before it |

use crate::map_data_store::{DataStoreError, DataStoreErrorKind, DataStoreResult};

/// The longest key LMDB stores (its compile-time `MDB_MAXKEYSIZE`, the
/// default of the LMDB heed vendors; checked when an environment opens).
pub(super) const MAX_KEY: usize = 511;

/// Bytes of a long stored key kept in its slot key; the slot adds 4 bytes
/// of CRC32C, reaching exactly [`MAX_KEY`].
pub(super) const BUCKET_LEN: usize = MAX_KEY - 4;

const CHAIN_VERSION: u8 = 1;

fn corrupt(message: impl Into<String>) -> DataStoreError {
    DataStoreError::new(DataStoreErrorKind::Corrupt, message)
}

/// Whether `stored` is too long for the `records` database.
pub(super) fn is_long(stored: &[u8]) -> bool {
    stored.len() > MAX_KEY
}

/// The slot key of a long stored key.
pub(super) fn slot(stored: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_KEY);
    out.extend_from_slice(&stored[..BUCKET_LEN.min(stored.len())]);
    out.extend_from_slice(&crc32c::crc32c(stored).to_be_bytes());
    out
}

/// The bucket part of a slot key.
pub(super) fn bucket_of_slot(slot: &[u8]) -> &[u8] {
    &slot[..slot.len().saturating_sub(4)]
}

/// The bucket a stored key of any length would fall in: at most its first
/// [`BUCKET_LEN`] bytes. Every long key at or after `stored` has a bucket
/// at or after this one, which is where a scan from `stored` starts.
pub(super) fn bucket_floor(stored: &[u8]) -> &[u8] {
    &stored[..BUCKET_LEN.min(stored.len())]
}

/// The entries of one chain: `(stored key, record bytes)`, borrowed from
/// the chain's bytes.
pub(super) type Entries<'a> = Vec<(&'a [u8], &'a [u8])>;

fn take<'a>(bytes: &'a [u8], at: &mut usize, len: usize) -> DataStoreResult<&'a [u8]> {
    let end = at
        .checked_add(len)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| corrupt("long-key chain truncated"))?;
    let out = &bytes[*at..end];
    *at = end;
    Ok(out)
}

fn take_u32(bytes: &[u8], at: &mut usize) -> DataStoreResult<usize> {
    let raw = take(bytes, at, 4)?;
    let mut le = [0; 4];
    le.copy_from_slice(raw);
    Ok(u32::from_le_bytes(le) as usize)
}

/// Decodes a chain.
///
/// # Errors
///
/// [`Corrupt`](DataStoreErrorKind::Corrupt) when the bytes are not a chain
/// of a known version, are truncated or extended, or fail their checksum.
pub(super) fn decode(bytes: &[u8]) -> DataStoreResult<Entries<'_>> {
    let body_len = bytes
        .len()
        .checked_sub(4)
        .ok_or_else(|| corrupt(format!("long-key chain of {} bytes", bytes.len())))?;
    let (body, crc) = bytes.split_at(body_len);
    let mut stored_crc = [0; 4];
    stored_crc.copy_from_slice(crc);
    if crc32c::crc32c(body) != u32::from_le_bytes(stored_crc) {
        return Err(corrupt("long-key chain checksum mismatch"));
    }
    let mut at = 0;
    let version = take(body, &mut at, 1)?[0];
    if version != CHAIN_VERSION {
        return Err(corrupt(format!(
            "long-key chain has unknown format version {version}"
        )));
    }
    let count = take_u32(body, &mut at)?;
    let mut entries = Vec::with_capacity(count.min(body.len() / 8));
    for _ in 0..count {
        let key_len = take_u32(body, &mut at)?;
        let key = take(body, &mut at, key_len)?;
        let record_len = take_u32(body, &mut at)?;
        let record = take(body, &mut at, record_len)?;
        entries.push((key, record));
    }
    if at != body.len() {
        return Err(corrupt("long-key chain has trailing bytes"));
    }
    Ok(entries)
}

fn push_len(out: &mut Vec<u8>, len: usize) -> DataStoreResult<()> {
    let len = u32::try_from(len).map_err(|_| {
        DataStoreError::new(
            DataStoreErrorKind::Rejected,
            format!(
                "a key or record of {len} bytes is longer than LMDB's long-key chain holds (4 GiB)"
            ),
        )
    })?;
    out.extend_from_slice(&len.to_le_bytes());
    Ok(())
}

/// Encodes a chain.
///
/// # Errors
///
/// [`Rejected`](DataStoreErrorKind::Rejected) when a key or record is
/// longer than `u32::MAX` bytes.
pub(super) fn encode(entries: &[(&[u8], &[u8])]) -> DataStoreResult<Vec<u8>> {
    let size: usize = entries.iter().map(|(k, r)| 8 + k.len() + r.len()).sum();
    let mut out = Vec::with_capacity(1 + 4 + size + 4);
    out.push(CHAIN_VERSION);
    push_len(&mut out, entries.len())?;
    for (key, record) in entries {
        push_len(&mut out, key.len())?;
        out.extend_from_slice(key);
        push_len(&mut out, record.len())?;
        out.extend_from_slice(record);
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// The chain `existing` (if any) with `stored` set to `record`, or removed
/// when `record` is `None`; `None` when the chain becomes empty.
///
/// # Errors
///
/// As [`decode`] and [`encode`].
pub(super) fn update(
    existing: Option<&[u8]>,
    stored: &[u8],
    record: Option<&[u8]>,
) -> DataStoreResult<Option<Vec<u8>>> {
    let mut entries = match existing {
        Some(bytes) => decode(bytes)?,
        None => Vec::new(),
    };
    entries.retain(|(key, _)| *key != stored);
    if let Some(record) = record {
        entries.push((stored, record));
    }
    if entries.is_empty() {
        Ok(None)
    } else {
        encode(&entries).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_round_trip_and_damage_is_reported() {
        let entries: Vec<(&[u8], &[u8])> = vec![(b"key-one", b"rec1"), (b"", b"")];
        let bytes = encode(&entries).unwrap();
        assert_eq!(decode(&bytes).unwrap(), entries);
        for cut in 0..bytes.len() {
            let err = decode(&bytes[..cut]).unwrap_err();
            assert_eq!(err.kind(), DataStoreErrorKind::Corrupt, "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x10;
            assert!(decode(&flipped).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn updates_replace_remove_and_empty_a_chain() {
        let one = update(None, b"a", Some(b"1")).unwrap().unwrap();
        let two = update(Some(&one), b"b", Some(b"2")).unwrap().unwrap();
        let two = update(Some(&two), b"a", Some(b"3")).unwrap().unwrap();
        let mut entries = decode(&two).unwrap();
        entries.sort_unstable();
        assert_eq!(
            entries,
            vec![(&b"a"[..], &b"3"[..]), (&b"b"[..], &b"2"[..])]
        );
        let one = update(Some(&two), b"a", None).unwrap().unwrap();
        assert_eq!(decode(&one).unwrap(), vec![(&b"b"[..], &b"2"[..])]);
        assert_eq!(update(Some(&one), b"b", None).unwrap(), None);
        assert_eq!(
            update(Some(&one), b"zz", None).unwrap().as_deref(),
            Some(&one[..])
        );
    }

    #[test]
    fn slots_fill_lmdbs_limit_and_keep_the_bucket() {
        let long = vec![b'x'; 4000];
        let s = slot(&long);
        assert_eq!(s.len(), MAX_KEY);
        assert_eq!(bucket_of_slot(&s), &long[..BUCKET_LEN]);
        assert!(is_long(&long));
        assert!(!is_long(&long[..MAX_KEY]));
        assert_eq!(bucket_floor(b"short"), b"short");
    }
}
