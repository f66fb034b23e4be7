//! The opaque iteration cursor shared by every engine and record store.
//!
//! A cursor is [`CURSOR_LEN`] bytes, so C callers can keep it in a fixed
//! buffer. All zeros (or an empty slice) is the start of an iteration. The
//! bytes carry a version, the position, the tag of the engine that made the
//! cursor and a checksum keyed with that engine's secret: a cursor that was
//! truncated, corrupted, forged, or made by another engine (another store,
//! even one with the same shard layout) is refused with a [`CursorError`],
//! never misread and never a panic.
//!
//! Layout (little-endian): `[0]` version (2), `[1]` flags (bit 0 finished,
//! bit 1 position set), `[2..4]` shard count, `[4..6]` shard index, `[6..8]`
//! reserved (0), `[8..16]` position within the shard, `[16..20]` the tag of
//! the engine, `[20..24]` a 32-bit checksum of bytes `0..20` keyed with the
//! engine's secret (SipHash, through `std`'s randomly keyed `RandomState`).
//! The layout is private: only `to_bytes` / `from_bytes` are stable.
//!
//! [`IterationCursor::from_bytes`] checks the structure only; the engine
//! checks tag and checksum (`CursorSeal::open`) when the cursor is used.
//! Cursors live as long as their engine: they mean nothing in another
//! process or to another store.

use std::hash::{BuildHasher, RandomState};
use thiserror::Error;

/// Length in bytes of an encoded cursor.
pub const CURSOR_LEN: usize = 24;

/// Version 1 had an unkeyed checksum and no engine tag; its cursors are
/// refused as an unknown version.
const VERSION: u8 = 2;
const FLAG_FINISHED: u8 = 0b01;
const FLAG_POSITION: u8 = 0b10;

/// Why a cursor or a page request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CursorError {
    /// The bytes are not a cursor this store wrote: wrong length, unknown
    /// version or flags, or a checksum that does not match (corrupted or
    /// forged).
    #[error("malformed cursor: {reason}")]
    Malformed {
        /// What was wrong with the bytes.
        reason: &'static str,
    },
    /// A well-formed cursor made by another store (or engine): its position
    /// means nothing here.
    #[error("cursor belongs to another store")]
    ForeignCursor,
    /// A page size of 0 was asked for; it would never make progress.
    #[error("page size must be at least 1")]
    ZeroPageSize,
}

/// Where an iteration stands. Opaque: build it with [`IterationCursor::start`]
/// or [`IterationCursor::from_bytes`], pass the `next_cursor` of each page to
/// the next call, stop when [`IterationCursor::is_finished`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IterationCursor {
    state: CursorState,
    /// The tag of the engine that made it (0 for the start cursor).
    tag: u32,
    /// The keyed checksum of the first 20 bytes (0 for the start cursor).
    mac: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) enum CursorState {
    #[default]
    Start,
    /// Inside shard `shard` of `shard_count`; `position` is the number of
    /// entries of that shard still to visit (`None`: not entered yet).
    At {
        shard_count: u16,
        shard: u16,
        position: Option<u64>,
    },
    Finished {
        shard_count: u16,
    },
}

/// What binds cursors to the engine that makes them: a random tag, which
/// tells a cursor of another engine apart, and a secret key for the checksum,
/// so that bytes nobody got from this engine (edited, forged, or of an
/// engine with an equal tag) are refused except with probability 2^-32.
/// Every engine owns one; creating it costs two random numbers.
pub(crate) struct CursorSeal {
    tag: u32,
    key: RandomState,
}

impl Default for CursorSeal {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for CursorSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CursorSeal").finish_non_exhaustive()
    }
}

impl CursorSeal {
    /// A new random tag and key.
    #[must_use]
    pub(crate) fn new() -> Self {
        Self {
            // Never 0, which only the start cursor carries.
            tag: rand::random::<u32>().max(1),
            key: RandomState::new(),
        }
    }

    fn mac(&self, body: &[u8]) -> u32 {
        // The low half of a keyed SipHash of the body.
        #[allow(clippy::cast_possible_truncation)]
        let mac = self.key.hash_one(body) as u32;
        mac
    }

    /// The cursor for `state`, sealed by this engine.
    pub(crate) fn seal(&self, state: CursorState) -> IterationCursor {
        if state == CursorState::Start {
            return IterationCursor::start();
        }
        let mut cursor = IterationCursor {
            state,
            tag: self.tag,
            mac: 0,
        };
        cursor.mac = self.mac(&cursor.to_bytes()[..20]);
        cursor
    }

    /// The state of `cursor` if this engine made it.
    ///
    /// # Errors
    /// [`CursorError::ForeignCursor`] for a cursor of another engine;
    /// [`CursorError::Malformed`] when the checksum does not match.
    pub(crate) fn open(&self, cursor: &IterationCursor) -> Result<CursorState, CursorError> {
        if cursor.state == CursorState::Start {
            return Ok(CursorState::Start);
        }
        if cursor.tag != self.tag {
            return Err(CursorError::ForeignCursor);
        }
        if cursor.mac != self.mac(&cursor.to_bytes()[..20]) {
            return Err(CursorError::Malformed {
                reason: "checksum mismatch (corrupted or forged)",
            });
        }
        Ok(cursor.state)
    }
}

impl IterationCursor {
    /// The cursor that starts an iteration.
    #[must_use]
    pub fn start() -> Self {
        Self::default()
    }

    /// `true` once the iteration has returned everything; feeding a finished
    /// cursor back returns an empty, finished page.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(self.state, CursorState::Finished { .. })
    }

    /// The cursor as [`CURSOR_LEN`] bytes; the start cursor is all zeros.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; CURSOR_LEN] {
        let mut b = [0u8; CURSOR_LEN];
        let (flags, count, shard, position) = match self.state {
            CursorState::Start => return b,
            CursorState::At {
                shard_count,
                shard,
                position,
            } => (
                if position.is_some() { FLAG_POSITION } else { 0 },
                shard_count,
                shard,
                position.unwrap_or(0),
            ),
            CursorState::Finished { shard_count } => (FLAG_FINISHED, shard_count, 0, 0),
        };
        b[0] = VERSION;
        b[1] = flags;
        b[2..4].copy_from_slice(&count.to_le_bytes());
        b[4..6].copy_from_slice(&shard.to_le_bytes());
        b[8..16].copy_from_slice(&position.to_le_bytes());
        b[16..20].copy_from_slice(&self.tag.to_le_bytes());
        b[20..24].copy_from_slice(&self.mac.to_le_bytes());
        b
    }

    /// Parses bytes made by [`IterationCursor::to_bytes`]. An empty slice or
    /// [`CURSOR_LEN`] zero bytes is the start cursor. Only the structure is
    /// checked here; the store checks that it made the cursor (tag and keyed
    /// checksum) when the cursor is used.
    ///
    /// # Errors
    /// [`CursorError::Malformed`] for any other length, an unknown version or
    /// flag, non-zero reserved bytes, a zero tag, or a shard index past the
    /// shard count.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CursorError> {
        let malformed = |reason| Err(CursorError::Malformed { reason });
        if bytes.is_empty() {
            return Ok(Self::start());
        }
        let Ok(b) = <&[u8; CURSOR_LEN]>::try_from(bytes) else {
            return malformed("wrong length");
        };
        if b.iter().all(|&x| x == 0) {
            return Ok(Self::start());
        }
        if b[0] != VERSION {
            return malformed("unknown version");
        }
        if b[6..8] != [0, 0] {
            return malformed("reserved bytes set");
        }
        let word = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let (tag, mac) = (word(16), word(20));
        if tag == 0 {
            return malformed("no store tag");
        }
        let flags = b[1];
        let shard_count = u16::from_le_bytes([b[2], b[3]]);
        let shard = u16::from_le_bytes([b[4], b[5]]);
        let mut pos = [0u8; 8];
        pos.copy_from_slice(&b[8..16]);
        let position = u64::from_le_bytes(pos);
        if shard_count == 0 {
            return malformed("zero shard count");
        }
        let state = match flags {
            FLAG_FINISHED if shard == 0 && position == 0 => CursorState::Finished { shard_count },
            FLAG_FINISHED => return malformed("finished cursor with a position"),
            0 | FLAG_POSITION => {
                if shard >= shard_count {
                    return malformed("shard index out of range");
                }
                if flags == 0 && position != 0 {
                    return malformed("position without flag");
                }
                CursorState::At {
                    shard_count,
                    shard,
                    position: (flags == FLAG_POSITION).then_some(position),
                }
            }
            _ => return malformed("unknown flags"),
        };
        Ok(Self { state, tag, mac })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seal: &CursorSeal, shard: u16, position: Option<u64>) -> IterationCursor {
        seal.seal(CursorState::At {
            shard_count: 8,
            shard,
            position,
        })
    }

    #[test]
    fn start_is_all_zeros_and_empty_is_start() {
        assert_eq!(IterationCursor::start().to_bytes(), [0u8; CURSOR_LEN]);
        assert_eq!(
            IterationCursor::from_bytes(&[]),
            Ok(IterationCursor::start())
        );
        assert_eq!(
            IterationCursor::from_bytes(&[0u8; CURSOR_LEN]),
            Ok(IterationCursor::start())
        );
        assert!(!IterationCursor::start().is_finished());
        // Any engine accepts the start cursor.
        assert_eq!(
            CursorSeal::new().open(&IterationCursor::start()),
            Ok(CursorState::Start)
        );
    }

    #[test]
    fn round_trips_every_state() {
        let seal = CursorSeal::new();
        let finished = seal.seal(CursorState::Finished { shard_count: 8 });
        for c in [
            at(&seal, 0, None),
            at(&seal, 3, Some(0)),
            at(&seal, 7, Some(u64::MAX)),
            finished,
        ] {
            let back = IterationCursor::from_bytes(&c.to_bytes());
            assert_eq!(back, Ok(c));
            assert_eq!(seal.open(&c), Ok(c.state));
        }
        assert!(finished.is_finished());
    }

    #[test]
    fn truncated_and_extended_cursors_are_malformed() {
        let bytes = at(&CursorSeal::new(), 2, Some(17)).to_bytes();
        for len in 1..CURSOR_LEN {
            assert!(matches!(
                IterationCursor::from_bytes(&bytes[..len]),
                Err(CursorError::Malformed { .. })
            ));
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(IterationCursor::from_bytes(&long).is_err());
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let seal = CursorSeal::new();
        let bytes = at(&seal, 5, Some(123_456)).to_bytes();
        for i in 0..CURSOR_LEN * 8 {
            let mut b = bytes;
            b[i / 8] ^= 1 << (i % 8);
            let opened = IterationCursor::from_bytes(&b).and_then(|c| seal.open(&c));
            assert!(opened.is_err(), "flip of bit {i} was accepted");
        }
    }

    #[test]
    fn a_cursor_of_another_engine_is_foreign_even_with_the_same_layout() {
        let (a, b) = (CursorSeal::new(), CursorSeal::new());
        let mut c = at(&a, 1, Some(3));
        if a.tag == b.tag {
            // 2^-32: make the tags differ, as they do in practice.
            c.tag ^= 1;
        }
        assert_eq!(b.open(&c), Err(CursorError::ForeignCursor));
        assert_eq!(
            b.open(&a.seal(CursorState::Finished { shard_count: 8 })),
            Err(CursorError::ForeignCursor)
        );
    }

    #[test]
    fn a_forged_cursor_with_the_right_tag_is_refused() {
        // Whoever knows the layout and the tag (it is in every cursor) still
        // cannot make a cursor the engine accepts without its key.
        let seal = CursorSeal::new();
        let real = at(&seal, 1, Some(3));
        let mut forged = 0;
        for position in 0..10_000u64 {
            let mut b = real.to_bytes();
            b[8..16].copy_from_slice(&position.to_le_bytes());
            // The old, unkeyed checksum (FNV-1a) does not help either.
            let fnv = b[..20].iter().fold(0x811c_9dc5u32, |h, &x| {
                (h ^ u32::from(x)).wrapping_mul(0x0100_0193)
            });
            b[20..24].copy_from_slice(&fnv.to_le_bytes());
            if let Ok(c) = IterationCursor::from_bytes(&b) {
                if seal.open(&c).is_ok() {
                    forged += 1;
                }
            }
        }
        assert_eq!(forged, 0);
    }

    #[test]
    fn structurally_impossible_cursors_are_refused_before_the_checksum() {
        let mut b = [0u8; CURSOR_LEN];
        b[0] = VERSION;
        b[1] = 0;
        b[2..4].copy_from_slice(&4u16.to_le_bytes());
        b[4..6].copy_from_slice(&9u16.to_le_bytes()); // shard 9 of 4
        b[16] = 1;
        assert_eq!(
            IterationCursor::from_bytes(&b),
            Err(CursorError::Malformed {
                reason: "shard index out of range"
            })
        );
        b[4..6].copy_from_slice(&1u16.to_le_bytes());
        b[16] = 0;
        assert_eq!(
            IterationCursor::from_bytes(&b),
            Err(CursorError::Malformed {
                reason: "no store tag"
            })
        );
        b[0] = 1; // version 1 (unkeyed) cursors are no longer read
        assert_eq!(
            IterationCursor::from_bytes(&b),
            Err(CursorError::Malformed {
                reason: "unknown version"
            })
        );
    }
}
