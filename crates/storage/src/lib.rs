//! **API Boundary.** The storage contract between whoever writes samples (scrape, rules, remote write) and whoever
//! reads them (PromQL, the HTTP API, federation), and the storage engines that implement it (the TSDB head and
//! blocks, remote read, the in-memory store used by tests).
//!
//! Writes go through an [`Appender`] obtained from an [`Appendable`]: any number of [`Appender::append`] calls,
//! then exactly one [`Appender::commit`] or [`Appender::rollback`], both of which consume the appender so reuse is a
//! compile error. Reads go through a [`Querier`] for a time range, which yields a [`SeriesSet`] of [`Series`], each
//! giving an owned [`SampleCursor`].
//!
//! **Architecture Invariant:** the traits are synchronous. Chunk reads are CPU-bound; async callers run them on a
//! blocking pool. Cursors, series and queriers own (or share by reference count) the data they read, so they carry
//! no lifetimes and can move between threads.

mod cursor;
mod error;
mod label_sets;
mod mem;
mod merge;

use std::sync::Arc;

pub use cursor::VecCursor;
pub use error::{AppendError, StorageError};
pub use label_sets::{distinct_names, distinct_values, sorted_limited};
pub use mem::MemStorage;
pub use merge::{MergeCursor, MergeQuerier};
use model::{Exemplar, FloatHistogram, Histogram, Labels, Matcher, Metadata, Timestamp, Value};

/// Opaque reference to a series inside one storage, returned by [`Appender::append`] so later appends for the same
/// series can skip the label look-up. `0` means "unknown".
pub type SeriesRef = u64;

/// Options for one append.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendOptions {
    /// Reject out-of-order samples even when the storage has an out-of-order window (Prometheus does this for
    /// samples written by rules and for staleness markers).
    pub discard_out_of_order: bool,
}

/// Something that hands out appenders.
pub trait Appendable: Send + Sync {
    /// A new appender. Samples become visible to queriers only when it is committed.
    fn appender(&self) -> Box<dyn Appender + '_>;
}

/// A batch of writes, applied atomically by [`Appender::commit`].
///
/// Samples of one series must be appended in timestamp order within a batch; the storage reports
/// [`AppendError::OutOfOrderSample`] otherwise. An error from `append` rejects that one sample only: the caller may
/// keep appending and still commit the rest.
pub trait Appender: Send {
    /// Appends one sample. `series_ref` is a hint from an earlier append of the same series to this storage (0 if
    /// unknown; a storage may trust a reference it knows without comparing labels, as Prometheus's head does);
    /// `labels` must be the full, sorted label set either way. `start_ts` is the created/start timestamp when the
    /// exposition gave one (0 otherwise). Returns the series' reference.
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        start_ts: Timestamp,
        t: Timestamp,
        value: Value,
        opts: &AppendOptions,
    ) -> Result<SeriesRef, AppendError>;

    /// Attaches exemplars to a series.
    fn append_exemplars(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        exemplars: &[Exemplar],
    ) -> Result<SeriesRef, AppendError> {
        let _ = (labels, exemplars);
        Ok(series_ref)
    }

    /// Records metadata for a series.
    fn update_metadata(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        metadata: &Metadata,
    ) -> Result<SeriesRef, AppendError> {
        let _ = (labels, metadata);
        Ok(series_ref)
    }

    /// Makes every accepted sample of the batch durable (as far as the storage promises) and visible.
    fn commit(self: Box<Self>) -> Result<(), StorageError>;

    /// Discards the batch.
    fn rollback(self: Box<Self>) -> Result<(), StorageError>;
}

/// What a query plans to do with the selected data; storages may use it to read less.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelectHints {
    /// Start of the data needed, in milliseconds (inclusive).
    pub start: Timestamp,
    /// End of the data needed, in milliseconds (inclusive).
    pub end: Timestamp,
    /// Query step in milliseconds (0 for instant queries).
    pub step: i64,
    /// The function wrapping the selector, if any (`rate`, `series` for metadata-only calls, …).
    pub func: Option<String>,
    /// Range of a range selector in milliseconds.
    pub range: i64,
    /// Grouping labels of an enclosing aggregation.
    pub grouping: Vec<String>,
    /// Whether `grouping` is `by` (true) or `without` (false).
    pub by: bool,
    /// Maximum number of series to return (0 = no limit).
    pub limit: usize,
}

/// Hints for label name/value look-ups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelHints {
    /// Maximum number of results (0 = no limit).
    pub limit: usize,
}

/// Something that can open queriers over a time range.
pub trait Queryable: Send + Sync {
    /// A querier over `[mint, maxt]` (milliseconds, inclusive). It sees the data committed before this call.
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError>;
}

/// Reads series, label names and label values over the time range it was opened for. Dropping it releases its
/// resources.
pub trait Querier: Send + Sync {
    /// Series matching all `matchers`. With `sorted`, they come in label order. At least one matcher must not match
    /// the empty string; otherwise the result is empty.
    fn select(
        &self,
        sorted: bool,
        hints: Option<&SelectHints>,
        matchers: &[Matcher],
    ) -> Box<dyn SeriesSet>;

    /// Sorted, unique values of label `name` among series matching `matchers` (all series when empty).
    fn label_values(
        &self,
        name: &str,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError>;

    /// Sorted, unique label names among series matching `matchers` (all series when empty).
    fn label_names(
        &self,
        hints: &LabelHints,
        matchers: &[Matcher],
    ) -> Result<(Vec<String>, Warnings), StorageError>;
}

/// Reads stored exemplars (`/api/v1/query_exemplars`).
pub trait ExemplarQueryable: Send + Sync {
    /// Exemplars in `[start, end]` (ms) of the series matching any of `matcher_sets`, grouped by series.
    fn select_exemplars(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[Vec<Matcher>],
    ) -> Result<Vec<(Labels, Vec<Exemplar>)>, StorageError>;
}

/// Non-fatal problems found while reading (for example a remote read endpoint that failed).
pub type Warnings = Vec<String>;

/// A stream of series. After `next` returns `None`, [`SeriesSet::err`] tells whether the stream ended early.
pub trait SeriesSet: Send {
    /// The next series.
    fn next(&mut self) -> Option<Series>;
    /// The error that ended the stream, if any.
    fn err(&self) -> Option<&StorageError> {
        None
    }
    /// Warnings gathered so far.
    fn warnings(&self) -> Warnings {
        Vec::new()
    }
}

/// Produces cursors over the samples of one series.
pub trait CursorSource: Send + Sync {
    /// A new cursor positioned before the first sample.
    fn cursor(&self) -> Box<dyn SampleCursor>;
}

/// One series: its labels and a way to read its samples.
#[derive(Clone)]
pub struct Series {
    /// The series' labels.
    pub labels: Labels,
    source: Arc<dyn CursorSource>,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series").field("labels", &self.labels).finish_non_exhaustive()
    }
}

impl Series {
    /// Wraps a cursor source.
    pub fn new(labels: Labels, source: Arc<dyn CursorSource>) -> Series {
        Series { labels, source }
    }

    /// A new cursor over the series' samples, in timestamp order.
    pub fn cursor(&self) -> Box<dyn SampleCursor> {
        self.source.cursor()
    }
}

/// The kind of the sample a cursor is positioned on, or `None` when it is exhausted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// No more samples (or an error: check [`SampleCursor::err`]).
    None,
    /// A float sample.
    Float,
    /// An integer histogram sample.
    Histogram,
    /// A float histogram sample.
    FloatHistogram,
}

/// A forward-only cursor over one series' samples, mirroring Prometheus's `chunkenc.Iterator`: the hot loop calls
/// `next`/`seek` and reads the current sample with the `at*` method matching the returned kind, with no `Result`
/// per sample. Errors end the iteration and are reported by [`SampleCursor::err`].
pub trait SampleCursor: Send {
    /// Advances to the next sample.
    fn next(&mut self) -> ValueKind;
    /// Advances to the first sample with timestamp `>= t`. Never moves backwards: if the current sample already
    /// qualifies it stays there.
    fn seek(&mut self, t: Timestamp) -> ValueKind;
    /// The current float sample.
    fn at(&self) -> (Timestamp, f64);
    /// The current integer histogram sample.
    fn at_histogram(&self) -> (Timestamp, Arc<Histogram>);
    /// The current sample as a float histogram (integer histograms are converted).
    fn at_float_histogram(&self) -> (Timestamp, Arc<FloatHistogram>);
    /// The timestamp of the current sample.
    fn at_t(&self) -> Timestamp;
    /// The start timestamp of the current sample (the created timestamp of a counter, or the start of a delta's
    /// interval), or 0 when the storage does not know it.
    fn at_st(&self) -> Timestamp {
        0
    }
    /// The error that ended iteration, if any.
    fn err(&self) -> Option<&StorageError> {
        None
    }

    /// Appends every sample with `mint <= t <= maxt` to `out` (integer histograms as float histograms; start
    /// timestamps too when `with_st`), reading on from the current position, and leaves the cursor past them.
    /// The same as stepping with [`SampleCursor::seek`] and [`SampleCursor::next`]; storages override it to
    /// read whole chunks at a time.
    fn read_into(
        &mut self,
        mint: Timestamp,
        maxt: Timestamp,
        with_st: bool,
        out: &mut SampleBatch,
    ) {
        cursor::read_by_steps(self, mint, maxt, with_st, out);
    }
}

/// The samples of one series read in bulk by [`SampleCursor::read_into`], floats and histograms apart, each in
/// time order.
#[derive(Debug, Default, Clone)]
pub struct SampleBatch {
    /// Float samples.
    pub floats: Vec<model::Sample>,
    /// Histogram samples.
    pub hists: Vec<(Timestamp, Arc<FloatHistogram>)>,
    /// Start timestamps of `floats`, index for index (filled only when asked for).
    pub float_sts: Vec<Timestamp>,
    /// Start timestamps of `hists`, index for index (filled only when asked for).
    pub hist_sts: Vec<Timestamp>,
}

impl SampleBatch {
    /// Whether the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.floats.is_empty() && self.hists.is_empty()
    }

    /// Empties the batch, keeping its allocations.
    pub fn clear(&mut self) {
        self.floats.clear();
        self.hists.clear();
        self.float_sts.clear();
        self.hist_sts.clear();
    }
}

/// A series set over an owned vector, for storages that materialise their results.
#[derive(Debug, Default)]
pub struct VecSeriesSet {
    series: std::vec::IntoIter<Series>,
    warnings: Warnings,
}

impl VecSeriesSet {
    /// Wraps `series` (yielded in the given order) and `warnings`.
    pub fn new(series: Vec<Series>, warnings: Warnings) -> VecSeriesSet {
        VecSeriesSet { series: series.into_iter(), warnings }
    }
}

impl SeriesSet for VecSeriesSet {
    fn next(&mut self) -> Option<Series> {
        self.series.next()
    }

    fn warnings(&self) -> Warnings {
        self.warnings.clone()
    }
}

/// Whether `labels` satisfies every matcher (an absent label matches as `""`).
pub fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers.iter().all(|m| m.matches(labels.get(&m.name)))
}
