//! The opaque iteration cursor shared by every engine and record store.
//!
//! A cursor is [`CURSOR_LEN`] bytes, so C callers can keep it in a fixed
//! buffer. All zeros (or an empty slice) is the start of an iteration. The
//! bytes carry a version, the position and a checksum: a cursor that was
//! truncated, corrupted, or made by an engine with a different shard layout
//! is rejected with a [`CursorError`], never misread and never a panic.
//!
//! Layout (little-endian): `[0]` version (1), `[1]` flags (bit 0 finished,
//! bit 1 position set), `[2..4]` shard count, `[4..6]` shard index, `[6..8]`
//! reserved (0), `[8..16]` position within the shard, `[16..20]` reserved (0),
//! `[20..24]` FNV-1a checksum of bytes `0..20`. The layout is private: only
//! `to_bytes` / `from_bytes` are stable.

use thiserror::Error;

/// Length in bytes of an encoded cursor.
pub const CURSOR_LEN: usize = 24;

const VERSION: u8 = 1;
const FLAG_FINISHED: u8 = 0b01;
const FLAG_POSITION: u8 = 0b10;

/// Why a cursor or a page request was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CursorError {
    /// The bytes are not a cursor this library wrote (wrong length, unknown
    /// version or flags, bad checksum).
    #[error("malformed cursor: {reason}")]
    Malformed {
        /// What was wrong with the bytes.
        reason: &'static str,
    },
    /// The cursor is well formed but was made for a store with a different
    /// layout (another shard count), so its position means nothing here.
    #[error("cursor belongs to a store with {cursor} shards, this store has {store}")]
    ForeignCursor {
        /// Shard count recorded in the cursor.
        cursor: u16,
        /// Shard count of the store it was given to.
        store: u16,
    },
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

    pub(crate) fn from_state(state: CursorState) -> Self {
        Self { state }
    }

    pub(crate) fn state(&self) -> CursorState {
        self.state
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
        let sum = checksum(&b[..20]);
        b[20..24].copy_from_slice(&sum.to_le_bytes());
        b
    }

    /// Parses bytes made by [`IterationCursor::to_bytes`]. An empty slice or
    /// [`CURSOR_LEN`] zero bytes is the start cursor.
    ///
    /// # Errors
    /// [`CursorError::Malformed`] for any other length, an unknown version or
    /// flag, non-zero reserved bytes, a shard index past the shard count, or a
    /// checksum that does not match (a corrupted cursor).
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
        let stored = u32::from_le_bytes([b[20], b[21], b[22], b[23]]);
        if stored != checksum(&b[..20]) {
            return malformed("checksum mismatch");
        }
        if b[6..8] != [0, 0] || b[16..20] != [0, 0, 0, 0] {
            return malformed("reserved bytes set");
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
        Ok(Self { state })
    }
}

/// 32-bit FNV-1a over bytes; catches corrupted or hand-edited cursors.
fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(shard: u16, position: Option<u64>) -> IterationCursor {
        IterationCursor::from_state(CursorState::At {
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
    }

    #[test]
    fn round_trips_every_state() {
        let finished = IterationCursor::from_state(CursorState::Finished { shard_count: 8 });
        for c in [at(0, None), at(3, Some(0)), at(7, Some(u64::MAX)), finished] {
            assert_eq!(IterationCursor::from_bytes(&c.to_bytes()), Ok(c));
        }
        assert!(finished.is_finished());
    }

    #[test]
    fn truncated_and_extended_cursors_are_malformed() {
        let bytes = at(2, Some(17)).to_bytes();
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
        let bytes = at(5, Some(123_456)).to_bytes();
        for i in 0..CURSOR_LEN * 8 {
            let mut b = bytes;
            b[i / 8] ^= 1 << (i % 8);
            assert!(
                IterationCursor::from_bytes(&b).is_err(),
                "flip of bit {i} was accepted"
            );
        }
    }

    #[test]
    fn checksummed_nonsense_is_still_rejected() {
        let mut b = [0u8; CURSOR_LEN];
        b[0] = VERSION;
        b[1] = 0;
        b[2..4].copy_from_slice(&4u16.to_le_bytes());
        b[4..6].copy_from_slice(&9u16.to_le_bytes()); // shard 9 of 4
        let sum = checksum(&b[..20]);
        b[20..24].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(
            IterationCursor::from_bytes(&b),
            Err(CursorError::Malformed {
                reason: "shard index out of range"
            })
        );
    }
}
