//! The write-ahead log: a hash-chained, checksummed, segmented append log
//! that makes a write durable before it is acknowledged, so that a
//! write-behind queue ([`WriteBehindDataStore`](crate::datastores::WriteBehindDataStore))
//! loses nothing it acknowledged when the process is killed.
//!
//! * [`FileLog`]: segment files in one directory, group commit.
//! * [`MemoryLog`]: the same bytes in memory (tests, and the parity test
//!   that both give the same terminal chain hash).
//! * [`recovery`]: from segment bytes to the frames to replay; a torn tail
//!   is cut off and reported, corruption before the tail is an error.
//! * [`frame`]: the byte format; [`batch`]: the payload of a frame.
//!
//! # Format, version 1
//!
//! All integers little-endian. A log is a sequence of segments, each a file
//! named `<first sequence number, 20 digits>.wal`:
//!
//! ```text
//! segment header (64 bytes):
//!   0  8  magic "TGWALSEG"
//!   8  4  format version (1)
//!  12  4  reserved, zero
//!  16  8  sequence number of the segment's first frame
//!  24 32  chain hash before that frame
//!  56  4  CRC32C of bytes 0..56
//!  60  4  zero
//! frames, back to back:
//!   0  4  payload length L (at most 1 GiB)
//!   4  8  sequence number (the previous frame's plus 1)
//!  12  4  CRC32C of bytes 0..12 (the length can be trusted before reading L bytes)
//!  16 32  chain hash = BLAKE3(previous chain hash || sequence number || payload)
//!  48  L  payload (see [`batch`])
//! 48+L 4  CRC32C of bytes 0..48+L
//! ```
//!
//! The chain before the first frame of a new log is 32 zero bytes. Each
//! segment header repeats the chain hash and sequence number it starts
//! from, so the chain is verified across segments, and recovered even when
//! the last segment has no frame yet or older segments were deleted.
//!
//! **Why two checks.** CRC32C (hardware-accelerated) catches accidental
//! damage and torn writes cheaply, and the header CRC lets a reader trust a
//! frame's length before it allocates or skips. The chain hash makes the log
//! *ordered and complete*: a frame that was dropped, duplicated, reordered
//! or spliced in from another log breaks the chain even though each frame's
//! own CRC passes. **Why BLAKE3** (Kimberlite used SHA-256): it is a
//! cryptographic hash (so the chain is tamper-evident, which a CRC is not),
//! it is designed to be faster than SHA-256 in software (it needs no CPU
//! extension to be fast), and the `blake3` crate is maintained by its
//! designers. Its 32-byte output matches SHA-256's, so the format would not
//! change if a deployment needed FIPS hashing.
//!
//! # Durability
//!
//! [`WriteAheadLog::append`] hands the frame to the OS in one `write` call;
//! [`WriteAheadLog::wait_durable`] then waits as the log's
//! [`Durability`](crate::Durability) says: `Fsync` waits for an fsync that
//! covers the frame (concurrent writers share one), `Os` and `None` return
//! at once (the frame survives a SIGKILL, not a power loss).

pub mod batch;
mod file;
pub mod frame;
mod memory;
pub mod recovery;

pub use batch::{decode_batch, encode_batch, LoggedBatch, LoggedOp};
pub use file::{FileLog, FileLogOptions};
pub use frame::ChainHash;
pub use memory::MemoryLog;
pub use recovery::{RecoveredFrame, Recovery, TornTail};

use crate::map_data_store::DataStoreResult;

/// Counters of a log since it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogStats {
    /// Frames appended.
    pub frames: u64,
    /// Bytes appended (frames with their overhead).
    pub bytes: u64,
    /// fsyncs made for durability (group commits and rotations).
    pub syncs: u64,
    /// Segments that exist now (the active one included).
    pub segments: u64,
    /// Segments deleted because the backend holds what they held.
    pub segments_deleted: u64,
}

/// A write-ahead log, on disk ([`FileLog`]) or in memory ([`MemoryLog`]).
/// Safe to call from many threads; appends are ordered by their sequence
/// numbers.
pub trait WriteAheadLog: Send + Sync + std::fmt::Debug {
    /// Appends one frame holding `payload` and returns its sequence number.
    /// The frame is written (a SIGKILL no longer loses it) but not
    /// necessarily synced: call [`wait_durable`](Self::wait_durable) before
    /// acknowledging what it holds.
    ///
    /// # Errors
    ///
    /// `Rejected` for a payload above 1 GiB; `Io` / `DiskFull` if the write
    /// failed (the frame is then not in the log).
    fn append(&self, payload: &[u8]) -> DataStoreResult<u64>;

    /// Returns once frame `seq` is as durable as the log's durability level
    /// says (with `Fsync`: synced, sharing one fsync among the writers
    /// waiting at the same time).
    ///
    /// # Errors
    ///
    /// `Io` if the fsync failed; the log then refuses further writes.
    fn wait_durable(&self, seq: u64) -> DataStoreResult<()>;

    /// Syncs every frame appended so far, whatever the durability level.
    ///
    /// # Errors
    ///
    /// As [`wait_durable`](Self::wait_durable).
    fn sync(&self) -> DataStoreResult<()>;

    /// Deletes the completed segments (not the active one) whose frames all
    /// have sequence numbers `<= seq`, and syncs the directory; returns how
    /// many. The caller promises that the backend holds, durably, the effect
    /// of every frame up to `seq`.
    ///
    /// # Errors
    ///
    /// `Io` if a file could not be deleted (the ones before it are gone).
    fn release_through(&self, seq: u64) -> DataStoreResult<u64>;

    /// Starts a new, empty segment carrying the chain head (if the active
    /// one holds frames) and deletes every other segment. The caller
    /// promises that the backend holds, durably, every frame's effect.
    ///
    /// # Errors
    ///
    /// `Io` / `DiskFull` if a segment could not be created or deleted.
    fn restart(&self) -> DataStoreResult<()>;

    /// The chain hash after the last appended frame.
    fn chain_head(&self) -> ChainHash;

    /// The sequence number the next frame gets.
    fn next_seq(&self) -> u64;

    /// The sequence number of the last frame of the oldest completed
    /// segment (the first one [`release_through`](Self::release_through)
    /// could delete), if there is a completed segment.
    fn oldest_completed_through(&self) -> Option<u64>;

    /// The highest sequence number that is durable as the log's level says
    /// (with `Fsync`: synced; otherwise: written).
    fn durable_seq(&self) -> u64;

    /// Counters since the log was opened.
    fn stats(&self) -> LogStats;

    /// Releases what the log holds against other processes (the directory
    /// lock); every later append fails. Default: nothing to release.
    fn close(&self) {}
}
