//! The write-ahead log: memory/disk parity, recovery across segments, torn
//! tails, group commit, locking, and every truncation and bit flip of its
//! files.

// Test helpers outside `#[test]` functions panic on setup failures.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::sync::Arc;
use topgun_storage_core::wal::{ChainHash, FileLog, FileLogOptions, MemoryLog, WriteAheadLog};
use topgun_storage_core::{DataStoreErrorKind, Durability};

fn options(dir: &Path, segment_bytes: u64) -> FileLogOptions {
    FileLogOptions {
        segment_bytes,
        ..FileLogOptions::new(dir, Durability::Os)
    }
}

/// Payloads of varied lengths (0 to 90 bytes).
fn payloads(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| (0..(i * 37) % 91).map(|b| (b * 7 + i) as u8).collect())
        .collect()
}

/// The segment files of a log directory, oldest first.
fn segment_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".wal"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let bytes = fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect()
}

fn write_segments(dir: &Path, files: &[(String, Vec<u8>)]) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wal") {
            fs::remove_file(path).unwrap();
        }
    }
    for (name, bytes) in files {
        fs::write(dir.join(name), bytes).unwrap();
    }
}

/// The chain head after each prefix of `payloads` (index i: after i frames).
fn heads(payloads: &[Vec<u8>]) -> Vec<ChainHash> {
    let log = MemoryLog::new(u64::MAX);
    let mut out = vec![log.chain_head()];
    for p in payloads {
        log.append(p).unwrap();
        out.push(log.chain_head());
    }
    out
}

#[test]
fn memory_and_disk_logs_give_the_same_bytes_and_terminal_chain_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (disk, recovery) = FileLog::open(&options(dir.path(), 300)).unwrap();
    assert!(recovery.frames.is_empty());
    let memory = MemoryLog::new(300);
    for p in payloads(40) {
        assert_eq!(disk.append(&p).unwrap(), memory.append(&p).unwrap());
    }
    assert_eq!(disk.chain_head(), memory.chain_head());
    assert_ne!(disk.chain_head(), ChainHash::GENESIS);
    assert_eq!(disk.next_seq(), 41);
    let files: Vec<Vec<u8>> = segment_files(dir.path()).into_iter().map(|f| f.1).collect();
    assert!(
        files.len() > 3,
        "rotation happened: {} segments",
        files.len()
    );
    assert_eq!(files, memory.segments(), "byte-identical segments");
    assert_eq!(disk.stats().segments, files.len() as u64);
    // After a restart (every segment released) both continue the same chain.
    disk.restart().unwrap();
    memory.restart().unwrap();
    for p in payloads(5) {
        disk.append(&p).unwrap();
        memory.append(&p).unwrap();
    }
    assert_eq!(disk.chain_head(), memory.chain_head());
    let files: Vec<Vec<u8>> = segment_files(dir.path()).into_iter().map(|f| f.1).collect();
    assert_eq!(files, memory.segments());
    assert_eq!(
        files.len(),
        2,
        "the released segments are gone; one rotation since"
    );
}

#[test]
fn reopening_recovers_every_frame_and_the_chain_head_across_rotations() {
    let dir = tempfile::tempdir().unwrap();
    let all = payloads(30);
    let expected = heads(&all);
    {
        let (log, _) = FileLog::open(&options(dir.path(), 250)).unwrap();
        for p in &all[..20] {
            log.append(p).unwrap();
        }
    }
    {
        let (log, rec) = FileLog::open(&options(dir.path(), 250)).unwrap();
        assert_eq!(rec.torn_tail, None);
        assert_eq!(rec.frames.len(), 20);
        assert_eq!(rec.chain_head, expected[20]);
        for (i, f) in rec.frames.iter().enumerate() {
            assert_eq!((f.seq, &f.payload), (i as u64 + 1, &all[i]));
        }
        // Appending after a reopen continues the chain.
        for p in &all[20..] {
            log.append(p).unwrap();
        }
        assert_eq!(log.chain_head(), expected[30]);
        // Release the completed segments: the chain head survives in the
        // remaining segment's header.
        let released = log.release_through(u64::MAX).unwrap();
        assert!(released >= 2, "{released}");
    }
    let (log, rec) = FileLog::open(&options(dir.path(), 250)).unwrap();
    assert_eq!(rec.chain_head, expected[30]);
    assert_eq!(rec.next_seq, 31);
    assert!(rec.frames.len() < 30 && !rec.frames.is_empty());
    let first = rec.frames[0].seq as usize;
    for f in &rec.frames {
        assert_eq!(f.payload, all[f.seq as usize - 1]);
    }
    assert_eq!(rec.frames.last().unwrap().seq, 30);
    assert!(first > 1);
    // Right after a restart the only segment is empty and still carries
    // the head.
    log.restart().unwrap();
    drop(log);
    let (_, rec) = FileLog::open(&options(dir.path(), 250)).unwrap();
    assert!(rec.frames.is_empty());
    assert_eq!((rec.chain_head, rec.next_seq), (expected[30], 31));
}

#[test]
fn a_torn_tail_is_cut_reported_and_appending_goes_on_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let all = payloads(6);
    {
        let (log, _) = FileLog::open(&options(dir.path(), 1 << 20)).unwrap();
        for p in &all {
            log.append(p).unwrap();
        }
    }
    let files = segment_files(dir.path());
    let (name, bytes) = &files[0];
    let cut = bytes.len() - 3;
    fs::write(dir.path().join(name), &bytes[..cut]).unwrap();
    let expected = heads(&all);
    {
        let (log, rec) = FileLog::open(&options(dir.path(), 1 << 20)).unwrap();
        let torn = rec.torn_tail.clone().unwrap();
        assert_eq!(torn.segment, *name);
        assert_eq!(torn.dropped_bytes + torn.offset, cut as u64);
        assert_eq!(rec.frames.len(), 5);
        assert_eq!(rec.chain_head, expected[5]);
        assert_eq!(
            fs::metadata(dir.path().join(name)).unwrap().len(),
            torn.offset
        );
        assert_eq!(log.append(b"after").unwrap(), 6);
    }
    let (_, rec) = FileLog::open(&options(dir.path(), 1 << 20)).unwrap();
    assert_eq!(rec.torn_tail, None);
    assert_eq!(rec.frames.len(), 6);
    assert_eq!(rec.frames[5].payload, b"after");
}

#[test]
fn a_second_open_of_the_same_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, _) = FileLog::open(&options(dir.path(), 1 << 20)).unwrap();
    let err = FileLog::open(&options(dir.path(), 1 << 20)).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Locked, "{err}");
}

#[test]
fn concurrent_writers_share_fsyncs_and_every_frame_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let opts = FileLogOptions::new(dir.path(), Durability::Fsync);
    let (log, _) = FileLog::open(&opts).unwrap();
    let log = Arc::new(log);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..50u32 {
                    let seq = log.append(&[t as u8; 16]).unwrap();
                    log.wait_durable(seq).unwrap();
                    let _ = i;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = log.stats();
    assert_eq!(stats.frames, 200);
    assert!(stats.syncs >= 1 && stats.syncs <= 200, "{stats:?}");
    drop(log);
    let (_, rec) = FileLog::open(&opts).unwrap();
    assert_eq!(rec.frames.len(), 200);
}

#[test]
fn a_log_from_a_later_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (log, _) = FileLog::open(&options(dir.path(), 1 << 20)).unwrap();
        log.append(b"x").unwrap();
    }
    let mut files = segment_files(dir.path());
    let bytes = &mut files[0].1;
    bytes[8] = 2;
    let crc = crc32c::crc32c(&bytes[0..56]);
    bytes[56..60].copy_from_slice(&crc.to_le_bytes());
    write_segments(dir.path(), &files);
    let err = FileLog::open(&options(dir.path(), 1 << 20)).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Corrupt);
    assert!(err.message().contains("format version 2"), "{err}");
}

/// What recovery of a damaged copy must give: the frames of `all` up to
/// `frames` (exactly, with the matching chain head), or a `Corrupt` error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Frames(usize),
    Corrupt,
}

/// Frame boundaries of each segment: (first frame index, end offsets of
/// each frame in the file).
fn layout(files: &[(String, Vec<u8>)]) -> Vec<(usize, Vec<usize>)> {
    let mut out = Vec::new();
    let mut first = 0;
    for (_, bytes) in files {
        let mut ends = Vec::new();
        let mut at = 64;
        while at < bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            at += 52 + len;
            ends.push(at);
        }
        out.push((first, ends.clone()));
        first += ends.len();
    }
    out
}

fn check(
    dir: &Path,
    files: &[(String, Vec<u8>)],
    all: &[Vec<u8>],
    heads: &[ChainHash],
    expect: Expect,
    what: &str,
) {
    write_segments(dir, files);
    match (FileLog::open(&options(dir, 400)), expect) {
        (Ok((_, rec)), Expect::Frames(n)) => {
            assert_eq!(rec.frames.len(), n, "{what}");
            for (i, f) in rec.frames.iter().enumerate() {
                assert_eq!((f.seq, &f.payload), (i as u64 + 1, &all[i]), "{what}");
            }
            if n > 0 {
                assert_eq!(rec.chain_head, heads[n], "{what}");
            }
        }
        (Err(e), Expect::Corrupt) => {
            assert_eq!(e.kind(), DataStoreErrorKind::Corrupt, "{what}: {e}");
        }
        (Ok((_, rec)), Expect::Corrupt) => {
            panic!(
                "{what}: expected a corruption error, recovered {} frames",
                rec.frames.len()
            )
        }
        (Err(e), Expect::Frames(n)) => panic!("{what}: expected {n} frames, got {e}"),
    }
}

#[test]
fn every_truncation_and_every_bit_flip_recovers_the_valid_prefix_or_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let all = payloads(14);
    let heads = heads(&all);
    {
        let (log, _) = FileLog::open(&options(dir.path(), 400)).unwrap();
        for p in &all {
            log.append(p).unwrap();
        }
    }
    let files = segment_files(dir.path());
    assert!(files.len() >= 3, "{} segments", files.len());
    let layout = layout(&files);
    let last = files.len() - 1;
    let mut cases = 0usize;

    for (s, (name, bytes)) in files.iter().enumerate() {
        let (first, ends) = &layout[s];
        // Every truncation of segment s to k bytes (k < its length).
        for k in 0..bytes.len() {
            let mut damaged = files.clone();
            damaged[s].1.truncate(k);
            let expect = if s != last {
                Expect::Corrupt
            } else {
                Expect::Frames(first + ends.iter().filter(|&&e| e <= k).count())
            };
            check(
                dir.path(),
                &damaged,
                &all,
                &heads,
                expect,
                &format!("{name} cut to {k}"),
            );
            cases += 1;
        }
        // Every single-bit flip of segment s.
        for bit in 0..bytes.len() * 8 {
            let at = bit / 8;
            let mut damaged = files.clone();
            damaged[s].1[at] ^= 1 << (bit % 8);
            let expect = if s != last {
                Expect::Corrupt
            } else if at < 64 {
                if ends.is_empty() {
                    Expect::Frames(*first)
                } else {
                    Expect::Corrupt
                }
            } else {
                // The frame holding the flipped byte.
                let j = ends.iter().position(|&e| at < e).unwrap();
                if j + 1 == ends.len() {
                    Expect::Frames(first + j)
                } else {
                    Expect::Corrupt
                }
            };
            check(
                dir.path(),
                &damaged,
                &all,
                &heads,
                expect,
                &format!("{name} bit {bit}"),
            );
            cases += 1;
        }
    }
    // The figure docs/architecture.md quotes.
    println!("corruption cases tried: {cases}");
    assert!(cases > 10_000, "{cases}");
}
