//! The on-disk record format and segment files: encoding, scanning, recovery of a torn tail.
//!
//! A segment is `<dir>/<first offset, 20 digits>.log`, a plain concatenation of records:
//! `len: u32 LE | crc32(payload): u32 LE | offset: u64 LE | timestamp_ms: i64 LE | payload`.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::error::{LogError, Result};

/// Bytes in a record header (length, CRC, offset, timestamp).
pub(crate) const HEADER_LEN: u64 = 24;

/// One event read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The position of the event in the log, dense and increasing from 0.
    pub offset: u64,
    /// When the log accepted the event, in milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// The event as the producer sent it.
    pub payload: Bytes,
}

/// The file name of the segment whose first record has offset `base`.
pub(crate) fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

/// The first offset encoded in a segment file name, if it is one.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".log")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Appends one encoded record to `buf`.
pub(crate) fn encode(buf: &mut Vec<u8>, offset: u64, timestamp_ms: i64, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("payload length checked against the limit");
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&timestamp_ms.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// A decoded record header; the payload follows unless skipped.
pub(crate) struct Header {
    pub(crate) len: u32,
    pub(crate) crc: u32,
    pub(crate) offset: u64,
    pub(crate) timestamp_ms: i64,
}

/// Reads records of one segment in order, never past the end of the file.
pub(crate) struct Scanner {
    path: PathBuf,
    reader: BufReader<File>,
    file_len: u64,
    /// Byte position of the next header.
    pos: u64,
}

impl Scanner {
    /// Opens a segment for scanning from its start.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let file_len = file.metadata()?.len();
        Ok(Self {
            path: path.to_owned(),
            reader: BufReader::with_capacity(64 * 1024, file),
            file_len,
            pos: 0,
        })
    }

    /// Byte position of the next record.
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    /// Reads the next complete header; `None` where the file ends, or ends with an incomplete
    /// record (a header or payload running past the end of the file).
    pub(crate) fn next_header(&mut self) -> Result<Option<Header>> {
        if self.file_len - self.pos < HEADER_LEN {
            return Ok(None);
        }
        let mut raw = [0u8; HEADER_LEN as usize];
        match self.reader.read_exact(&mut raw) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(LogError::io(&self.path)(e)),
        }
        let h = decode_header(&raw);
        if u64::from(h.len) > self.file_len - self.pos - HEADER_LEN {
            return Ok(None);
        }
        self.pos += HEADER_LEN;
        Ok(Some(h))
    }

    /// Reads the payload of the header just returned; `None` if its CRC does not match.
    pub(crate) fn payload(&mut self, len: u32, crc: u32) -> Result<Option<Vec<u8>>> {
        let mut payload = vec![0u8; len as usize];
        self.reader
            .read_exact(&mut payload)
            .map_err(LogError::io(&self.path))?;
        self.pos += u64::from(len);
        Ok((crc32fast::hash(&payload) == crc).then_some(payload))
    }

    /// Skips the payload of the header just returned.
    pub(crate) fn skip(&mut self, len: u32) -> Result<()> {
        self.reader
            .seek_relative(i64::from(len))
            .map_err(LogError::io(&self.path))?;
        self.pos += u64::from(len);
        Ok(())
    }
}

fn decode_header(raw: &[u8; HEADER_LEN as usize]) -> Header {
    let u32_at = |i: usize| u32::from_le_bytes(raw[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(raw[i..i + 8].try_into().expect("8 bytes"));
    Header {
        len: u32_at(0),
        crc: u32_at(4),
        offset: u64_at(8),
        timestamp_ms: u64_at(16) as i64,
    }
}

/// What a scan of a whole segment learned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Summary {
    /// Bytes of complete records (the valid length of the file).
    pub(crate) valid_len: u64,
    /// The offset after the last complete record.
    pub(crate) next_offset: u64,
    /// Timestamp of the last complete record, if any.
    pub(crate) newest_ts: Option<i64>,
}

impl Summary {
    /// Before the first record of a segment whose first offset is `base`.
    fn empty(base: u64) -> Self {
        Self {
            valid_len: 0,
            next_offset: base,
            newest_ts: None,
        }
    }

    /// Once `scan` has read past the record of `header`.
    fn after(scan: &Scanner, header: &Header) -> Self {
        Self {
            valid_len: scan.position(),
            next_offset: header.offset + 1,
            newest_ts: Some(header.timestamp_ms),
        }
    }
}

/// Walks a trusted (older) segment's headers without checking payloads.
pub(crate) fn summarize_trusted(path: &Path, base: u64) -> Result<Summary> {
    let mut scan = Scanner::open(path).map_err(LogError::io(path))?;
    let mut summary = Summary::empty(base);
    while let Some(header) = scan.next_header()? {
        scan.skip(header.len)?;
        summary = Summary::after(&scan, &header);
    }
    Ok(summary)
}

/// Verifies every record of the last segment (CRC and consecutive offsets from `base`) and
/// cuts the file after the last good one, so a write torn by a crash disappears.
pub(crate) fn recover_tail(path: &Path, base: u64) -> Result<Summary> {
    let mut scan = Scanner::open(path).map_err(LogError::io(path))?;
    let file_len = scan.file_len;
    let mut summary = Summary::empty(base);
    while let Some(header) = scan.next_header()? {
        if header.offset != summary.next_offset || scan.payload(header.len, header.crc)?.is_none() {
            break;
        }
        summary = Summary::after(&scan, &header);
    }
    if summary.valid_len < file_len {
        tracing::warn!(
            path = %path.display(),
            kept = summary.valid_len,
            cut = file_len - summary.valid_len,
            "event log: cutting torn or corrupt tail"
        );
        let file = fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(LogError::io(path))?;
        file.set_len(summary.valid_len)
            .map_err(LogError::io(path))?;
        file.sync_all().map_err(LogError::io(path))?;
    }
    Ok(summary)
}

/// Makes directory entries (new or renamed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LogError::io(dir))
}
