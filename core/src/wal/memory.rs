//! [`MemoryLog`]: the write-ahead log in memory, byte for byte the on-disk
//! format.

use super::frame::{check_payload_len, encode_frame, ChainHash, SegmentHeader, SEGMENT_HEADER_LEN};
use super::recovery::{recover, Recovery};
use super::{LogStats, WriteAheadLog};
use crate::map_data_store::{DataStoreError, DataStoreErrorKind, DataStoreResult};
use parking_lot::Mutex;

#[derive(Debug)]
struct Segment {
    first_seq: u64,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct State {
    segments: Vec<Segment>,
    next_seq: u64,
    head: ChainHash,
    stats: LogStats,
}

/// A write-ahead log held in memory, with the same segments, frames, chain
/// and rotation rule as [`FileLog`](super::FileLog): the same appends give
/// byte-identical segments and the same terminal chain hash (a parity test
/// holds both to it). Nothing survives the process; durability levels have
/// nothing to do. [`segments`](MemoryLog::segments) and
/// [`recover`](MemoryLog::recover) let tests take the bytes, damage them and
/// recover, as from a crash, without a file system.
///
/// Costs: one mutex, one BLAKE3 and two CRC32C passes over the payload and
/// a copy of the frame per append.
#[derive(Debug)]
pub struct MemoryLog {
    segment_bytes: u64,
    state: Mutex<State>,
}

fn new_segment(first_seq: u64, head: ChainHash) -> Segment {
    Segment {
        first_seq,
        bytes: SegmentHeader {
            first_seq,
            prev_hash: head,
        }
        .encode()
        .to_vec(),
    }
}

impl MemoryLog {
    /// An empty log whose segments rotate at `segment_bytes` (as
    /// [`FileLogOptions::segment_bytes`](super::FileLogOptions::segment_bytes)).
    #[must_use]
    pub fn new(segment_bytes: u64) -> Self {
        Self::from_recovery(segment_bytes, &Recovery::empty(), Vec::new())
    }

    fn from_recovery(segment_bytes: u64, recovery: &Recovery, kept: Vec<Segment>) -> Self {
        let mut segments = kept;
        if segments.is_empty() {
            segments.push(new_segment(recovery.next_seq, recovery.chain_head));
        }
        let stats = LogStats {
            segments: segments.len() as u64,
            ..LogStats::default()
        };
        MemoryLog {
            segment_bytes: segment_bytes.max(SEGMENT_HEADER_LEN as u64 + 1),
            state: Mutex::new(State {
                segments,
                next_seq: recovery.next_seq,
                head: recovery.chain_head,
                stats,
            }),
        }
    }

    /// Recovers a log from segment bytes (oldest first), as
    /// [`FileLog::open`](super::FileLog::open) recovers its files: a torn
    /// tail is cut off and reported, a half-created last segment dropped.
    ///
    /// # Errors
    ///
    /// [`Corrupt`](DataStoreErrorKind::Corrupt) if the log is damaged before
    /// its tail.
    pub fn recover(
        segment_bytes: u64,
        segments: Vec<Vec<u8>>,
    ) -> DataStoreResult<(MemoryLog, Recovery)> {
        let views: Vec<(String, &[u8])> = segments
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("#{i}"), b.as_slice()))
            .collect();
        let recovery = recover("in memory", &views)?;
        let kept = segments
            .into_iter()
            .zip(&recovery.kept)
            .filter_map(|(mut bytes, k)| {
                let k = (*k)?;
                bytes.truncate(k.valid_len);
                Some(Segment {
                    first_seq: k.first_seq,
                    bytes,
                })
            })
            .collect();
        let log = Self::from_recovery(segment_bytes, &recovery, kept);
        Ok((log, recovery))
    }

    /// A copy of every segment's bytes, oldest first.
    #[must_use]
    pub fn segments(&self) -> Vec<Vec<u8>> {
        self.state
            .lock()
            .segments
            .iter()
            .map(|s| s.bytes.clone())
            .collect()
    }
}

impl WriteAheadLog for MemoryLog {
    fn append(&self, payload: &[u8]) -> DataStoreResult<u64> {
        check_payload_len(payload.len())?;
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let full = state
            .segments
            .last()
            .is_none_or(|s| s.bytes.len() as u64 >= self.segment_bytes);
        if full {
            state.segments.push(new_segment(state.next_seq, state.head));
            state.stats.segments += 1;
        }
        let seq = state.next_seq;
        let head = state.head;
        let Some(active) = state.segments.last_mut() else {
            return Err(DataStoreError::new(
                DataStoreErrorKind::Other,
                "no active segment",
            ));
        };
        let before = active.bytes.len();
        state.head = encode_frame(&mut active.bytes, seq, &head, payload);
        state.stats.frames += 1;
        state.stats.bytes += (active.bytes.len() - before) as u64;
        state.next_seq += 1;
        Ok(seq)
    }

    fn wait_durable(&self, _seq: u64) -> DataStoreResult<()> {
        Ok(())
    }

    fn sync(&self) -> DataStoreResult<()> {
        Ok(())
    }

    fn release_through(&self, seq: u64) -> DataStoreResult<u64> {
        let mut state = self.state.lock();
        let mut removed = 0;
        while state.segments.len() > 1 && state.segments[1].first_seq.saturating_sub(1) <= seq {
            state.segments.remove(0);
            state.stats.segments -= 1;
            state.stats.segments_deleted += 1;
            removed += 1;
        }
        Ok(removed)
    }

    fn restart(&self) -> DataStoreResult<()> {
        let mut state = self.state.lock();
        let active_first = state.segments.last().map(|s| s.first_seq);
        if active_first != Some(state.next_seq) {
            let segment = new_segment(state.next_seq, state.head);
            state.segments.push(segment);
            state.stats.segments += 1;
        }
        drop(state);
        self.release_through(u64::MAX)?;
        Ok(())
    }

    fn chain_head(&self) -> ChainHash {
        self.state.lock().head
    }

    fn next_seq(&self) -> u64 {
        self.state.lock().next_seq
    }

    fn oldest_completed_through(&self) -> Option<u64> {
        let state = self.state.lock();
        (state.segments.len() > 1).then(|| state.segments[1].first_seq.saturating_sub(1))
    }

    fn durable_seq(&self) -> u64 {
        self.state.lock().next_seq.saturating_sub(1)
    }

    fn stats(&self) -> LogStats {
        self.state.lock().stats
    }
}
