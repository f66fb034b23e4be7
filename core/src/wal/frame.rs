//! The byte format of the log (version [`FORMAT_VERSION`]): segment headers,
//! frames, the chain hash, and the scan that checks a segment's frames.
//!
//! Everything here works on byte slices, so the on-disk log
//! ([`super::FileLog`]) and the in-memory log ([`super::MemoryLog`]) encode
//! and check exactly the same bytes. The layout is described in
//! docs/architecture.md ("The write-ahead log") and in [`super`].

use std::fmt;

/// The first eight bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"TGWALSEG";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes of a segment header.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Bytes of a frame before its payload (length, sequence, header CRC, hash).
pub const FRAME_HEADER_LEN: usize = 48;
/// Bytes of a frame after its payload (the frame CRC).
pub const FRAME_TRAILER_LEN: usize = 4;
/// Bytes a frame adds to its payload.
pub const FRAME_OVERHEAD: usize = FRAME_HEADER_LEN + FRAME_TRAILER_LEN;
/// The largest payload a frame may carry (1 GiB).
pub const MAX_PAYLOAD_LEN: usize = 1 << 30;

/// Refuses a payload a frame cannot carry.
///
/// # Errors
///
/// [`Rejected`](crate::DataStoreErrorKind::Rejected) above
/// [`MAX_PAYLOAD_LEN`].
pub fn check_payload_len(len: usize) -> crate::DataStoreResult<()> {
    if len > MAX_PAYLOAD_LEN {
        return Err(crate::DataStoreError::new(
            crate::DataStoreErrorKind::Rejected,
            format!(
                "a write of {len} bytes is larger than the write-ahead log's frame limit of \
                 {MAX_PAYLOAD_LEN} bytes"
            ),
        ));
    }
    Ok(())
}

/// A link of the hash chain: the BLAKE3 hash of the previous link, the
/// frame's sequence number and its payload. The chain before the first
/// frame of a log is all zeros ([`ChainHash::GENESIS`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The chain before any frame.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    /// The link after a frame of `seq` carrying `payload`, following `self`.
    #[must_use]
    pub fn next(&self, seq: u64, payload: &[u8]) -> ChainHash {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.0);
        hasher.update(&seq.to_le_bytes());
        hasher.update(payload);
        ChainHash(*hasher.finalize().as_bytes())
    }

    /// Lowercase hex, for reports and tests.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

/// What a segment header says: the sequence number of the segment's first
/// frame and the chain hash before it. A segment that holds no frame yet
/// still carries both, so the chain head survives rotation and the deletion
/// of older segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Sequence number of the first frame this segment holds (or will hold).
    pub first_seq: u64,
    /// The chain hash before that frame.
    pub prev_hash: ChainHash,
}

/// Why a header or frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer bytes than a header.
    Short,
    /// Not a segment of this log (magic), or its checksum does not match.
    Damaged(&'static str),
    /// A segment written by a later format version.
    Version(u32),
}

impl SegmentHeader {
    /// The 64 header bytes: magic, version, reserved, first sequence, chain
    /// hash, CRC32C of the bytes before it, zero padding.
    #[must_use]
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut out = [0u8; SEGMENT_HEADER_LEN];
        out[0..8].copy_from_slice(&SEGMENT_MAGIC);
        out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[16..24].copy_from_slice(&self.first_seq.to_le_bytes());
        out[24..56].copy_from_slice(&self.prev_hash.0);
        let crc = crc32c::crc32c(&out[0..56]);
        out[56..60].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a header from the start of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, HeaderError> {
        let Some(h) = bytes.get(..SEGMENT_HEADER_LEN) else {
            return Err(HeaderError::Short);
        };
        if h[0..8] != SEGMENT_MAGIC {
            return Err(HeaderError::Damaged("bad magic"));
        }
        if crc32c::crc32c(&h[0..56]) != le_u32(&h[56..60]) {
            return Err(HeaderError::Damaged("header checksum mismatch"));
        }
        let version = le_u32(&h[8..12]);
        if version != FORMAT_VERSION {
            return Err(HeaderError::Version(version));
        }
        if le_u32(&h[12..16]) != 0 || le_u32(&h[60..64]) != 0 {
            return Err(HeaderError::Damaged("reserved header bytes are not zero"));
        }
        let mut prev = [0u8; 32];
        prev.copy_from_slice(&h[24..56]);
        Ok(SegmentHeader {
            first_seq: le_u64(&h[16..24]),
            prev_hash: ChainHash(prev),
        })
    }
}

/// Appends one frame for `payload` with sequence `seq` after chain link
/// `prev` to `out`; returns the frame's chain link.
///
/// Layout (little-endian): `u32` payload length, `u64` sequence, `u32`
/// CRC32C of those 12 bytes, 32-byte chain hash, the payload, `u32` CRC32C
/// of everything before it in the frame.
pub fn encode_frame(out: &mut Vec<u8>, seq: u64, prev: &ChainHash, payload: &[u8]) -> ChainHash {
    let hash = prev.next(seq, payload);
    let start = out.len();
    out.reserve(FRAME_OVERHEAD + payload.len());
    // The caller refuses payloads above MAX_PAYLOAD_LEN, so this fits.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    let header_crc = crc32c::crc32c(&out[start..start + 12]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&hash.0);
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    hash
}

/// A frame found by [`scan_frames`]: where its payload lies in the scanned
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef {
    /// The frame's sequence number.
    pub seq: u64,
    /// Offset of the frame's first byte in the scanned slice.
    pub offset: usize,
    /// Offset of the payload in the scanned slice.
    pub payload_at: usize,
    /// Payload length.
    pub payload_len: usize,
}

/// The first bytes [`scan_frames`] could not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Offset (in the scanned slice) where the bad bytes start: everything
    /// before it is valid frames.
    pub offset: usize,
    /// What was wrong.
    pub reason: String,
    /// Whether a well-formed frame (both checksums right, a sequence number
    /// not below the expected one) starts somewhere after `offset`. If so,
    /// the damage is not a torn tail: bytes were lost or changed in the
    /// middle of the log.
    pub valid_frame_follows: bool,
    /// Whether the frame at `offset` passed its checksums but broke the
    /// chain (wrong sequence number or hash): never a torn write.
    pub chain_break: bool,
}

/// The result of scanning the frames of one segment body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameScan {
    /// The valid frames, in order.
    pub frames: Vec<FrameRef>,
    /// Where the valid frames end.
    pub valid_end: usize,
    /// The chain link after the last valid frame.
    pub chain_head: ChainHash,
    /// The sequence number the next frame must carry.
    pub next_seq: u64,
    /// The bad bytes after the valid frames, if any.
    pub damage: Option<Damage>,
}

/// Why the frame at one offset is not acceptable.
enum FrameFault {
    /// Checksums or lengths fail: a torn write or damaged bytes.
    Malformed(&'static str),
    /// Checksums pass but the frame does not continue the chain.
    Chain(String),
}

/// A well-formed frame at `at` (both checksums pass), without chain checks.
fn well_formed(bytes: &[u8], at: usize) -> Result<(FrameRef, &[u8]), &'static str> {
    let Some(head) = bytes.get(at..at + 16) else {
        return Err("truncated frame header");
    };
    if crc32c::crc32c(&head[0..12]) != le_u32(&head[12..16]) {
        return Err("frame header checksum mismatch");
    }
    let len = le_u32(&head[0..4]) as usize;
    if len > MAX_PAYLOAD_LEN {
        return Err("frame length above the limit");
    }
    let end = at + FRAME_OVERHEAD + len;
    let Some(frame) = bytes.get(at..end) else {
        return Err("truncated frame");
    };
    let body = &frame[..FRAME_HEADER_LEN + len];
    if crc32c::crc32c(body) != le_u32(&frame[FRAME_HEADER_LEN + len..]) {
        return Err("frame checksum mismatch");
    }
    Ok((
        FrameRef {
            seq: le_u64(&head[4..12]),
            offset: at,
            payload_at: at + FRAME_HEADER_LEN,
            payload_len: len,
        },
        frame,
    ))
}

fn check_frame(
    bytes: &[u8],
    at: usize,
    seq: u64,
    prev: &ChainHash,
) -> Result<(FrameRef, ChainHash), FrameFault> {
    let (frame, raw) = well_formed(bytes, at).map_err(FrameFault::Malformed)?;
    if frame.seq != seq {
        return Err(FrameFault::Chain(format!(
            "sequence {} where {seq} was expected",
            frame.seq
        )));
    }
    let payload = &bytes[frame.payload_at..frame.payload_at + frame.payload_len];
    let hash = prev.next(seq, payload);
    if raw[16..48] != hash.0 {
        return Err(FrameFault::Chain(format!(
            "chain hash of frame {seq} does not follow the previous frame"
        )));
    }
    Ok((frame, hash))
}

/// Scans the frames of a segment body (`bytes`, the segment without its
/// header) that must start with sequence `first_seq` after chain link
/// `prev`. Stops at the first frame that is not acceptable and says whether
/// a well-formed frame follows it. Never panics, never allocates more than
/// the frame list.
#[must_use]
pub fn scan_frames(bytes: &[u8], first_seq: u64, prev: ChainHash) -> FrameScan {
    let mut frames = Vec::new();
    let mut at = 0usize;
    let mut seq = first_seq;
    let mut head = prev;
    let mut damage = None;
    while at < bytes.len() {
        match check_frame(bytes, at, seq, &head) {
            Ok((frame, hash)) => {
                at = frame.payload_at + frame.payload_len + FRAME_TRAILER_LEN;
                frames.push(frame);
                head = hash;
                seq = seq.saturating_add(1);
            }
            Err(fault) => {
                let (reason, chain_break) = match fault {
                    FrameFault::Malformed(why) => (why.to_owned(), false),
                    FrameFault::Chain(why) => (why, true),
                };
                let valid_frame_follows = (at + 1..bytes.len())
                    .any(|q| matches!(well_formed(bytes, q), Ok((f, _)) if f.seq >= seq));
                damage = Some(Damage {
                    offset: at,
                    reason,
                    valid_frame_follows,
                    chain_break,
                });
                break;
            }
        }
    }
    FrameScan {
        frames,
        valid_end: at,
        chain_head: head,
        next_seq: seq,
        damage,
    }
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(payloads: &[&[u8]]) -> (Vec<u8>, ChainHash) {
        let mut out = Vec::new();
        let mut head = ChainHash::GENESIS;
        for (i, p) in payloads.iter().enumerate() {
            head = encode_frame(&mut out, i as u64 + 1, &head, p);
        }
        (out, head)
    }

    #[test]
    fn frames_round_trip_and_chain() {
        let (bytes, head) = frames(&[b"a", b"", b"hello world"]);
        assert_eq!(bytes.len(), 3 * FRAME_OVERHEAD + 12);
        let scan = scan_frames(&bytes, 1, ChainHash::GENESIS);
        assert_eq!(scan.damage, None);
        assert_eq!(scan.frames.len(), 3);
        assert_eq!(scan.chain_head, head);
        assert_eq!(scan.next_seq, 4);
        let f = scan.frames[2];
        assert_eq!(
            &bytes[f.payload_at..f.payload_at + f.payload_len],
            b"hello world"
        );
        // The chain depends on everything before: another first payload
        // gives another head.
        let (_, other) = frames(&[b"b", b"", b"hello world"]);
        assert_ne!(other, head);
    }

    #[test]
    fn a_torn_last_frame_is_damage_without_a_following_frame() {
        let (bytes, _) = frames(&[b"one", b"two"]);
        let cut = &bytes[..bytes.len() - 1];
        let scan = scan_frames(cut, 1, ChainHash::GENESIS);
        assert_eq!(scan.frames.len(), 1);
        let d = scan.damage.unwrap();
        assert_eq!(d.offset, FRAME_OVERHEAD + 3);
        assert!(!d.valid_frame_follows && !d.chain_break);
    }

    #[test]
    fn a_damaged_middle_frame_is_followed_by_a_valid_one() {
        let (mut bytes, _) = frames(&[b"one", b"two", b"three"]);
        bytes[FRAME_OVERHEAD + FRAME_HEADER_LEN] ^= 1;
        let d = scan_frames(&bytes, 1, ChainHash::GENESIS).damage.unwrap();
        assert!(d.valid_frame_follows);
        assert_eq!(d.reason, "frame checksum mismatch");
    }

    #[test]
    fn wrong_sequence_or_chain_is_a_chain_break() {
        let (bytes, _) = frames(&[b"one"]);
        let d = scan_frames(&bytes, 2, ChainHash::GENESIS).damage.unwrap();
        assert!(d.chain_break, "{d:?}");
        let d = scan_frames(&bytes, 1, ChainHash([1; 32])).damage.unwrap();
        assert!(d.chain_break, "{d:?}");
    }

    #[test]
    fn headers_round_trip_and_refuse_damage_and_later_versions() {
        let h = SegmentHeader {
            first_seq: 42,
            prev_hash: ChainHash([7; 32]),
        };
        let bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(h));
        assert_eq!(SegmentHeader::decode(&bytes[..63]), Err(HeaderError::Short));
        let mut bad = bytes;
        bad[20] ^= 4;
        assert!(matches!(
            SegmentHeader::decode(&bad),
            Err(HeaderError::Damaged(_))
        ));
        let mut v2 = bytes;
        v2[8] = 2;
        let crc = crc32c::crc32c(&v2[0..56]);
        v2[56..60].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(SegmentHeader::decode(&v2), Err(HeaderError::Version(2)));
    }
}
