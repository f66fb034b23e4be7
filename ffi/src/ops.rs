//! The work behind the exports, on Rust types: reads that write straight
//! into the caller's buffer under the engine's lock, and the packed page
//! format of scans and samples.

use crate::error::Failure;
use crate::handle::Store;
use crate::types::{storage_metadata_t, STORAGE_ITEM_PREFIX_SIZE};
use topgun_storage_core::codec::{encode_record_value_to_slice, encoded_len};
use topgun_storage_core::expiry::expiration_time;
use topgun_storage_core::{
    block_on, IterationCursor, ReadOutcome, Record, RecordMetadata, RecordStore, RecordValue,
    CURSOR_LEN,
};

/// What a read produced: a result that counts as a read, or the buffer
/// size it would need (nothing was touched or counted then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read<T> {
    Done(T),
    TooSmall(usize),
}

/// Reads the live record under `key` with `visit`, which writes what it
/// needs straight from the stored record into caller memory. A `Done` read
/// counts as a hit and touches the record (hits + 1, last access = now),
/// as `RecordStore::get(key, true)` does; `TooSmall` and errors leave
/// everything as it was. An expired record is removed (and reported) by the
/// store and reads as a miss.
///
/// The hit path allocates nothing: `visit` runs under the store's lock
/// (`RecordStore::read_with`) and no record is cloned.
///
/// Over a data store, a key not in memory is read by `RecordStore::get`,
/// which loads it (counted as a miss of memory, kept in memory when the
/// bounds allow it, its TTL deadline kept); it stays loaded even when the
/// caller's buffer then turns out `TooSmall`.
pub(crate) fn read_live<T>(
    s: &Store,
    key: &str,
    visit: &mut dyn FnMut(&Record) -> Result<Read<T>, Failure>,
) -> Result<Option<(Read<T>, RecordMetadata)>, Failure> {
    let durable = s.durable().is_some();
    if durable && !s.store.exists_in_memory(key) {
        return load_and_visit(s, key, visit);
    }
    let mut found = None;
    let outcome = s.store.read_with(key, true, &mut |record| {
        let result = visit(record);
        let accepted = matches!(result, Ok(Read::Done(_)));
        found = Some(result.map(|r| (r, record.metadata)));
        accepted
    });
    if durable && outcome == ReadOutcome::Missing {
        // Evicted between the check and the read: load it back.
        return load_and_visit(s, key, visit);
    }
    found.transpose()
}

/// The miss path of [`read_live`] over a data store.
fn load_and_visit<T>(
    s: &Store,
    key: &str,
    visit: &mut dyn FnMut(&Record) -> Result<Read<T>, Failure>,
) -> Result<Option<(Read<T>, RecordMetadata)>, Failure> {
    match block_on(s.store.get(key, true))? {
        None => Ok(None),
        Some(record) => visit(&record).map(|read| Some((read, record.metadata))),
    }
}

/// Whether `key` holds a live record, without counting a read or touching
/// it; over a data store a key not in memory is looked up there (and not
/// loaded).
pub(crate) fn contains(s: &Store, key: &str) -> Result<bool, Failure> {
    Ok(block_on(s.store.contains_live(key))?)
}

/// MessagePack of the live value under `key`, written into `buf`.
pub(crate) fn get_into(
    s: &Store,
    key: &str,
    buf: &mut [u8],
) -> Result<Option<(Read<usize>, RecordMetadata)>, Failure> {
    read_live(s, key, &mut |record| {
        Ok(match encode_record_value_to_slice(&record.value, buf) {
            Ok(n) => Read::Done(n),
            Err(e) => Read::TooSmall(e.needed),
        })
    })
}

/// Writes `text` and a NUL into `buf`: `Done(len)` or `TooSmall(len + 1)`.
pub(crate) fn write_text(text: &[u8], buf: &mut [u8]) -> Read<usize> {
    match buf.get_mut(..=text.len()) {
        Some(dest) => {
            dest[..text.len()].copy_from_slice(text);
            dest[text.len()] = 0;
            Read::Done(text.len())
        }
        None => Read::TooSmall(text.len().saturating_add(1)),
    }
}

/// The C view of a record's metadata.
pub(crate) fn metadata(s: &Store, meta: &RecordMetadata) -> storage_metadata_t {
    storage_metadata_t {
        version: meta.version,
        hits: meta.hits,
        creation_time_ms: meta.creation_time,
        last_access_time_ms: meta.last_access_time,
        last_update_time_ms: meta.last_update_time,
        last_stored_time_ms: meta.last_stored_time,
        cost: meta.cost,
        ttl_ms: meta.ttl_millis,
        max_idle_ms: meta.max_idle_millis,
        expiration_time_ms: expiration_time(meta, s.store.config().default_expiry()),
    }
}

fn prefix(len: usize) -> Result<[u8; STORAGE_ITEM_PREFIX_SIZE], Failure> {
    u32::try_from(len).map(u32::to_le_bytes).map_err(|_| {
        Failure::invalid(format!(
            "an item of {len} bytes cannot be written in a page (4 GiB - 1 at most)"
        ))
    })
}

/// Bytes one page item takes: the key, and the value if given.
fn item_len(key: &str, value: Option<&RecordValue>) -> usize {
    STORAGE_ITEM_PREFIX_SIZE
        + key.len()
        + value.map_or(0, |v| STORAGE_ITEM_PREFIX_SIZE + encoded_len(v))
}

/// Appends one item (`u32 LE length, key bytes`, then for entries
/// `u32 LE length, MessagePack value`) to `rest`; returns the bytes written,
/// or `Err(Ok(needed))` when it does not fit.
fn write_item(
    rest: &mut [u8],
    key: &str,
    value: Option<&RecordValue>,
) -> Result<usize, Result<usize, Failure>> {
    const P: usize = STORAGE_ITEM_PREFIX_SIZE;
    let key_end = P + key.len();
    let header = key_end + if value.is_some() { P } else { 0 };
    if rest.len() < header {
        return Err(Ok(item_len(key, value)));
    }
    rest[..P].copy_from_slice(&prefix(key.len()).map_err(Err)?);
    rest[P..key_end].copy_from_slice(key.as_bytes());
    let Some(value) = value else {
        return Ok(key_end);
    };
    match encode_record_value_to_slice(value, &mut rest[header..]) {
        Ok(n) => {
            rest[key_end..header].copy_from_slice(&prefix(n).map_err(Err)?);
            Ok(header + n)
        }
        Err(e) => Err(Ok(header + e.needed)),
    }
}

/// What a page call wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) len: usize,
    pub(crate) count: usize,
    pub(crate) finished: bool,
}

/// One page of live keys (or entries, `with_values`) from `cursor`, at most
/// `max_items`, written into `buf` until the next item does not fit. On
/// `Done` the cursor is advanced to resume after the last item written (at
/// the one that did not fit); `TooSmall` (not even one item fits) and
/// errors leave it as it was. Expired records are skipped and removed by the
/// store.
pub(crate) fn fetch(
    s: &Store,
    cursor_bytes: &mut [u8; CURSOR_LEN],
    max_items: usize,
    buf: &mut [u8],
    with_values: bool,
) -> Result<Read<Page>, Failure> {
    let cursor = IterationCursor::from_bytes(cursor_bytes)?;
    let mut used = 0;
    let mut count = 0;
    let mut refused = None;
    let mut failure = None;
    let next = s.store.fetch_with(&cursor, max_items, &mut |key, record| {
        let value = with_values.then_some(&record.value);
        match write_item(&mut buf[used..], key, value) {
            Ok(n) => {
                used += n;
                count += 1;
                true
            }
            Err(Ok(needed)) => {
                refused = Some(needed);
                false
            }
            Err(Err(f)) => {
                failure = Some(f);
                false
            }
        }
    })?;
    if let Some(f) = failure {
        return Err(f);
    }
    if count == 0 {
        if let Some(needed) = refused {
            return Ok(Read::TooSmall(needed));
        }
    }
    *cursor_bytes = next.to_bytes();
    Ok(Read::Done(Page {
        len: used,
        count,
        finished: next.is_finished(),
    }))
}

/// Up to `k` distinct live entries chosen at random, written as entries
/// until one does not fit. `TooSmall` carries the size all of this call's
/// samples would have needed.
pub(crate) fn samples(s: &Store, k: usize, buf: &mut [u8]) -> Result<Read<Page>, Failure> {
    let samples = s.store.random_samples(k);
    let mut used = 0;
    let mut count = 0;
    for (key, record) in &samples {
        match write_item(&mut buf[used..], key, Some(&record.value)) {
            Ok(n) => {
                used += n;
                count += 1;
            }
            Err(Ok(_)) => break,
            Err(Err(f)) => return Err(f),
        }
    }
    if count == 0 && !samples.is_empty() {
        let all = samples
            .iter()
            .map(|(key, record)| item_len(key, Some(&record.value)))
            .sum();
        return Ok(Read::TooSmall(all));
    }
    Ok(Read::Done(Page {
        len: used,
        count,
        finished: true,
    }))
}

/// Reads the item at `*offset` of a page: `Ok(Some(range))` and the offset
/// moved past it, `Ok(None)` at the end.
pub(crate) fn page_next(
    page: &[u8],
    offset: &mut usize,
) -> Result<Option<std::ops::Range<usize>>, Failure> {
    const P: usize = STORAGE_ITEM_PREFIX_SIZE;
    let at = *offset;
    if at == page.len() {
        return Ok(None);
    }
    let truncated = || {
        Failure::new(
            crate::types::storage_status_t::STORAGE_MALFORMED_VALUE,
            format!(
                "page is truncated: the item at offset {at} runs past its {} bytes",
                page.len()
            ),
        )
    };
    if at > page.len() {
        return Err(Failure::invalid(format!(
            "offset {at} is past the end of the {}-byte page",
            page.len()
        )));
    }
    let header: [u8; P] = page
        .get(at..at + P)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(truncated)?;
    let len = u32::from_le_bytes(header) as usize;
    let start = at + P;
    let end = start
        .checked_add(len)
        .filter(|&e| e <= page.len())
        .ok_or_else(truncated)?;
    *offset = end;
    Ok(Some(start..end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use topgun_storage_core::{Timestamp, Value};

    fn value(s: &str) -> RecordValue {
        RecordValue::lww(Value::from(s), Timestamp::new(1, 0, "n"))
    }

    #[test]
    fn write_text_needs_room_for_the_nul() {
        let mut buf = [0xffu8; 4];
        assert_eq!(write_text(b"abcd", &mut buf), Read::TooSmall(5));
        assert_eq!(write_text(b"abc", &mut buf), Read::Done(3));
        assert_eq!(&buf, b"abc\0");
        assert_eq!(write_text(b"", &mut []), Read::TooSmall(1));
    }

    #[test]
    fn items_round_trip_through_page_next() {
        let v = value("hello");
        let mut buf = [0u8; 256];
        let n = write_item(&mut buf, "key", Some(&v)).unwrap();
        assert_eq!(n, item_len("key", Some(&v)));
        let m = write_item(&mut buf[n..], "k2", None).unwrap();
        let page = &buf[..n + m];
        let mut offset = 0;
        let key = page_next(page, &mut offset).unwrap().unwrap();
        assert_eq!(&page[key], b"key");
        let bytes = page_next(page, &mut offset).unwrap().unwrap();
        assert_eq!(
            topgun_storage_core::codec::decode_record_value(&page[bytes]).unwrap(),
            v
        );
        let k2 = page_next(page, &mut offset).unwrap().unwrap();
        assert_eq!(&page[k2], b"k2");
        assert_eq!(page_next(page, &mut offset).unwrap(), None);
        // Truncated: the last item claims more bytes than remain.
        let mut o = n;
        assert!(page_next(&page[..n + m - 1], &mut o).is_err());
    }

    #[test]
    fn an_item_that_does_not_fit_reports_its_full_size() {
        let v = value("hello");
        let need = item_len("key", Some(&v));
        for cap in 0..need {
            let mut buf = vec![0u8; cap];
            assert_eq!(
                write_item(&mut buf, "key", Some(&v)),
                Err(Ok(need)),
                "{cap}"
            );
        }
    }
}
