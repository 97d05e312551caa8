//! Counter-reset hints as Prometheus's TSDB hands loaded histograms back.
//!
//! Prometheus's harness loads test data into a real TSDB, whose histogram chunks keep one counter-reset hint per
//! chunk instead of one per sample. Reading gives "gauge" for every sample of a gauge chunk and, in a counter
//! chunk, "unknown" for the first sample (the TSDB cannot be sure the previous chunk still exists) and "not a
//! reset" for the others. A counter histogram starts a new chunk when it is explicitly hinted as a reset or its
//! data shows one, when its schema or zero threshold changes, and after a stale marker, a gauge histogram or a
//! float sample. PromQL results show these hints, so the harness stores what the TSDB would return; the in-memory
//! storage keeps hints as given.

use model::{CounterResetHint, FloatHistogram, is_stale_nan};

/// The chunk state of one series while it is loaded.
#[derive(Debug, Default)]
pub(crate) struct ChunkHints {
    /// The previous histogram of the current histogram chunk and whether that chunk holds gauges.
    last: Option<(FloatHistogram, bool)>,
}

impl ChunkHints {
    /// A float sample: it ends the current histogram chunk.
    pub(crate) fn float(&mut self) {
        self.last = None;
    }

    /// Sets the hint `h` reads back with and advances the chunk state.
    pub(crate) fn histogram(&mut self, h: &mut FloatHistogram) {
        use CounterResetHint::*;
        let gauge = h.counter_reset_hint == Gauge;
        let hint = match (&self.last, gauge) {
            (_, true) => Gauge,
            (Some((prev, false)), false) if continues_chunk(prev, h) => NotCounterReset,
            (_, false) => Unknown,
        };
        h.counter_reset_hint = hint;
        self.last = Some((h.clone(), gauge));
    }
}

/// Whether counter histogram `h` is appended to the counter chunk whose last sample is `prev`.
fn continues_chunk(prev: &FloatHistogram, h: &FloatHistogram) -> bool {
    if h.counter_reset_hint == CounterResetHint::CounterReset {
        return false;
    }
    if is_stale_nan(h.sum) {
        return true;
    }
    if is_stale_nan(prev.sum)
        || h.schema != prev.schema
        || h.zero_threshold != prev.zero_threshold
        || h.custom_values != prev.custom_values
    {
        return false;
    }
    let mut unhinted = h.clone();
    unhinted.counter_reset_hint = CounterResetHint::Unknown;
    !unhinted.detect_reset(prev)
}
