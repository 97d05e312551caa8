//! A bit stream: bits are written and read most-significant first within each byte.

/// A growable bit writer.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    pub(crate) bytes: Vec<u8>,
    /// Bits still free in the last byte (0..=8; 0 means a new byte is needed).
    free: u8,
}

impl BitWriter {
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> BitWriter {
        BitWriter { bytes, free: 0 }
    }

    /// Continues `bytes`, whose last byte has `free` (at most 8) unused low bits.
    pub(crate) fn resume(bytes: Vec<u8>, free: u8) -> BitWriter {
        BitWriter { bytes, free }
    }

    /// Bits written so far.
    #[cfg(test)]
    pub(crate) fn bit_len(&self) -> usize {
        self.bytes.len() * 8 - usize::from(self.free)
    }

    pub(crate) fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        if bit {
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 1 << (self.free - 1);
        }
        self.free -= 1;
    }

    /// Writes a whole byte as Go's `bstream.writeByte` does: it always appends the byte after the current one,
    /// so when the current byte was empty the stream ends with an empty byte (part of the chunk's bytes in
    /// Prometheus, e.g. after a chunk's first sample).
    pub(crate) fn write_byte(&mut self, b: u8) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        let last = self.bytes.len() - 1;
        self.bytes[last] |= ((u16::from(b) << self.free) >> 8) as u8;
        self.bytes.push((u16::from(b) << self.free) as u8);
    }

    /// Writes the low `n` bits of `v`, most significant first: whole bytes first, then single bits, as Go's
    /// `bstream.writeBits` does.
    pub(crate) fn write_bits(&mut self, v: u64, n: u8) {
        let mut n = n;
        while n >= 8 {
            self.write_byte((v >> (n - 8)) as u8);
            n -= 8;
        }
        while n > 0 {
            self.write_bit((v >> (n - 1)) & 1 == 1);
            n -= 1;
        }
    }
}

/// A bit reader over a byte slice; reads past the end return `None`.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8], byte_offset: usize) -> BitReader<'a> {
        BitReader { bytes, pos: byte_offset * 8 }
    }

    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1 == 1;
        self.pos += 1;
        Some(bit)
    }

    /// The next `n` (at most 64) bits, most significant first.
    pub(crate) fn read_bits(&mut self, n: u8) -> Option<u64> {
        let n = usize::from(n.min(64));
        if n == 0 {
            return Some(0);
        }
        if self.pos + n > self.bytes.len() * 8 {
            return None;
        }
        // The bits lie in the 9 bytes from the current one (at most 7 bits of offset plus 64); read 16 at once.
        let (byte, off) = (self.pos / 8, self.pos % 8);
        let window = match self.bytes.get(byte..byte + 16) {
            Some(b) => u128::from_be_bytes(b.try_into().ok()?),
            None => {
                let mut buf = [0u8; 16];
                let tail = &self.bytes[byte..];
                buf[..tail.len()].copy_from_slice(tail);
                u128::from_be_bytes(buf)
            }
        };
        self.pos += n;
        Some(((window << off) >> (128 - n)) as u64)
    }

    /// Bits read so far (from the start of the slice).
    pub(crate) fn position_bits(&self) -> usize {
        self.pos
    }

    /// Bits left to read.
    pub(crate) fn remaining_bits(&self) -> usize {
        (self.bytes.len() * 8).saturating_sub(self.pos)
    }

    pub(crate) fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|v| v as u8)
    }
}
