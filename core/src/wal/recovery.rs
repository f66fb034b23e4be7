//! Recovery: from the bytes of a log's segments to the frames to replay,
//! the chain head, and what (if anything) was a torn tail.
//!
//! Shared by [`super::FileLog`] and [`super::MemoryLog`], so both accept and
//! refuse exactly the same bytes. The rules:
//!
//! * Every segment is read to its end and every frame is checked (both
//!   checksums, the sequence number, the chain hash): the tail is always
//!   validated, never trusted from an index.
//! * Each segment's header must continue the previous segment: its first
//!   sequence number is the previous segment's next one and its chain hash
//!   is the previous segment's last link. So the chain head is known even
//!   when the last segment holds no frame yet, and across rotations.
//! * Bad bytes at the end of the **last** segment, with no well-formed frame
//!   after them, are a torn tail: the writes they held were never
//!   acknowledged (an acknowledged frame is complete on disk), so they are
//!   cut off and reported in [`TornTail`]. A last segment whose header is
//!   incomplete or damaged and that holds nothing after the header is a
//!   segment whose creation was cut short: it is dropped and reported.
//! * Anything else is corruption before the tail and an error of kind
//!   [`Corrupt`](crate::DataStoreErrorKind::Corrupt): bad bytes in a segment
//!   that is not the last, bad bytes followed by a well-formed frame, a frame
//!   whose checksums pass but that breaks the chain, a segment that does not
//!   continue its predecessor, a header from a later format version. Nothing
//!   is skipped in silence.

use super::frame::{scan_frames, ChainHash, HeaderError, SegmentHeader, SEGMENT_HEADER_LEN};
use crate::map_data_store::{DataStoreError, DataStoreErrorKind, DataStoreResult};

/// One frame to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredFrame {
    /// Its sequence number.
    pub seq: u64,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// A torn tail that recovery cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment (file name, or `#index` for the in-memory log).
    pub segment: String,
    /// Offset in the segment where the valid bytes end (0 when the whole
    /// segment was dropped).
    pub offset: u64,
    /// Bytes removed.
    pub dropped_bytes: u64,
    /// What was wrong with the first removed bytes.
    pub reason: String,
}

/// What recovery found in a log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Every valid frame, in sequence order.
    pub frames: Vec<RecoveredFrame>,
    /// The chain link after the last frame (the head the next frame
    /// follows).
    pub chain_head: ChainHash,
    /// The sequence number of the next frame.
    pub next_seq: u64,
    /// The torn tail that was cut off, if there was one.
    pub torn_tail: Option<TornTail>,
    /// Per input segment, in order: its first sequence number and the
    /// length of its valid bytes, or `None` if it is to be dropped.
    pub(crate) kept: Vec<Option<KeptSegment>>,
}

/// A segment that stays, with the length of its valid bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeptSegment {
    pub first_seq: u64,
    pub next_seq: u64,
    pub valid_len: usize,
}

impl Recovery {
    /// The recovery of a log with no segment: nothing to replay, the chain
    /// at genesis, the first frame numbered 1.
    #[must_use]
    pub fn empty() -> Self {
        Recovery {
            frames: Vec::new(),
            chain_head: ChainHash::GENESIS,
            next_seq: 1,
            torn_tail: None,
            kept: Vec::new(),
        }
    }
}

fn corrupt(what: &str, segment: &str, detail: impl std::fmt::Display) -> DataStoreError {
    DataStoreError::new(
        DataStoreErrorKind::Corrupt,
        format!(
            "write-ahead log {what}, segment {segment}: {detail}; the log is damaged before its \
             tail, so it is not opened (nothing was skipped or changed)"
        ),
    )
}

/// Recovers a log from its segments, oldest first. `what` names the log in
/// error messages (its directory). Each segment is `(name, bytes)`.
///
/// # Errors
///
/// [`Corrupt`](DataStoreErrorKind::Corrupt) for corruption before the tail
/// (see the module docs); the message names the segment, the offset and
/// what was wrong.
pub fn recover(what: &str, segments: &[(String, &[u8])]) -> DataStoreResult<Recovery> {
    let mut out = Recovery::empty();
    let count = segments.len();
    for (index, (name, bytes)) in segments.iter().enumerate() {
        let last = index + 1 == count;
        let header = match SegmentHeader::decode(bytes) {
            Ok(h) => h,
            Err(HeaderError::Version(v)) => {
                return Err(corrupt(
                    what,
                    name,
                    format!("format version {v}, this build reads version 1 only"),
                ))
            }
            Err(e) if last && bytes.len() <= SEGMENT_HEADER_LEN => {
                // A segment whose creation was cut short; it holds nothing.
                let reason = match e {
                    HeaderError::Short => "incomplete segment header".to_owned(),
                    HeaderError::Damaged(why) => format!("segment header: {why}"),
                    HeaderError::Version(_) => String::new(),
                };
                out.torn_tail = Some(TornTail {
                    segment: name.clone(),
                    offset: 0,
                    dropped_bytes: bytes.len() as u64,
                    reason,
                });
                out.kept.push(None);
                continue;
            }
            Err(HeaderError::Short) => {
                return Err(corrupt(what, name, "incomplete segment header"))
            }
            Err(HeaderError::Damaged(why)) => {
                return Err(corrupt(what, name, format!("segment header: {why}")))
            }
        };
        if index > 0 {
            if header.first_seq != out.next_seq {
                return Err(corrupt(
                    what,
                    name,
                    format!(
                        "starts at sequence {} but the previous segment ends before {}",
                        header.first_seq, out.next_seq
                    ),
                ));
            }
            if header.prev_hash != out.chain_head {
                return Err(corrupt(
                    what,
                    name,
                    "its chain hash does not continue the previous segment",
                ));
            }
        }
        let body = &bytes[SEGMENT_HEADER_LEN..];
        let scan = scan_frames(body, header.first_seq, header.prev_hash);
        for f in &scan.frames {
            out.frames.push(RecoveredFrame {
                seq: f.seq,
                payload: body[f.payload_at..f.payload_at + f.payload_len].to_vec(),
            });
        }
        if let Some(damage) = scan.damage {
            let offset = SEGMENT_HEADER_LEN + damage.offset;
            if !last || damage.valid_frame_follows || damage.chain_break {
                let why = if damage.chain_break {
                    "the frame's checksums pass but it breaks the chain".to_owned()
                } else if damage.valid_frame_follows {
                    "valid frames follow it".to_owned()
                } else {
                    "later segments follow it".to_owned()
                };
                return Err(corrupt(
                    what,
                    name,
                    format!("bad frame at offset {offset} ({}); {why}", damage.reason),
                ));
            }
            out.torn_tail = Some(TornTail {
                segment: name.clone(),
                offset: offset as u64,
                dropped_bytes: (bytes.len() - offset) as u64,
                reason: damage.reason,
            });
        }
        out.chain_head = scan.chain_head;
        out.next_seq = scan.next_seq;
        out.kept.push(Some(KeptSegment {
            first_seq: header.first_seq,
            next_seq: scan.next_seq,
            valid_len: SEGMENT_HEADER_LEN + scan.valid_end,
        }));
    }
    Ok(out)
}
