//! The variable bit-width encodings of histogram chunks: `<varbit_int>` and `<varbit_uint>` (a unary prefix of
//! up to eight one bits choosing a payload of 0, 3, 6, 9, 12, 18, 25, 56 or 64 bits) and `<varbit_xor>` (a float
//! XOR-ed with its predecessor inside a leading/trailing-zero window, as in the XOR chunk).

use super::bstream::{BitReader, BitWriter};

/// Payload widths selected by a prefix of 1..=7 one bits followed by a zero; eight one bits select 64.
const WIDTHS: [u8; 7] = [3, 6, 9, 12, 18, 25, 56];

/// Whether `x` fits the signed `nbits` bucket (which holds `-(2^(n-1)-1) ..= 2^(n-1)`).
fn fits_signed(x: i64, nbits: u8) -> bool {
    let half = 1i64 << (nbits - 1);
    -(half - 1) <= x && x <= half
}

fn write_prefix(w: &mut BitWriter, ones: u8) {
    // `ones` one bits followed by a zero bit.
    w.write_bits((1u64 << (ones + 1)) - 2, ones + 1);
}

/// Writes a signed integer as `<varbit_int>`.
pub(crate) fn put_varbit_int(w: &mut BitWriter, v: i64) {
    if v == 0 {
        w.write_bit(false);
        return;
    }
    for (i, &n) in WIDTHS.iter().enumerate() {
        if fits_signed(v, n) {
            write_prefix(w, i as u8 + 1);
            w.write_bits(v as u64 & ((1u64 << n) - 1), n);
            return;
        }
    }
    w.write_bits(0xff, 8);
    w.write_bits(v as u64, 64);
}

/// Writes an unsigned integer as `<varbit_uint>`.
pub(crate) fn put_varbit_uint(w: &mut BitWriter, v: u64) {
    if v == 0 {
        w.write_bit(false);
        return;
    }
    for (i, &n) in WIDTHS.iter().enumerate() {
        if v < 1u64 << n {
            write_prefix(w, i as u8 + 1);
            w.write_bits(v, n);
            return;
        }
    }
    w.write_bits(0xff, 8);
    w.write_bits(v, 64);
}

/// Reads the prefix and returns the payload width (0 for the value zero).
fn read_width(r: &mut BitReader<'_>) -> Option<u8> {
    let mut ones = 0usize;
    while ones < 8 && r.read_bit()? {
        ones += 1;
    }
    Some(match ones {
        0 => 0,
        8 => 64,
        k => WIDTHS[k - 1],
    })
}

/// Reads a `<varbit_int>`.
pub(crate) fn read_varbit_int(r: &mut BitReader<'_>) -> Option<i64> {
    match read_width(r)? {
        0 => Some(0),
        64 => r.read_bits(64).map(|b| b as i64),
        n => {
            let bits = r.read_bits(n)?;
            Some(if bits > 1u64 << (n - 1) { bits as i64 - (1i64 << n) } else { bits as i64 })
        }
    }
}

/// Reads a `<varbit_uint>`.
pub(crate) fn read_varbit_uint(r: &mut BitReader<'_>) -> Option<u64> {
    match read_width(r)? {
        0 => Some(0),
        n => r.read_bits(n),
    }
}

/// A float and the leading/trailing-zero window of the last XOR written or read for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct XorValue {
    pub(crate) value: f64,
    pub(crate) leading: u8,
    pub(crate) trailing: u8,
}

impl XorValue {
    /// The writer's starting state: no window yet (the 0xff sentinel).
    pub(crate) fn for_writing(value: f64) -> XorValue {
        XorValue { value, leading: 0xff, trailing: 0 }
    }

    /// The reader's starting state.
    pub(crate) fn for_reading(value: f64) -> XorValue {
        XorValue { value, leading: 0, trailing: 0 }
    }

    /// Writes `v` XOR-ed with the current value and makes `v` current.
    pub(crate) fn write(&mut self, w: &mut BitWriter, v: f64) {
        let delta = v.to_bits() ^ self.value.to_bits();
        self.value = v;
        if delta == 0 {
            w.write_bit(false);
            return;
        }
        w.write_bit(true);
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            w.write_bit(false);
            w.write_bits(delta >> self.trailing, 64 - self.leading - self.trailing);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        w.write_bit(true);
        w.write_bits(u64::from(leading), 5);
        let sigbits = 64 - leading - trailing;
        // 64 significant bits are written as 0: zero significant bits never occur (that is delta == 0).
        w.write_bits(u64::from(sigbits), 6);
        w.write_bits(delta >> trailing, sigbits);
    }

    /// Reads an XOR written by [`XorValue::write`] and applies it to the current value.
    pub(crate) fn read(&mut self, r: &mut BitReader<'_>) -> Option<()> {
        if !r.read_bit()? {
            return Some(());
        }
        if r.read_bit()? {
            self.leading = r.read_bits(5)? as u8;
            let mut sigbits = r.read_bits(6)? as u8;
            if sigbits == 0 {
                sigbits = 64;
            }
            self.trailing = 64u8.checked_sub(self.leading)?.checked_sub(sigbits)?;
        }
        let sigbits = 64u8.checked_sub(self.leading)?.checked_sub(self.trailing)?;
        let bits = r.read_bits(sigbits)?;
        let shifted = bits.checked_shl(u32::from(self.trailing)).unwrap_or(0);
        self.value = f64::from_bits(self.value.to_bits() ^ shifted);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varbit_ints_round_trip_at_every_bucket_edge() {
        let mut vals = vec![0i64, i64::MIN, i64::MAX, -1, 1];
        for n in [3u8, 6, 9, 12, 18, 25, 56] {
            let half = 1i64 << (n - 1);
            vals.extend([half, half + 1, -(half - 1), -half]);
        }
        let mut w = BitWriter::default();
        for v in &vals {
            put_varbit_int(&mut w, *v);
            put_varbit_uint(&mut w, *v as u64);
        }
        let mut r = BitReader::new(&w.bytes, 0);
        for v in &vals {
            assert_eq!(read_varbit_int(&mut r), Some(*v));
            assert_eq!(read_varbit_uint(&mut r), Some(*v as u64));
        }
    }

    #[test]
    fn varbit_widths_match_prometheus() {
        // (value, bits written) from Prometheus's bucket comments: 1, 5, 9, 13, 17, 24, 32, 64 and 72 bits.
        let cases = [
            (0i64, 1usize),
            (4, 5),
            (-3, 5),
            (5, 9),
            (32, 9),
            (256, 13),
            (2048, 17),
            (131_072, 24),
            (16_777_216, 32),
            (1 << 55, 64),
            ((1 << 55) + 1, 72),
        ];
        for (v, bits) in cases {
            let mut w = BitWriter::default();
            put_varbit_int(&mut w, v);
            assert_eq!(w.bit_len(), bits, "value {v}");
        }
    }
}
