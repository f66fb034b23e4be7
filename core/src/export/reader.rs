//! Reads and checks an export file frame by frame.

use super::format::{
    decode_end, decode_header, decode_records, decode_store, frame_crc, read_u32, ExportKind,
    FormatError, FRAME_OVERHEAD, HEADER_LEN, MAGIC, TAG_END, TAG_RECORDS, TAG_STORE,
};
use super::{ExportError, Progress, Summary, FORMAT_VERSION};
use crate::record::Record;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The size of the end frame: tag, length, 20-byte payload, checksum.
const END_FRAME_LEN: u64 = FRAME_OVERHEAD as u64 + 20;

/// What a read visits, in file order: one record and its store's map.
pub(super) type Visit<'v> = &'v mut dyn FnMut(&str, &str, Record) -> Result<(), ExportError>;

struct Source {
    path: PathBuf,
    file: BufReader<File>,
    len: u64,
    offset: u64,
    /// CRC32C of every byte read so far.
    crc: u32,
}

impl Source {
    fn damaged(&self, offset: u64, reason: impl Into<String>) -> ExportError {
        ExportError::Damaged {
            path: self.path.clone(),
            offset,
            reason: reason.into(),
        }
    }

    fn format_error(&self, offset: u64, e: FormatError) -> ExportError {
        match e {
            FormatError::NotAnExport => ExportError::NotAnExport {
                path: self.path.clone(),
            },
            FormatError::UnsupportedVersion(found) => ExportError::UnsupportedVersion {
                path: self.path.clone(),
                found,
                supported: FORMAT_VERSION,
            },
            FormatError::Damaged(reason) => self.damaged(offset, reason),
        }
    }

    /// Reads exactly `buf.len()` bytes; running out is damage ("what").
    fn read(&mut self, buf: &mut [u8], what: &str) -> Result<(), ExportError> {
        let left = self.len - self.offset;
        if (buf.len() as u64) > left {
            return Err(self.damaged(self.len, format!("the file ends inside {what} (truncated)")));
        }
        self.file
            .read_exact(buf)
            .map_err(|source| ExportError::Io {
                action: "cannot read",
                path: self.path.clone(),
                source,
            })?;
        self.crc = crc32c::crc32c_append(self.crc, buf);
        self.offset += buf.len() as u64;
        Ok(())
    }
}

fn open(path: &Path) -> Result<(File, u64), ExportError> {
    let io = |source| ExportError::Io {
        action: "cannot read",
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    Ok((file, len))
}

/// The record count the end frame declares, read from the file's tail
/// before the walk, for progress reports; damage there is reported now.
fn declared_records(file: &mut File, len: u64, path: &Path) -> Result<u64, ExportError> {
    let damaged = |reason: &str| ExportError::Damaged {
        path: path.to_owned(),
        offset: len.saturating_sub(END_FRAME_LEN),
        reason: reason.to_owned(),
    };
    if len < HEADER_LEN as u64 + END_FRAME_LEN {
        return Err(damaged(
            "the file is too short to hold an end frame (truncated)",
        ));
    }
    let mut tail = [0u8; END_FRAME_LEN as usize];
    file.seek(SeekFrom::Start(len - END_FRAME_LEN))
        .and_then(|_| file.read_exact(&mut tail))
        .and_then(|()| file.seek(SeekFrom::Start(HEADER_LEN as u64)))
        .map_err(|source| ExportError::Io {
            action: "cannot read",
            path: path.to_owned(),
            source,
        })?;
    let payload_len = read_u32(&tail[1..5]);
    let intact = tail[0] == TAG_END
        && payload_len == 20
        && frame_crc(TAG_END, payload_len, &tail[5..25]) == read_u32(&tail[25..29]);
    if !intact {
        return Err(damaged(
            "the file does not end with an intact end frame (truncated or damaged)",
        ));
    }
    decode_end(&tail[5..25])
        .map(|(_, records, _)| records)
        .map_err(|_| damaged("damaged end frame"))
}

/// Walks the whole file at `path`, checking every frame, calling `visit`
/// for each store and record; returns the summary from the end frame.
pub(super) fn read(
    path: &Path,
    checking: bool,
    report: &mut dyn FnMut(&Progress),
    visit: Visit<'_>,
) -> Result<Summary, ExportError> {
    let (mut file, len) = open(path)?;
    let head_len = len.min(HEADER_LEN as u64) as usize;
    let mut header = [0u8; HEADER_LEN];
    file.read_exact(&mut header[..head_len])
        .map_err(|source| ExportError::Io {
            action: "cannot read",
            path: path.to_owned(),
            source,
        })?;
    let mut source = Source {
        path: path.to_owned(),
        file: BufReader::with_capacity(256 * 1024, file),
        len,
        offset: head_len as u64,
        crc: crc32c::crc32c(&header[..head_len]),
    };
    if head_len < MAGIC.len() || header[..MAGIC.len()] != MAGIC {
        return Err(source.format_error(0, FormatError::NotAnExport));
    }
    if head_len < HEADER_LEN {
        return Err(source.damaged(len, "the file ends inside the header (truncated)"));
    }
    let header = decode_header(&header).map_err(|e| source.format_error(0, e))?;
    let mut progress = Progress {
        records_total: declared_records(source.file.get_mut(), len, path)?,
        checking,
        ..Progress::default()
    };
    let mut store: Option<(String, u32)> = None;
    loop {
        let frame_at = source.offset;
        let crc_before = source.crc;
        if frame_at == len {
            return Err(source.damaged(len, "the file ends before its end frame (truncated)"));
        }
        let mut head = [0u8; 5];
        source.read(&mut head, "a frame header")?;
        let (tag, payload_len) = (head[0], read_u32(&head[1..5]));
        if u64::from(payload_len) + 4 > len - source.offset {
            return Err(source.damaged(
                frame_at,
                format!("a frame of {payload_len} bytes runs past the end of the file (truncated or damaged)"),
            ));
        }
        let mut payload = vec![0u8; payload_len as usize];
        source.read(&mut payload, "a frame")?;
        let mut crc = [0u8; 4];
        source.read(&mut crc, "a frame checksum")?;
        if frame_crc(tag, payload_len, &payload) != u32::from_le_bytes(crc) {
            return Err(source.damaged(frame_at, "frame checksum mismatch"));
        }
        match tag {
            TAG_STORE => {
                if header.kind == ExportKind::Store && progress.stores_done > 0 {
                    return Err(source.damaged(frame_at, "a second store in a record-store export"));
                }
                let (map, partition) =
                    decode_store(&payload).map_err(|e| source.format_error(frame_at, e))?;
                progress.stores_done += 1;
                store = Some((map, partition));
            }
            TAG_RECORDS => {
                let Some((map, _)) = &store else {
                    return Err(source.damaged(frame_at, "records before any store frame"));
                };
                let mut failure = None;
                let count = decode_records(&payload, &mut |key, record| {
                    if let Err(e) = visit(map, key, record) {
                        failure = Some(e);
                        return Err(FormatError::Damaged(String::new()));
                    }
                    Ok(())
                });
                if let Some(e) = failure {
                    return Err(e);
                }
                progress.records_done += count.map_err(|e| source.format_error(frame_at, e))?;
                report(&progress);
            }
            TAG_END => {
                let (stores, records, file_crc) =
                    decode_end(&payload).map_err(|e| source.format_error(frame_at, e))?;
                if file_crc != crc_before {
                    return Err(source.damaged(
                        frame_at,
                        "whole-file checksum mismatch (frames missing, repeated or reordered)",
                    ));
                }
                if (stores, records) != (progress.stores_done, progress.records_done) {
                    return Err(source.damaged(
                        frame_at,
                        format!(
                            "the end frame declares {stores} stores and {records} records, the file holds {} and {}",
                            progress.stores_done, progress.records_done
                        ),
                    ));
                }
                if source.offset != len {
                    return Err(source.damaged(
                        source.offset,
                        format!("{} bytes after the end frame", len - source.offset),
                    ));
                }
                report(&progress);
                return Ok(Summary {
                    kind: header.kind,
                    instant: header.instant,
                    stores,
                    records,
                    bytes: len,
                });
            }
            other => {
                return Err(source.damaged(frame_at, format!("unknown frame tag 0x{other:02x}")))
            }
        }
    }
}
