//! The crate's error type.

use model::gostr::quote as go_quote;

/// Why a scrape body could not be parsed. Messages follow Prometheus's parsers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A token other than the expected one.
    #[error("{expected}, got {} while parsing: {}", go_quote(.got), go_quote(.line))]
    Unexpected {
        /// What the grammar required at this point.
        expected: &'static str,
        /// The offending text.
        got: String,
        /// The line up to and including the offending text.
        line: String,
    },
    /// A character no token of the format starts with, where `expected` was required (Prometheus's lexers
    /// call it an `INVALID` token and name it in the message).
    #[error("{expected}, got {} (\"INVALID\") while parsing: {}", go_quote(.got), go_quote(.line))]
    InvalidToken {
        /// What the grammar required at this point.
        expected: &'static str,
        /// The offending character.
        got: String,
        /// The line up to and including the offending character.
        line: String,
    },
    /// A value that is not a float.
    #[error("strconv.ParseFloat: parsing {}: invalid syntax", go_quote(.0))]
    InvalidValue(String),
    /// A timestamp that is not an integer.
    #[error("strconv.ParseInt: parsing {}: invalid syntax", go_quote(.0))]
    InvalidTimestamp(String),
    /// Invalid UTF-8 in a name or value.
    #[error("invalid UTF-8 label value: {0:?}")]
    InvalidUtf8(String),
    /// An OpenMetrics body without the final `# EOF`.
    #[error("data does not end with # EOF")]
    MissingEof,
    /// Content after `# EOF`.
    #[error("unexpected data after # EOF")]
    DataAfterEof,
    /// A Content-Type no parser handles.
    #[error(
        "received unsupported Content-Type {0:?} and no fallback_scrape_protocol specified for target"
    )]
    UnsupportedContentType(String),
    /// A protobuf length prefix that is not a valid varint.
    #[error("protobufparse: invalid varint encountered")]
    InvalidVarint,
    /// A protobuf length prefix longer than the rest of the body.
    #[error(
        "protobufparse: insufficient length of buffer, expected at least {expected} bytes, got {got} bytes"
    )]
    ShortBuffer {
        /// Bytes the prefix and message need.
        expected: u64,
        /// Bytes left in the body.
        got: usize,
    },
    /// A protobuf message that does not decode as a `MetricFamily`.
    #[error("protobufparse: decode MetricFamily: {0}")]
    ProtobufDecode(String),
    /// A protobuf metric family without a name.
    #[error("protobufparse: metric family without a name")]
    EmptyFamilyName,
    /// A protobuf metric family whose type number is not a known `MetricType`.
    #[error("unknown metric type for metric {name:?}: {value}")]
    UnknownMetricType {
        /// The family name.
        name: String,
        /// The type number on the wire.
        value: i32,
    },
    /// A native histogram whose spans describe more or fewer buckets than one side has.
    #[error("histogram {name:?}: {side} side: spans require {required} buckets, have {have}")]
    HistogramSpans {
        /// The family name.
        name: String,
        /// `positive` or `negative`.
        side: &'static str,
        /// Buckets the spans describe.
        required: u64,
        /// Buckets present.
        have: usize,
    },
    /// A unit that is not the last part of the family name (before `_total` for counters).
    #[error("unit {unit:?} not a suffix of {kind} {name:?}")]
    UnitNotSuffix {
        /// The unit.
        unit: String,
        /// `counter` or `metric`.
        kind: &'static str,
        /// The family name.
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use super::go_quote;

    #[test]
    fn quotes_as_go_does() {
        for (s, want) in [
            ("abc", r#""abc""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("\u{1}\u{2}\u{7f}", r#""\x01\x02\x7f""#),
            ("\t\n\r\u{7}\u{8}\u{b}\u{c}", r#""\t\n\r\a\b\v\f""#),
            ("é'ß", r#""é'ß""#),
            ("\u{85}\u{a0}\u{feff}", r#""\u0085\u00a0\ufeff""#),
        ] {
            assert_eq!(go_quote(s), want, "{s:?}");
        }
    }
}
