//! [`FileLog`]: the write-ahead log in segment files of one directory.

use super::frame::{check_payload_len, encode_frame, ChainHash, SegmentHeader, SEGMENT_HEADER_LEN};
use super::recovery::{recover, Recovery};
use super::{LogStats, WriteAheadLog};
use crate::map_data_store::{DataStoreError, DataStoreErrorKind, DataStoreResult, Durability};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Name of the lock file in a log directory.
const LOCK_FILE: &str = "LOCK";
/// Segment files are `<first sequence, 20 digits>.wal`.
const SEGMENT_SUFFIX: &str = ".wal";

/// Options of a [`FileLog`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLogOptions {
    /// The directory that holds the segments (created if missing).
    pub dir: PathBuf,
    /// When an appended frame counts as durable: `Fsync` waits for the
    /// device (group commit: one fsync serves every writer waiting at that
    /// moment), `Os` for the operating system (one `write` call), `None`
    /// likewise (the log never syncs on its own).
    pub durability: Durability,
    /// Once a segment holds this many bytes or more, the next frame starts
    /// a new segment.
    pub segment_bytes: u64,
}

impl FileLogOptions {
    /// 64 MiB segments in `dir` with `durability`.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>, durability: Durability) -> Self {
        Self {
            dir: dir.into(),
            durability,
            segment_bytes: 64 << 20,
        }
    }
}

#[derive(Debug)]
struct Completed {
    path: PathBuf,
    /// Sequence number of its last frame (its successor's first minus 1).
    last_seq: u64,
}

#[derive(Debug)]
struct State {
    active: Arc<File>,
    active_path: PathBuf,
    active_first_seq: u64,
    active_len: u64,
    next_seq: u64,
    head: ChainHash,
    completed: VecDeque<Completed>,
    /// Highest sequence number written to the OS.
    written_seq: u64,
    /// Highest sequence number known to be on the device.
    synced_seq: u64,
    syncing: bool,
    /// Set when the log can no longer be trusted (a failed fsync, or a
    /// failed write that could not be undone); every later call fails.
    failed: Option<String>,
    scratch: Vec<u8>,
    stats: LogStats,
}

/// The write-ahead log in one directory: segment files named after their
/// first sequence number, each starting with a header that carries the chain
/// head, and a `LOCK` file held (advisory `flock`) while the log is open, so
/// a second process gets [`Locked`](DataStoreErrorKind::Locked).
///
/// Guarantees: [`append`](WriteAheadLog::append) writes the whole frame with
/// one `write` call (so after it returns, a SIGKILL does not lose it);
/// [`wait_durable`](WriteAheadLog::wait_durable) with `Fsync` returns after
/// an fsync that covers the frame (group commit). A new segment's header is
/// synced, and the directory is synced after every segment is created or
/// deleted, whatever the durability level. A failed write is undone (the
/// file is cut back); if that fails, or an fsync fails, the log refuses
/// every later call until it is reopened (after an fsync failure the OS may
/// have dropped the unsynced pages, so nothing written since the last good
/// sync can be promised).
///
/// Costs: one `write` syscall and one BLAKE3 + two CRC32C passes over the
/// payload per frame, under one mutex; with `Fsync`, one `fdatasync` per
/// group of concurrent writers.
#[derive(Debug)]
pub struct FileLog {
    dir: PathBuf,
    durability: Durability,
    segment_bytes: u64,
    /// The held `LOCK` file; dropped (unlocked) by `close`.
    lock: Mutex<Option<File>>,
    state: Mutex<State>,
    synced: Condvar,
}

fn io_err(context: impl std::fmt::Display, err: std::io::Error) -> DataStoreError {
    DataStoreError::io(context, err)
}

/// Syncs a directory, so that files created or deleted in it stay so.
fn sync_dir(dir: &Path) -> DataStoreResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(format!("syncing directory {}", dir.display()), e))
}

fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SEGMENT_SUFFIX}")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Creates a segment holding only its header, synced, and syncs the
/// directory.
fn create_segment(dir: &Path, first_seq: u64, head: ChainHash) -> DataStoreResult<(File, PathBuf)> {
    let path = dir.join(segment_name(first_seq));
    let header = SegmentHeader {
        first_seq,
        prev_hash: head,
    }
    .encode();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| io_err(format!("creating {}", path.display()), e))?;
    file.write_all(&header)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_err(format!("writing the header of {}", path.display()), e))?;
    sync_dir(dir)?;
    Ok((file, path))
}

impl FileLog {
    /// Opens (or creates) the log in `options.dir`, recovers it and returns
    /// it with what it holds, ready to append after the last valid frame.
    /// A torn tail is cut off the file (and reported in the
    /// [`Recovery`]); a segment whose creation was cut short is deleted.
    ///
    /// # Errors
    ///
    /// * [`Locked`](DataStoreErrorKind::Locked) if another process has the
    ///   log open;
    /// * [`Corrupt`](DataStoreErrorKind::Corrupt) if the log is damaged
    ///   before its tail (nothing is changed on disk then);
    /// * [`Io`](DataStoreErrorKind::Io) / `DiskFull` if the directory cannot
    ///   be read or written.
    pub fn open(options: &FileLogOptions) -> DataStoreResult<(FileLog, Recovery)> {
        let dir = options.dir.clone();
        let existed = dir.is_dir();
        fs::create_dir_all(&dir).map_err(|e| io_err(format!("creating {}", dir.display()), e))?;
        if !existed {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| io_err(format!("opening {}", lock_path.display()), e))?;
        match fs4::FileExt::try_lock(&lock) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                return Err(DataStoreError::new(
                    DataStoreErrorKind::Locked,
                    format!(
                        "write-ahead log {} is open in another process",
                        dir.display()
                    ),
                ))
            }
            Err(fs4::TryLockError::Error(e)) => {
                return Err(io_err(format!("locking {}", lock_path.display()), e))
            }
        }

        let mut names: Vec<(u64, String)> = fs::read_dir(&dir)
            .map_err(|e| io_err(format!("listing {}", dir.display()), e))?
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                parse_segment_name(&name).map(|seq| (seq, name))
            })
            .collect();
        names.sort();
        let mut contents = Vec::with_capacity(names.len());
        for (_, name) in &names {
            let path = dir.join(name);
            let bytes =
                fs::read(&path).map_err(|e| io_err(format!("reading {}", path.display()), e))?;
            contents.push((name.clone(), bytes));
        }
        let views: Vec<(String, &[u8])> = contents
            .iter()
            .map(|(n, b)| (n.clone(), b.as_slice()))
            .collect();
        let what = dir.display().to_string();
        let recovery = recover(&what, &views)?;
        for ((seq, name), kept) in names.iter().zip(&recovery.kept) {
            if let Some(k) = kept {
                if k.first_seq != *seq {
                    return Err(DataStoreError::new(
                        DataStoreErrorKind::Corrupt,
                        format!(
                            "write-ahead log {what}, segment {name}: its header says it starts at \
                             sequence {}; the log is not opened",
                            k.first_seq
                        ),
                    ));
                }
            }
        }

        // Apply the recovery: cut a torn tail, drop a half-created segment.
        let mut live: Vec<(PathBuf, u64, u64, usize)> = Vec::new();
        for (((_, name), kept), (_, bytes)) in names.iter().zip(&recovery.kept).zip(&contents) {
            let path = dir.join(name);
            match kept {
                None => {
                    fs::remove_file(&path)
                        .map_err(|e| io_err(format!("removing {}", path.display()), e))?;
                    sync_dir(&dir)?;
                }
                Some(k) => {
                    if k.valid_len < bytes.len() {
                        let file = OpenOptions::new()
                            .write(true)
                            .open(&path)
                            .map_err(|e| io_err(format!("opening {}", path.display()), e))?;
                        file.set_len(k.valid_len as u64)
                            .and_then(|()| file.sync_all())
                            .map_err(|e| {
                                io_err(format!("cutting the torn tail of {}", path.display()), e)
                            })?;
                    }
                    live.push((path, k.first_seq, k.next_seq, k.valid_len));
                }
            }
        }

        let (active, active_path, active_first_seq, active_len) = match live.pop() {
            Some((path, first_seq, _, len)) => {
                let mut file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(|e| io_err(format!("opening {}", path.display()), e))?;
                file.seek(SeekFrom::Start(len as u64))
                    .map_err(|e| io_err(format!("seeking in {}", path.display()), e))?;
                (file, path, first_seq, len as u64)
            }
            None => {
                let (file, path) = create_segment(&dir, recovery.next_seq, recovery.chain_head)?;
                (file, path, recovery.next_seq, SEGMENT_HEADER_LEN as u64)
            }
        };
        let completed = live
            .into_iter()
            .map(|(path, _, next, _)| Completed {
                path,
                last_seq: next.saturating_sub(1),
            })
            .collect::<VecDeque<_>>();
        let last = recovery.next_seq.saturating_sub(1);
        let stats = LogStats {
            segments: completed.len() as u64 + 1,
            ..LogStats::default()
        };
        let log = FileLog {
            dir,
            durability: options.durability,
            segment_bytes: options.segment_bytes.max(SEGMENT_HEADER_LEN as u64 + 1),
            lock: Mutex::new(Some(lock)),
            state: Mutex::new(State {
                active: Arc::new(active),
                active_path,
                active_first_seq,
                active_len,
                next_seq: recovery.next_seq,
                head: recovery.chain_head,
                completed,
                written_seq: last,
                synced_seq: last,
                syncing: false,
                failed: None,
                scratch: Vec::new(),
                stats,
            }),
            synced: Condvar::new(),
        };
        Ok((log, recovery))
    }

    /// The directory of the log.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn failed_error(why: &str) -> DataStoreError {
        DataStoreError::new(
            DataStoreErrorKind::Io,
            format!(
                "the write-ahead log failed earlier and refuses writes until it is reopened: {why}"
            ),
        )
    }

    /// Closes the active segment and starts the next one (under the lock).
    fn rotate(&self, state: &mut State) -> DataStoreResult<()> {
        if self.durability == Durability::Fsync {
            state
                .active
                .sync_data()
                .map_err(|e| io_err(format!("syncing {}", state.active_path.display()), e))?;
            state.synced_seq = state.written_seq;
            state.stats.syncs += 1;
        }
        self.start_segment(state)
    }

    /// Creates the next segment (synced, directory synced), makes it the
    /// active one and lists the old active one as completed.
    fn start_segment(&self, state: &mut State) -> DataStoreResult<()> {
        let (file, path) = create_segment(&self.dir, state.next_seq, state.head)?;
        let old_path = std::mem::replace(&mut state.active_path, path);
        state.active = Arc::new(file);
        state.active_first_seq = state.next_seq;
        state.active_len = SEGMENT_HEADER_LEN as u64;
        state.completed.push_back(Completed {
            path: old_path,
            last_seq: state.next_seq.saturating_sub(1),
        });
        state.stats.segments += 1;
        Ok(())
    }

    /// Syncs until `seq` is on the device (group commit).
    fn sync_through(&self, seq: u64) -> DataStoreResult<()> {
        let mut state = self.state.lock();
        loop {
            if let Some(why) = &state.failed {
                return Err(Self::failed_error(why));
            }
            if state.synced_seq >= seq {
                return Ok(());
            }
            if state.syncing {
                self.synced.wait(&mut state);
                continue;
            }
            // This writer syncs for everyone whose frame is written now.
            state.syncing = true;
            let target = state.written_seq;
            let file = Arc::clone(&state.active);
            let path = state.active_path.clone();
            let result = parking_lot::MutexGuard::unlocked(&mut state, || file.sync_data());
            state.syncing = false;
            match result {
                Ok(()) => {
                    state.synced_seq = state.synced_seq.max(target);
                    state.stats.syncs += 1;
                }
                Err(e) => {
                    let err = io_err(format!("syncing {}", path.display()), e);
                    state.failed = Some(err.message().to_owned());
                    self.synced.notify_all();
                    return Err(err);
                }
            }
            self.synced.notify_all();
        }
    }
}

impl WriteAheadLog for FileLog {
    fn append(&self, payload: &[u8]) -> DataStoreResult<u64> {
        check_payload_len(payload.len())?;
        let mut guard = self.state.lock();
        let state = &mut *guard;
        if let Some(why) = &state.failed {
            return Err(Self::failed_error(why));
        }
        if state.active_len >= self.segment_bytes {
            // The active segment is full: close it before this frame, so a
            // failed rotation fails this append before anything is written.
            self.rotate(state)?;
        }
        let seq = state.next_seq;
        let mut frame = std::mem::take(&mut state.scratch);
        frame.clear();
        let hash = encode_frame(&mut frame, seq, &state.head, payload);
        let written = (&*state.active).write_all(&frame);
        let frame_len = frame.len() as u64;
        state.scratch = frame;
        if let Err(e) = written {
            let err = io_err(format!("appending to {}", state.active_path.display()), e);
            // Undo a partial frame so the next one starts on a boundary.
            let undo = state.active.set_len(state.active_len).and_then(|()| {
                (&*state.active)
                    .seek(SeekFrom::Start(state.active_len))
                    .map(drop)
            });
            if let Err(u) = undo {
                state.failed = Some(format!("{}; undoing it failed too: {u}", err.message()));
            }
            return Err(err);
        }
        state.active_len += frame_len;
        state.next_seq += 1;
        state.head = hash;
        state.written_seq = seq;
        state.stats.frames += 1;
        state.stats.bytes += frame_len;
        Ok(seq)
    }

    fn wait_durable(&self, seq: u64) -> DataStoreResult<()> {
        match self.durability {
            Durability::Fsync => self.sync_through(seq),
            Durability::Os | Durability::None => {
                let state = self.state.lock();
                match &state.failed {
                    Some(why) => Err(Self::failed_error(why)),
                    None => Ok(()),
                }
            }
        }
    }

    fn sync(&self) -> DataStoreResult<()> {
        let target = self.state.lock().written_seq;
        self.sync_through(target)
    }

    fn release_through(&self, seq: u64) -> DataStoreResult<u64> {
        let mut state = self.state.lock();
        let mut removed = 0;
        while let Some(front) = state.completed.front() {
            if front.last_seq > seq {
                break;
            }
            let path = front.path.clone();
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    if removed > 0 {
                        sync_dir(&self.dir)?;
                    }
                    return Err(io_err(format!("removing {}", path.display()), e));
                }
            }
            state.completed.pop_front();
            state.stats.segments -= 1;
            state.stats.segments_deleted += 1;
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    fn restart(&self) -> DataStoreResult<()> {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        if let Some(why) = &state.failed {
            return Err(Self::failed_error(why));
        }
        if state.active_first_seq != state.next_seq {
            // The active segment holds frames: start an empty one first,
            // so the chain head is on disk before anything is deleted.
            self.start_segment(state)?;
            state.synced_seq = state.written_seq;
        }
        drop(guard);
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
        self.state.lock().completed.front().map(|c| c.last_seq)
    }

    fn durable_seq(&self) -> u64 {
        let state = self.state.lock();
        match self.durability {
            Durability::Fsync => state.synced_seq,
            Durability::Os | Durability::None => state.written_seq,
        }
    }

    fn stats(&self) -> LogStats {
        self.state.lock().stats
    }

    fn close(&self) {
        let mut state = self.state.lock();
        if state.failed.is_none() {
            state.failed = Some("the log is closed".to_owned());
        }
        drop(state);
        self.lock.lock().take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_by_sequence_and_parse_strictly() {
        assert_eq!(segment_name(42), "00000000000000000042.wal");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("0000000000000000042.wal"), None);
        assert_eq!(parse_segment_name("0000000000000000004x.wal"), None);
        assert_eq!(parse_segment_name("00000000000000000042.wal.tmp"), None);
        assert_eq!(parse_segment_name("LOCK"), None);
    }
}
