//! A cursor over samples already in memory, shared by storages that materialise what they read.

use std::sync::Arc;

use model::{FloatHistogram, Histogram, Timestamp, Value};

use crate::{SampleBatch, SampleCursor, ValueKind};

/// [`SampleCursor::read_into`] by single steps: what every cursor can do.
pub(crate) fn read_by_steps<C: SampleCursor + ?Sized>(
    c: &mut C,
    mint: Timestamp,
    maxt: Timestamp,
    with_st: bool,
    out: &mut SampleBatch,
) {
    let mut kind = c.seek(mint);
    while kind != ValueKind::None {
        let t = c.at_t();
        if t > maxt {
            break;
        }
        match kind {
            ValueKind::Float => {
                out.floats.push(model::Sample { t, v: c.at().1 });
                if with_st {
                    out.float_sts.push(c.at_st());
                }
            }
            ValueKind::Histogram | ValueKind::FloatHistogram => {
                out.hists.push(c.at_float_histogram());
                if with_st {
                    out.hist_sts.push(c.at_st());
                }
            }
            ValueKind::None => {}
        }
        kind = c.next();
    }
}

/// A cursor over `samples[start..end]`, which must be in timestamp order.
#[derive(Debug, Clone)]
pub struct VecCursor {
    samples: Arc<Vec<(Timestamp, Value)>>,
    /// Start timestamps parallel to `samples`, when the storage keeps them.
    sts: Option<Arc<Vec<Timestamp>>>,
    pos: usize,
    end: usize,
    started: bool,
}

impl VecCursor {
    /// A cursor over `samples[start..end]` (the bounds are clamped to the vector).
    pub fn new(samples: Arc<Vec<(Timestamp, Value)>>, start: usize, end: usize) -> VecCursor {
        let end = end.min(samples.len());
        VecCursor { samples, sts: None, pos: start.min(end), end, started: false }
    }

    /// Like [`VecCursor::new`], with the start timestamp of each sample (`sts[i]` belongs to `samples[i]`; missing
    /// entries read as 0).
    pub fn with_start_timestamps(
        samples: Arc<Vec<(Timestamp, Value)>>,
        sts: Arc<Vec<Timestamp>>,
        start: usize,
        end: usize,
    ) -> VecCursor {
        VecCursor { sts: Some(sts), ..VecCursor::new(samples, start, end) }
    }

    fn current(&self) -> Option<&(Timestamp, Value)> {
        if self.pos < self.end { self.samples.get(self.pos) } else { None }
    }

    fn kind(&self) -> ValueKind {
        match self.current() {
            Some((_, Value::Float(_))) => ValueKind::Float,
            Some((_, Value::Histogram(_))) => ValueKind::Histogram,
            Some((_, Value::FloatHistogram(_))) => ValueKind::FloatHistogram,
            None => ValueKind::None,
        }
    }
}

impl SampleCursor for VecCursor {
    fn next(&mut self) -> ValueKind {
        if self.started {
            self.pos = (self.pos + 1).min(self.end);
        }
        self.started = true;
        self.kind()
    }

    fn seek(&mut self, t: Timestamp) -> ValueKind {
        self.started = true;
        while self.current().is_some_and(|(st, _)| *st < t) {
            self.pos += 1;
        }
        self.kind()
    }

    fn at(&self) -> (Timestamp, f64) {
        match self.current() {
            Some((t, Value::Float(v))) => (*t, *v),
            Some((t, _)) => (*t, f64::NAN),
            None => (0, f64::NAN),
        }
    }

    fn at_histogram(&self) -> (Timestamp, Arc<Histogram>) {
        match self.current() {
            Some((t, Value::Histogram(h))) => (*t, h.clone()),
            Some((t, _)) => (*t, Arc::default()),
            None => (0, Arc::default()),
        }
    }

    fn at_float_histogram(&self) -> (Timestamp, Arc<FloatHistogram>) {
        match self.current() {
            Some((t, Value::FloatHistogram(h))) => (*t, h.clone()),
            Some((t, Value::Histogram(h))) => (*t, Arc::new(h.to_float())),
            Some((t, _)) => (*t, Arc::default()),
            None => (0, Arc::default()),
        }
    }

    fn at_t(&self) -> Timestamp {
        self.current().map_or(0, |(t, _)| *t)
    }

    fn at_st(&self) -> Timestamp {
        match (&self.sts, self.current()) {
            (Some(sts), Some(_)) => sts.get(self.pos).copied().unwrap_or(0),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_seek_and_kinds() {
        let h = Arc::new(Histogram { count: 2, ..Default::default() });
        let v = Arc::new(vec![
            (1, Value::Float(1.0)),
            (2, Value::Histogram(h)),
            (3, Value::Float(3.0)),
            (4, Value::Float(4.0)),
        ]);
        let mut c = VecCursor::new(v.clone(), 0, 3);
        assert_eq!(c.next(), ValueKind::Float);
        assert_eq!(c.next(), ValueKind::Histogram);
        assert_eq!(c.at_float_histogram().1.count, 2.0);
        assert_eq!(c.seek(2), ValueKind::Histogram, "seek never moves backwards or past a match");
        assert_eq!(c.seek(3), ValueKind::Float);
        assert_eq!(c.at(), (3, 3.0));
        assert_eq!(c.next(), ValueKind::None, "the end bound is exclusive");
        let mut c = VecCursor::new(v, 1, 99);
        assert_eq!(c.seek(4), ValueKind::Float);
        assert_eq!(c.at_t(), 4);
    }
}
