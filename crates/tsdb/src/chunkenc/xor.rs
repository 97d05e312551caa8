//! The XOR float chunk.

use super::bstream::{BitReader, BitWriter};

fn put_uvarint(w: &mut BitWriter, mut v: u64) {
    while v >= 0x80 {
        w.write_byte((v as u8) | 0x80);
        v >>= 7;
    }
    w.write_byte(v as u8);
}

fn put_varint(w: &mut BitWriter, v: i64) {
    put_uvarint(w, ((v << 1) ^ (v >> 63)) as u64);
}

fn read_uvarint(r: &mut BitReader<'_>) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let b = r.read_byte()?;
        if shift == 63 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

fn read_varint(r: &mut BitReader<'_>) -> Option<i64> {
    let u = read_uvarint(r)?;
    Some(((u >> 1) as i64) ^ -((u & 1) as i64))
}

/// Whether `x` fits Prometheus's `nbits` delta-of-delta bucket.
fn bit_range(x: i64, nbits: u8) -> bool {
    -((1i64 << (nbits - 1)) - 1) <= x && x <= 1i64 << (nbits - 1)
}

/// Appends samples to one XOR chunk.
#[derive(Debug, Clone)]
pub struct XorAppender {
    w: BitWriter,
    count: u16,
    t: i64,
    t_delta: u64,
    v: f64,
    leading: u8,
    trailing: u8,
}

impl Default for XorAppender {
    fn default() -> XorAppender {
        XorAppender::new()
    }
}

impl XorAppender {
    /// An empty chunk.
    pub fn new() -> XorAppender {
        XorAppender {
            w: BitWriter::from_bytes(vec![0, 0]),
            count: 0,
            t: 0,
            t_delta: 0,
            v: 0.0,
            leading: 0xff,
            trailing: 0,
        }
    }

    /// Number of samples.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// The encoded chunk bytes (header included).
    pub fn bytes(&self) -> &[u8] {
        &self.w.bytes
    }

    /// Bytes held, for memory accounting.
    pub fn capacity(&self) -> usize {
        self.w.bytes.capacity()
    }

    /// Timestamp of the last sample.
    pub fn last_t(&self) -> i64 {
        self.t
    }

    /// An appender continuing `chunk` (header included), in the state appending its samples left it in, so
    /// further appends give the bytes one appender writing all samples would. `None` when the chunk does not
    /// decode to exactly the number of samples its header gives.
    pub fn resume(chunk: &[u8]) -> Option<XorAppender> {
        let mut it = XorIterator::new(chunk);
        let total = it.total;
        if chunk.len() < 2 {
            return None;
        }
        while it.read < total {
            it.step()?;
        }
        let used = it.r.position_bits();
        let free = (chunk.len() * 8).checked_sub(used)?;
        // The writer ends at most one empty byte after the last bit (see `BitWriter::write_byte`).
        if free > 8 {
            return None;
        }
        Some(XorAppender {
            w: BitWriter::resume(chunk.to_vec(), free as u8),
            count: total,
            t: it.t,
            t_delta: it.t_delta,
            v: it.v,
            leading: if it.window { it.leading } else { 0xff },
            trailing: if it.window { it.trailing } else { 0 },
        })
    }

    /// Value of the last sample.
    pub fn last_v(&self) -> f64 {
        self.v
    }

    /// Appends a sample; timestamps must increase.
    pub fn append(&mut self, t: i64, v: f64) {
        self.append_with(t, v, false);
    }

    /// Appends a sample whose changed value opens a new leading/trailing-zero window when `new_window` is set,
    /// even if it fits the previous one (the plans of [`super::xor_recode`]); otherwise as [`Self::append`].
    pub(super) fn append_planned(&mut self, t: i64, v: f64, new_window: bool) {
        self.append_with(t, v, new_window);
    }

    /// Prometheus's rule when `new_window` is unset: a changed value reuses the previous window when its bits
    /// fit it, else opens one fitted to them.
    fn append_with(&mut self, t: i64, v: f64, new_window: bool) {
        match self.count {
            0 => {
                put_varint(&mut self.w, t);
                self.w.write_bits(v.to_bits(), 64);
            }
            1 => {
                let delta = (t - self.t) as u64;
                put_uvarint(&mut self.w, delta);
                self.write_value(v, new_window);
                self.t_delta = delta;
            }
            _ => {
                let delta = (t - self.t) as u64;
                let dod = delta.wrapping_sub(self.t_delta) as i64;
                if dod == 0 {
                    self.w.write_bit(false);
                } else if bit_range(dod, 14) {
                    self.w.write_bits(0b10, 2);
                    self.w.write_bits(dod as u64, 14);
                } else if bit_range(dod, 17) {
                    self.w.write_bits(0b110, 3);
                    self.w.write_bits(dod as u64, 17);
                } else if bit_range(dod, 20) {
                    self.w.write_bits(0b1110, 4);
                    self.w.write_bits(dod as u64, 20);
                } else {
                    self.w.write_bits(0b1111, 4);
                    self.w.write_bits(dod as u64, 64);
                }
                self.write_value(v, new_window);
                self.t_delta = delta;
            }
        }
        self.t = t;
        self.v = v;
        self.count += 1;
        let c = self.count.to_be_bytes();
        self.w.bytes[0] = c[0];
        self.w.bytes[1] = c[1];
    }

    fn write_value(&mut self, v: f64, new_window: bool) {
        let delta = v.to_bits() ^ self.v.to_bits();
        if delta == 0 {
            self.w.write_bit(false);
            return;
        }
        self.w.write_bit(true);
        let mut leading = delta.leading_zeros() as u8;
        let trailing = delta.trailing_zeros() as u8;
        if leading >= 32 {
            leading = 31;
        }
        let fits = self.leading != 0xff && leading >= self.leading && trailing >= self.trailing;
        if fits && !new_window {
            self.w.write_bit(false);
            self.w.write_bits(delta >> self.trailing, 64 - self.leading - self.trailing);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        self.w.write_bit(true);
        self.w.write_bits(u64::from(leading), 5);
        let sigbits = 64 - leading - trailing;
        self.w.write_bits(u64::from(sigbits), 6);
        self.w.write_bits(delta >> trailing, sigbits);
    }
}

/// Iterates the samples of an XOR chunk; stops (returning `None`) at the end or on corrupt data.
#[derive(Debug, Clone)]
pub struct XorIterator<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    t_delta: u64,
    v: f64,
    leading: u8,
    trailing: u8,
    /// Whether a value window (leading and trailing zeros) has been read, which an appender continuing the
    /// chunk must know to write the next value as a fresh appender would.
    window: bool,
}

impl<'a> XorIterator<'a> {
    /// An iterator over `chunk` (header included).
    pub fn new(chunk: &'a [u8]) -> XorIterator<'a> {
        let total = match chunk {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        };
        XorIterator {
            r: BitReader::new(chunk, 2),
            total,
            read: 0,
            t: 0,
            t_delta: 0,
            v: 0.0,
            leading: 0,
            trailing: 0,
            window: false,
        }
    }

    fn read_value(&mut self) -> Option<()> {
        if !self.r.read_bit()? {
            return Some(());
        }
        if self.r.read_bit()? {
            self.leading = self.r.read_bits(5)? as u8;
            let mut sigbits = self.r.read_bits(6)? as u8;
            if sigbits == 0 {
                sigbits = 64;
            }
            self.trailing = 64u8.checked_sub(self.leading)?.checked_sub(sigbits)?;
            self.window = true;
        }
        let sigbits = 64u8.checked_sub(self.leading)?.checked_sub(self.trailing)?;
        let bits = self.r.read_bits(sigbits)?;
        self.v = f64::from_bits(self.v.to_bits() ^ (bits << self.trailing));
        Some(())
    }

    fn step(&mut self) -> Option<(i64, f64)> {
        match self.read {
            0 => {
                self.t = read_varint(&mut self.r)?;
                self.v = f64::from_bits(self.r.read_bits(64)?);
            }
            1 => {
                self.t_delta = read_uvarint(&mut self.r)?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
            _ => {
                let mut prefix = 0u8;
                for _ in 0..4 {
                    if !self.r.read_bit()? {
                        break;
                    }
                    prefix += 1;
                }
                let size = match prefix {
                    0 => 0,
                    1 => 14,
                    2 => 17,
                    3 => 20,
                    _ => 64,
                };
                let mut dod = 0i64;
                if size > 0 {
                    let bits = self.r.read_bits(size)?;
                    dod = if size < 64 && bits > (1u64 << (size - 1)) {
                        bits as i64 - (1i64 << size)
                    } else {
                        bits as i64
                    };
                }
                self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
        }
        self.read += 1;
        Some((self.t, self.v))
    }
}

impl Iterator for XorIterator<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.read >= self.total {
            return None;
        }
        match self.step() {
            Some(s) => Some(s),
            None => {
                self.read = self.total;
                None
            }
        }
    }
}

/// Decodes every sample of an XOR chunk.
pub fn decode_xor(chunk: &[u8]) -> Vec<(i64, f64)> {
    XorIterator::new(chunk).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(samples: &[(i64, f64)]) {
        let mut a = XorAppender::new();
        for (t, v) in samples {
            a.append(*t, *v);
        }
        let got = decode_xor(a.bytes());
        assert_eq!(got.len(), samples.len());
        for (g, w) in got.iter().zip(samples) {
            assert_eq!(g.0, w.0);
            assert_eq!(g.1.to_bits(), w.1.to_bits(), "value bits at t={}", w.0);
        }
    }

    #[test]
    fn round_trips_edge_values_and_deltas() {
        let stale = model::stale_nan();
        let mut s = vec![(1_700_000_000_000i64, 1.0)];
        let dods = [
            0i64,
            15_000,
            1,
            -1,
            8192,
            -8191,
            8193,
            65_536,
            -65_535,
            524_288,
            600_000_000,
            -3,
            0,
            0,
        ];
        let mut t = s[0].0;
        let mut delta = 15_000i64;
        for (i, d) in dods.iter().enumerate() {
            delta += d;
            t += delta.max(1);
            let v = match i % 6 {
                0 => f64::NAN,
                1 => stale,
                2 => f64::INFINITY,
                3 => -0.0,
                4 => 1e300 * i as f64,
                _ => i as f64 * 0.1,
            };
            s.push((t, v));
        }
        round_trip(&s);
        round_trip(&[(-5, 3.0)]);
        round_trip(&[]);
        let many: Vec<(i64, f64)> = (0..120).map(|i| (i * 15_000, (i % 7) as f64)).collect();
        round_trip(&many);
    }

    #[test]
    fn a_resumed_appender_writes_what_one_appender_would() {
        let samples: Vec<(i64, f64)> = (0..120)
            .map(|i| (i * 15_000 + (i * i) % 11, if i % 5 == 0 { 3.0 } else { (i as f64).sqrt() }))
            .collect();
        for cut in 0..samples.len() {
            let mut whole = XorAppender::new();
            let mut part = XorAppender::new();
            for (t, v) in &samples[..cut] {
                whole.append(*t, *v);
                part.append(*t, *v);
            }
            let mut resumed = XorAppender::resume(part.bytes()).expect("resume");
            for (t, v) in &samples[cut..] {
                whole.append(*t, *v);
                resumed.append(*t, *v);
            }
            assert_eq!(resumed.bytes(), whole.bytes(), "resumed after {cut} samples");
        }
        // Same values only: no window is ever read, and the next differing value opens one.
        let mut a = XorAppender::new();
        a.append(1, 2.0);
        a.append(2, 2.0);
        let mut b = XorAppender::resume(a.bytes()).unwrap();
        a.append(3, 7.5);
        b.append(3, 7.5);
        assert_eq!(a.bytes(), b.bytes());
        assert!(XorAppender::resume(&[]).is_none());
        assert!(
            XorAppender::resume(&[0, 5, 1]).is_none(),
            "header says more samples than there are"
        );
        let mut padded = a.bytes().to_vec();
        padded.extend_from_slice(&[0, 0]);
        assert!(XorAppender::resume(&padded).is_none(), "trailing bytes after the last sample");
    }

    #[test]
    fn truncated_chunks_do_not_panic() {
        let mut a = XorAppender::new();
        for i in 0..50 {
            a.append(i * 1000 + (i * i) % 7, (i as f64).sqrt());
        }
        let bytes = a.bytes().to_vec();
        for cut in 0..bytes.len() {
            let got = decode_xor(&bytes[..cut]);
            assert!(got.len() <= 50);
        }
        assert!(decode_xor(&[0xff, 0xff, 0x01]).len() < 2);
    }

    /// The XOR chunks in the block Prometheus 2.42 wrote (`../shared/tsdb/golden`): decoding gives the input's
    /// samples, and encoding those samples gives the same bytes.
    #[test]
    fn golden_chunks_from_prometheus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/tsdb/golden/block/01M8812ZMGPXCKKXXPMKXJMWAY/chunks/000001");
        let Ok(file) = std::fs::read(&dir) else {
            eprintln!("notice: {} absent; skipping the golden chunk test", dir.display());
            return;
        };
        let mut pos = 8;
        let mut chunks = Vec::new();
        while pos < file.len() {
            let len = file[pos] as usize;
            assert!(len < 0x80);
            assert_eq!(file[pos + 1], 1, "XOR encoding");
            let data = &file[pos + 2..pos + 2 + len];
            let crc = u32::from_be_bytes(file[pos + 2 + len..pos + 6 + len].try_into().unwrap());
            assert_eq!(crc32c::crc32c(&file[pos + 1..pos + 2 + len]), crc);
            chunks.push(data.to_vec());
            pos += 6 + len;
        }
        let want = [
            vec![(1_700_000_000_000, 1.0), (1_700_000_015_000, 5.0), (1_700_000_030_000, 9.0)],
            vec![(1_700_000_000_000, 0.0), (1_700_000_015_000, 1.0), (1_700_000_030_000, 1.0)],
        ];
        assert_eq!(chunks.len(), 2);
        for (data, samples) in chunks.iter().zip(want) {
            assert_eq!(decode_xor(data), samples);
            let mut a = XorAppender::new();
            for (t, v) in &samples {
                a.append(*t, *v);
            }
            assert_eq!(a.bytes(), data.as_slice(), "byte-identical to Prometheus's encoding");
        }
    }
}
