//! Scrape-format parsers and the text encoder.
//!
//! The parsers are pull parsers in the style of Prometheus's `textparse`: [`Parser::next`] advances to the next
//! entry and the accessors return data borrowed from the scrape buffer, valid until the next call. A scrape loop
//! can key its series cache on [`Parser::series`]'s raw text and skip label parsing on a hit. The protobuf format
//! is the exception: [`parse_protobuf`] decodes a whole body into owned [`ProtoFamily`] values (see [`proto`]).
//!
//! **Architecture Invariant:** parsers never panic on any input; every malformed input is a [`ParseError`].

mod encode;
mod error;
pub mod proto;
mod text;

pub use encode::{EncodeFormat, Family, encode_families, format_float};
pub use error::ParseError;
pub use proto::{
    NativeHistogram, PROTOBUF_CONTENT_TYPE, ProtoFamily, ProtoHistogram, ProtoMetric, ProtoOptions,
    ProtoSample, parse_protobuf, parse_protobuf_with,
};
pub use text::TextParser;

use model::{Exemplar, LabelsBuilder, MetricType};

/// The kind of entry the parser is positioned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A `# HELP` line: see [`Parser::help`].
    Help,
    /// A `# TYPE` line: see [`Parser::metric_type`].
    Type,
    /// A `# UNIT` line (OpenMetrics): see [`Parser::unit`].
    Unit,
    /// Any other comment.
    Comment,
    /// A float sample: see [`Parser::series`] and [`Parser::labels`].
    Series,
}

/// A pull parser over one scrape body.
pub trait Parser<'a> {
    /// Advances to the next entry; `Ok(None)` at the end of the input.
    fn next(&mut self) -> Result<Option<Entry>, ParseError>;
    /// [`Parser::next`], told that the next sample is probably the series whose raw text is `known`, text that
    /// this parser accepted before (a scrape cache's key). A sample line starting with exactly that text and then
    /// a blank is taken as that series without its labels being split and checked again; [`Parser::labels`]
    /// still gives them. Parsers without raw series text ignore the hint.
    fn next_known(&mut self, known: Option<&[u8]>) -> Result<Option<Entry>, ParseError> {
        let _ = known;
        self.next()
    }
    /// The current sample: raw series text (metric name and label block, as written), timestamp in milliseconds
    /// if the line had one, and value.
    fn series(&self) -> (&'a [u8], Option<i64>, f64);
    /// The current `# HELP` line's metric family and help text (unescaped).
    fn help(&self) -> (&'a str, std::borrow::Cow<'a, str>);
    /// The current `# TYPE` line's metric family and type.
    fn metric_type(&self) -> (&'a str, MetricType);
    /// The current `# UNIT` line's metric family and unit.
    fn unit(&self) -> (&'a str, &'a str);
    /// Fills `b` (cleared first) with the current sample's labels, `__name__` included.
    fn labels(&self, b: &mut LabelsBuilder);
    /// The current sample's exemplar, if it has one.
    fn exemplar(&self) -> Option<Exemplar>;
}

/// The exposition formats, as negotiated by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (and 1.0.0).
    PrometheusText,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// The delimited protobuf format ([`PROTOBUF_CONTENT_TYPE`]), decoded by [`parse_protobuf_with`] rather than
    /// by a [`Parser`].
    PrometheusProto,
}

/// Picks the parser for a response's Content-Type as Prometheus does, by the media type alone: OpenMetrics for
/// `application/openmetrics-text`, the Prometheus text format for `text/plain`, protobuf for
/// `application/vnd.google.protobuf` and, when the type is empty or unknown, the `fallback` format when one is
/// configured. Otherwise the error names the media type.
pub fn format_for_content_type(
    content_type: &str,
    fallback: Option<Format>,
) -> Result<Format, ParseError> {
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "application/openmetrics-text" => Ok(Format::OpenMetrics),
        "text/plain" => Ok(Format::PrometheusText),
        "application/vnd.google.protobuf" => Ok(Format::PrometheusProto),
        "" => Ok(fallback.unwrap_or(Format::PrometheusText)),
        other => match fallback {
            Some(f) => Ok(f),
            None => Err(ParseError::UnsupportedContentType(other.to_string())),
        },
    }
}

/// A text parser for `body` in `format`. [`Format::PrometheusProto`] bodies are not text: decode them with
/// [`parse_protobuf_with`] (given that format, this returns a Prometheus text parser, which rejects them).
pub fn new_parser(body: &[u8], format: Format) -> TextParser<'_> {
    TextParser::new(body, format == Format::OpenMetrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_pick_formats_by_media_type() {
        let f =
            |ct: &str, fallback| format_for_content_type(ct, fallback).map_err(|e| e.to_string());
        assert_eq!(f(PROTOBUF_CONTENT_TYPE, None), Ok(Format::PrometheusProto));
        assert_eq!(f("Application/Vnd.Google.Protobuf", None), Ok(Format::PrometheusProto));
        assert_eq!(f("application/openmetrics-text; version=1.0.0", None), Ok(Format::OpenMetrics));
        assert_eq!(f("text/plain;version=0.0.4", None), Ok(Format::PrometheusText));
        assert_eq!(f("", Some(Format::PrometheusProto)), Ok(Format::PrometheusProto));
        assert_eq!(
            f("application/json", Some(Format::PrometheusProto)),
            Ok(Format::PrometheusProto)
        );
        assert_eq!(
            f("application/json", None),
            Err("received unsupported Content-Type \"application/json\" and no fallback_scrape_protocol specified for target".to_string())
        );
    }
}
