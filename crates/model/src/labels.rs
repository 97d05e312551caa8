//! Label sets.
//!
//! [`Labels`] is the type that dominates Promethium's memory: one per series in the head, in every query result and
//! every scrape cache entry. It is a single shared, immutable allocation holding the sorted name/value pairs with
//! their lengths, so cloning is a reference-count increment and equality and hashing work on one byte string.
//!
//! Encoding: for each label in name order, `len(name) name len(value) value`, where each length is a little-endian
//! base-64 varint of ASCII bytes (six payload bits; 0x40 marks continuation). Every length byte is below 0x80, so
//! the whole encoding is valid UTF-8 and can live in an `Arc<str>` without any unsafe code.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The label holding the metric name.
pub const METRIC_NAME_LABEL: &str = "__name__";
/// The `job` target label.
pub const JOB_LABEL: &str = "job";
/// The `instance` target label.
pub const INSTANCE_LABEL: &str = "instance";
/// The classic-histogram bucket bound label.
pub const BUCKET_LABEL: &str = "le";
/// The summary quantile label.
pub const QUANTILE_LABEL: &str = "quantile";
/// The label carrying an alert's name.
pub const ALERT_NAME_LABEL: &str = "alertname";

/// One name/value pair borrowed from a [`Labels`] or a builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label<'a> {
    /// Label name.
    pub name: &'a str,
    /// Label value.
    pub value: &'a str,
}

/// An immutable, sorted set of labels with unique names. Empty values are dropped on construction, as in
/// Prometheus, where an empty value is the same as an absent label.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Labels {
    data: Option<Arc<str>>,
}

fn put_len(out: &mut String, mut n: usize) {
    loop {
        let low = (n & 0x3f) as u8;
        n >>= 6;
        if n == 0 {
            out.push(low as char);
            return;
        }
        out.push((low | 0x40) as char);
    }
}

fn get_len(b: &[u8], pos: &mut usize) -> usize {
    let mut n = 0usize;
    let mut shift = 0;
    while let Some(&c) = b.get(*pos) {
        *pos += 1;
        n |= ((c & 0x3f) as usize) << shift;
        if c & 0x40 == 0 {
            break;
        }
        shift += 6;
    }
    n
}

/// Iterator over the labels of a [`Labels`], in name order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Label<'a>;

    fn next(&mut self) -> Option<Label<'a>> {
        if self.pos >= self.s.len() {
            return None;
        }
        let b = self.s.as_bytes();
        let nl = get_len(b, &mut self.pos);
        let name = &self.s[self.pos..self.pos + nl];
        self.pos += nl;
        let vl = get_len(b, &mut self.pos);
        let value = &self.s[self.pos..self.pos + vl];
        self.pos += vl;
        Some(Label { name, value })
    }
}

impl Labels {
    /// The empty label set.
    pub fn empty() -> Labels {
        Labels { data: None }
    }

    /// Builds a label set from pairs in any order. Later duplicates of a name win; empty values are dropped.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Labels {
        let mut b = LabelsBuilder::new();
        for (n, v) in pairs {
            b.set(n.as_ref(), v.as_ref());
        }
        b.labels()
    }

    /// Builds from labels already sorted by name with unique names and non-empty values. The order is checked in
    /// debug builds only.
    pub fn from_sorted<'a>(labels: impl IntoIterator<Item = Label<'a>>) -> Labels {
        let mut out = String::new();
        let mut prev: Option<&str> = None;
        for l in labels {
            debug_assert!(prev.is_none_or(|p| p < l.name), "labels must be sorted and unique");
            prev = Some(l.name);
            if l.value.is_empty() {
                continue;
            }
            put_len(&mut out, l.name.len());
            out.push_str(l.name);
            put_len(&mut out, l.value.len());
            out.push_str(l.value);
        }
        Labels { data: if out.is_empty() { None } else { Some(Arc::from(out)) } }
    }

    /// Iterates the labels in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { s: self.data.as_deref().unwrap_or(""), pos: 0 }
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.data.is_none()
    }

    /// The value of `name`, or `""` when absent (Prometheus's convention).
    pub fn get(&self, name: &str) -> &str {
        for l in self.iter() {
            match l.name.cmp(name) {
                Ordering::Less => continue,
                Ordering::Equal => return l.value,
                Ordering::Greater => break,
            }
        }
        ""
    }

    /// Whether a label called `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.iter().any(|l| l.name == name)
    }

    /// The metric name (`__name__`), or `""`.
    pub fn metric_name(&self) -> &str {
        self.get(METRIC_NAME_LABEL)
    }

    /// A builder pre-filled with these labels.
    pub fn builder(&self) -> LabelsBuilder {
        let mut b = LabelsBuilder::new();
        b.reset(self);
        b
    }

    /// The labels without `__name__`.
    pub fn without_metric_name(&self) -> Labels {
        if !self.has(METRIC_NAME_LABEL) {
            return self.clone();
        }
        Labels::from_sorted(self.iter().filter(|l| l.name != METRIC_NAME_LABEL))
    }

    /// Only the labels whose names are in `names`.
    pub fn keep(&self, names: &[&str]) -> Labels {
        Labels::from_sorted(self.iter().filter(|l| names.contains(&l.name)))
    }

    /// The labels whose names are not in `names`.
    pub fn drop_names(&self, names: &[&str]) -> Labels {
        Labels::from_sorted(self.iter().filter(|l| !names.contains(&l.name)))
    }

    /// Number of bytes of label names and values, the quantity Prometheus's size stats report.
    pub fn byte_size(&self) -> usize {
        self.iter().map(|l| l.name.len() + l.value.len()).sum()
    }

    /// Bytes held on the heap by this set (shared between clones).
    pub fn heap_size(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.len() + 16)
    }

    /// A stable 64-bit hash of the label set (xxHash64 over `name 0xff value 0xff …`, as Prometheus's
    /// `labels.Hash`).
    pub fn stable_hash(&self) -> u64 {
        let mut h = xxhash_rust::xxh64::Xxh64::new(0);
        for l in self.iter() {
            h.update(l.name.as_bytes());
            h.update(&[0xff]);
            h.update(l.value.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }

    /// The pairs as owned strings, for callers that want to mutate freely.
    pub fn to_vec(&self) -> Vec<(String, String)> {
        self.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect()
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = Label<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.data.as_deref().unwrap_or("").hash(state);
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    /// Orders as Prometheus's `labels.Compare`: label by label, name then value, shorter sets first on a tie.
    fn cmp(&self, other: &Self) -> Ordering {
        let mut a = self.iter();
        let mut b = other.iter();
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => {
                    let o = x.name.cmp(y.name).then_with(|| x.value.cmp(y.value));
                    if o != Ordering::Equal {
                        return o;
                    }
                }
            }
        }
    }
}

impl fmt::Display for Labels {
    /// Formats as `{a="1", b="2"}` with Go-style quoting, like Prometheus's `Labels.String`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if is_valid_legacy_label_name(l.name) {
                f.write_str(l.name)?;
            } else {
                write_go_quoted(f, l.name)?;
            }
            f.write_str("=")?;
            write_go_quoted(f, l.value)?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Writes `s` as a Go double-quoted string literal (`strconv.Quote`).
pub(crate) fn write_go_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\x07' => f.write_str("\\a")?,
            '\x08' => f.write_str("\\b")?,
            '\x0c' => f.write_str("\\f")?,
            '\x0b' => f.write_str("\\v")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// A mutable label set used to derive new [`Labels`]: relabeling, target labels, PromQL's label functions.
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    pairs: Vec<(String, String)>,
}

impl LabelsBuilder {
    /// An empty builder.
    pub fn new() -> LabelsBuilder {
        LabelsBuilder { pairs: Vec::new() }
    }

    /// Replaces the contents with `labels`.
    pub fn reset(&mut self, labels: &Labels) {
        self.pairs.clear();
        self.pairs.extend(labels.iter().map(|l| (l.name.to_string(), l.value.to_string())));
    }

    /// Removes every label.
    pub fn clear(&mut self) {
        self.pairs.clear();
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            self.del(name);
            return;
        }
        match self.pairs.iter_mut().find(|(n, _)| n == name) {
            Some(p) => {
                p.1.clear();
                p.1.push_str(value);
            }
            None => self.pairs.push((name.to_string(), value.to_string())),
        }
    }

    /// Deletes `name` if present.
    pub fn del(&mut self, name: &str) {
        self.pairs.retain(|(n, _)| n != name);
    }

    /// The current value of `name`, or `""`.
    pub fn get(&self, name: &str) -> &str {
        self.pairs.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
    }

    /// Keeps only the labels for which `f(name, value)` is true.
    pub fn retain(&mut self, mut f: impl FnMut(&str, &str) -> bool) {
        self.pairs.retain(|(n, v)| f(n, v));
    }

    /// Iterates the current labels in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = Label<'_>> {
        self.pairs.iter().map(|(n, v)| Label { name: n, value: v })
    }

    /// Number of labels currently set.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no label is set.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Builds the sorted, immutable label set. The builder keeps its contents.
    pub fn labels(&mut self) -> Labels {
        self.pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Labels::from_sorted(self.pairs.iter().map(|(n, v)| Label { name: n, value: v }))
    }
}

/// Whether `name` matches the legacy label-name charset `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_legacy_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Whether `name` matches the legacy metric-name charset `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_legacy_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// Whether `name` is a valid label name under the UTF-8 scheme (Prometheus 3.x default): non-empty.
/// Strings are UTF-8 by construction in Rust.
pub fn is_valid_label_name(name: &str) -> bool {
    !name.is_empty()
}

/// Whether `name` is a valid metric name under the UTF-8 scheme: non-empty.
pub fn is_valid_metric_name(name: &str) -> bool {
    !name.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_dedups_and_drops_empty() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", ""), ("a", "3")]);
        assert_eq!(l.to_string(), r#"{a="3", b="2"}"#);
        assert_eq!(l.get("a"), "3");
        assert_eq!(l.get("c"), "");
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn long_names_and_values_round_trip() {
        let long = "x".repeat(100_000);
        let l = Labels::from_pairs([("__name__", "up"), ("big", long.as_str()), ("é", "ü\n")]);
        assert_eq!(l.get("big").len(), 100_000);
        assert_eq!(l.metric_name(), "up");
        assert_eq!(l.get("é"), "ü\n");
        assert_eq!(l.to_string(), format!("{{__name__=\"up\", big=\"{long}\", \"é\"=\"ü\\n\"}}"));
    }

    #[test]
    fn ordering_matches_prometheus_compare() {
        let a = Labels::from_pairs([("a", "1")]);
        let b = Labels::from_pairs([("a", "1"), ("b", "1")]);
        let c = Labels::from_pairs([("a", "2")]);
        assert!(a < b && b < c && a < c);
        assert!(Labels::empty() < a);
    }

    #[test]
    fn stable_hash_is_deterministic_and_distinguishes() {
        let a = Labels::from_pairs([("a", "1"), ("b", "2")]);
        let b = Labels::from_pairs([("b", "2"), ("a", "1")]);
        let c = Labels::from_pairs([("a", "12")]);
        assert_eq!(a.stable_hash(), b.stable_hash());
        assert_ne!(a.stable_hash(), c.stable_hash());
    }

    #[test]
    fn name_validity() {
        assert!(is_valid_legacy_metric_name("a:b_c1"));
        assert!(!is_valid_legacy_metric_name("1a"));
        assert!(!is_valid_legacy_label_name("a:b"));
        assert!(is_valid_legacy_label_name("_a1"));
    }
}
