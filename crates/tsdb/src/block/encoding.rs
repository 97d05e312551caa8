//! Byte-level helpers shared by the block files: a bounds-checked decoder over a byte slice, Go's varint
//! encodings, 4- and 16-byte padding, file mapping and durable writes.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use memmap2::Mmap;

use crate::error::Error;

pub(crate) use crate::wal::record::{put_uvarint, put_varint};

/// Appends Go's `PutUvarintStr`: the length as a uvarint, then the bytes.
pub(crate) fn put_uvarint_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// How many zero bytes bring `pos` to a multiple of `align`.
pub(crate) fn padding(pos: u64, align: u64) -> u64 {
    (align - pos % align) % align
}

/// Why a decode stopped. The callers add the file and the section.
pub(crate) type DecodeError = &'static str;

/// A cursor over a byte slice whose every read is bounds-checked.
#[derive(Debug, Clone)]
pub(crate) struct Dec<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Dec<'a> {
        Dec { b, pos: 0 }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    /// Bytes read so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err("unexpected end of data");
        }
        let out = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn be32(&mut self) -> Result<u32, DecodeError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn be64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.bytes(8)?);
        Ok(u64::from_be_bytes(a))
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err("varint overflows 64 bits");
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint overflows 64 bits")
    }

    pub(crate) fn uvarint32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.uvarint()?).map_err(|_| "varint overflows 32 bits")
    }

    pub(crate) fn varint(&mut self) -> Result<i64, DecodeError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A uvarint length followed by that many bytes of UTF-8.
    pub(crate) fn uvarint_str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.uvarint()?;
        let n = usize::try_from(n).map_err(|_| "string length overflows")?;
        std::str::from_utf8(self.bytes(n)?).map_err(|_| "string is not valid UTF-8")
    }
}

/// A `len BE32 | body | CRC32C(body)` section starting at `off`: returns the body after checking the bounds and
/// the checksum.
pub(crate) fn checked_section<'a>(
    data: &'a [u8],
    off: u64,
    what: &str,
) -> Result<&'a [u8], String> {
    let start = usize::try_from(off).map_err(|_| format!("{what}: offset {off} out of range"))?;
    if start.checked_add(4).is_none_or(|end| end > data.len()) {
        return Err(format!(
            "{what}: offset {off} is past the end of the file ({} bytes)",
            data.len()
        ));
    }
    let len = u32::from_be_bytes([data[start], data[start + 1], data[start + 2], data[start + 3]]);
    let body_start = start + 4;
    let body_end = body_start + len as usize;
    if body_end.checked_add(4).is_none_or(|end| end > data.len()) {
        return Err(format!(
            "{what}: length {len} at offset {off} runs past the end of the file ({} bytes)",
            data.len()
        ));
    }
    let body = &data[body_start..body_end];
    let stored = u32::from_be_bytes([
        data[body_end],
        data[body_end + 1],
        data[body_end + 2],
        data[body_end + 3],
    ]);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(format!(
            "{what}: checksum mismatch at offset {off}: stored {stored:08x}, computed {computed:08x}"
        ));
    }
    Ok(body)
}

/// Maps a whole file read-only.
///
/// Block files are immutable once their block is renamed into place; nothing in this crate writes to a file it
/// has mapped, which is what makes the mapping sound (as in Prometheus, a process that truncates the file under
/// us can still fault the reader).
pub(crate) fn map_file(path: &Path, op: &'static str) -> Result<Mmap, Error> {
    let file = File::open(path).map_err(Error::io(op, path))?;
    #[allow(unsafe_code, reason = "read-only map of an immutable block file; see the doc comment")]
    // SAFETY: the file is opened read-only and block files are never modified after creation.
    let map = unsafe { Mmap::map(&file) }.map_err(Error::io(op, path))?;
    Ok(map)
}

/// Writes `data` to `path` through `path.tmp`, fsyncs it and renames it into place.
pub(crate) fn write_file_atomic(path: &Path, data: &[u8]) -> Result<(), Error> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = File::create(&tmp).map_err(Error::io("create file", &tmp))?;
    f.write_all(data).map_err(Error::io("write file", &tmp))?;
    f.sync_all().map_err(Error::io("sync file", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(Error::io("rename file", path))?;
    Ok(())
}

/// Fsyncs a directory so renames and new entries in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io("sync directory", dir))
}
