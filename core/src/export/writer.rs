//! Writes an export file: a temporary file beside the target, frames of
//! about [`FRAME_TARGET`] bytes, the end frame, sync, rename.

use super::format::{
    encode_entry, encode_frame, encode_header, end_payload, store_payload, ExportKind, Header,
    HEADER_LEN, TAG_END, TAG_RECORDS, TAG_STORE,
};
use super::{ExportError, Progress, Summary};
use crate::record::Record;
use crate::snapshot::StoreSnapshot;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A records frame is written once its payload reaches this size.
const FRAME_TARGET: usize = 64 * 1024;

/// Entries visited per snapshot page (a shard lock is held per page).
const PAGE: usize = 256;

/// Temporary files created by this process, for unique names.
static TEMPORARIES: AtomicU64 = AtomicU64::new(0);

/// The file an export is written to, under a temporary name beside its
/// target (`.<name>.<pid>.<n>.tmp`, created exclusively); removed on drop
/// unless [`Temporary::persist`] renamed it. The name is a counter, not a
/// random one, on purpose: a random name (the `tempfile` crate) seeds a
/// generator from the calling thread's id, which makes Rust's std allocate
/// that thread's handle for the rest of its life, a block valgrind reports
/// as "possibly lost" at exit on a C caller's main thread.
struct Temporary {
    file: File,
    path: PathBuf,
    persisted: bool,
}

impl Temporary {
    fn create(target: &Path, dir: &Path) -> std::io::Result<Self> {
        let name = target
            .file_name()
            .map_or_else(|| "export".into(), |n| n.to_string_lossy());
        let pid = std::process::id();
        let mut last = None;
        for _ in 0..16 {
            let n = TEMPORARIES.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(".{name}.{pid}.{n}.tmp"));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => {
                    return Ok(Self {
                        file,
                        path,
                        persisted: false,
                    })
                }
                // A stale file of a dead process with the same id: next name.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
    }

    /// Renames the file to `target` (replacing what was there).
    fn persist(mut self, target: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.path, target)?;
        self.persisted = true;
        Ok(())
    }
}

impl Write for Temporary {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if !self.persisted {
            // Best effort: a leftover temporary never shadows the target.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub(super) struct Writer<'p> {
    path: PathBuf,
    file: std::io::BufWriter<Temporary>,
    kind: ExportKind,
    instant: i64,
    /// CRC32C of every byte written so far.
    crc: u32,
    bytes: u64,
    /// The records frame being filled: a count placeholder, then entries.
    batch: Vec<u8>,
    batch_count: u32,
    frame: Vec<u8>,
    progress: Progress,
    report: &'p mut dyn FnMut(&Progress),
}

impl<'p> Writer<'p> {
    pub(super) fn create(
        path: &Path,
        kind: ExportKind,
        instant: i64,
        records_total: u64,
        report: &'p mut dyn FnMut(&Progress),
    ) -> Result<Self, ExportError> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let temp = Temporary::create(path, dir).map_err(|source| ExportError::Io {
            action: "cannot create a temporary file beside",
            path: path.to_owned(),
            source,
        })?;
        let mut writer = Self {
            path: path.to_owned(),
            file: std::io::BufWriter::with_capacity(256 * 1024, temp),
            kind,
            instant,
            crc: 0,
            bytes: 0,
            batch: Vec::with_capacity(FRAME_TARGET + 4096),
            batch_count: 0,
            frame: Vec::with_capacity(FRAME_TARGET + 4096),
            progress: Progress {
                records_total,
                ..Progress::default()
            },
            report,
        };
        writer.write(&encode_header(Header { kind, instant }))?;
        debug_assert_eq!(writer.bytes, HEADER_LEN as u64);
        Ok(writer)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.bytes += bytes.len() as u64;
        self.file
            .write_all(bytes)
            .map_err(|source| self.io_error(source))
    }

    fn io_error(&self, source: std::io::Error) -> ExportError {
        ExportError::Io {
            action: "cannot write",
            path: self.path.clone(),
            source,
        }
    }

    fn write_frame(&mut self, tag: u8, payload: &[u8]) -> Result<(), ExportError> {
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        encode_frame(tag, payload, &mut frame);
        let result = self.write(&frame);
        self.frame = frame;
        result
    }

    /// Writes every live record of `snapshot` under a store frame (none if
    /// it has no live record).
    pub(super) fn store(&mut self, snapshot: &StoreSnapshot) -> Result<(), ExportError> {
        let mut started = false;
        let mut cursor = crate::cursor::IterationCursor::start();
        let mut page: Vec<(String, Record)> = Vec::with_capacity(PAGE);
        while !cursor.is_finished() {
            // Copy a page out, so that no shard lock is held during I/O.
            page.clear();
            let next = snapshot.fetch_with(&cursor, PAGE, &mut |key, record| {
                page.push((key.to_owned(), record.clone()));
                true
            });
            // The cursor comes from this very view: it is never refused.
            let Ok(next) = next else { break };
            cursor = next;
            for (key, record) in &page {
                if !started {
                    started = true;
                    let payload = store_payload(snapshot.name(), snapshot.partition_id());
                    self.write_frame(TAG_STORE, &payload)?;
                }
                self.record(key, record)?;
            }
        }
        if started {
            self.flush_batch()?;
            self.progress.stores_done += 1;
        }
        Ok(())
    }

    fn record(&mut self, key: &str, record: &Record) -> Result<(), ExportError> {
        if self.batch_count == 0 {
            self.batch.clear();
            self.batch.extend_from_slice(&[0; 4]);
        }
        encode_entry(key, record, &mut self.batch);
        self.batch_count += 1;
        self.progress.records_done += 1;
        if self.batch.len() >= FRAME_TARGET || self.batch_count == u32::MAX {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<(), ExportError> {
        if self.batch_count == 0 {
            return Ok(());
        }
        let count = self.batch_count.to_le_bytes();
        self.batch[..4].copy_from_slice(&count);
        let batch = std::mem::take(&mut self.batch);
        let result = self.write_frame(TAG_RECORDS, &batch);
        self.batch = batch;
        self.batch_count = 0;
        result?;
        (self.report)(&self.progress);
        Ok(())
    }

    /// Writes the end frame, syncs the file and renames it over the target
    /// (then syncs the directory, where the platform allows).
    pub(super) fn finish(mut self) -> Result<Summary, ExportError> {
        self.flush_batch()?;
        let end = end_payload(
            self.progress.stores_done,
            self.progress.records_done,
            self.crc,
        );
        self.write_frame(TAG_END, &end)?;
        let summary = Summary {
            kind: self.kind,
            instant: self.instant,
            stores: self.progress.stores_done,
            records: self.progress.records_done,
            bytes: self.bytes,
        };
        let path = self.path.clone();
        let temp = self.file.into_inner().map_err(|e| ExportError::Io {
            action: "cannot write",
            path: path.clone(),
            source: e.into_error(),
        })?;
        temp.file.sync_all().map_err(|source| ExportError::Io {
            action: "cannot sync",
            path: path.clone(),
            source,
        })?;
        temp.persist(&path).map_err(|source| ExportError::Io {
            action: "cannot rename the finished export to",
            path: path.clone(),
            source,
        })?;
        sync_parent(&path);
        self.progress.records_total = self.progress.records_done;
        (self.report)(&self.progress);
        Ok(summary)
    }
}

/// Makes the rename durable: syncs the directory holding `path` (a no-op
/// where directories cannot be opened as files).
fn sync_parent(path: &Path) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(dir) {
        // Best effort: the file itself is synced and complete either way.
        let _ = dir.sync_all();
    }
}
