//! The head's series by reference. References are handed out densely from 1 and never again, so each of a few
//! stripes is a vector indexed by reference: a lookup is one load (scrapes append series in the order they were
//! created, so neighbouring lookups share cache lines) and lookups on different stripes do not share a lock.
//! A slot costs 8 bytes for every reference ever handed out; references beyond [`DENSE_LIMIT`] (none in
//! practice) go to a map.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use rustc_hash::FxHashMap as HashMap;

use super::series::Series;

const STRIPES: usize = 16;
/// References at or above this are kept in a map.
const DENSE_LIMIT: u64 = 1 << 32;

#[derive(Debug, Default)]
struct Stripe {
    dense: Vec<Option<Arc<Series>>>,
    sparse: HashMap<u64, Arc<Series>>,
}

#[derive(Debug)]
pub(crate) struct SeriesRefs {
    stripes: Vec<RwLock<Stripe>>,
    len: AtomicU64,
}

impl Default for SeriesRefs {
    fn default() -> SeriesRefs {
        SeriesRefs {
            stripes: (0..STRIPES).map(|_| RwLock::new(Stripe::default())).collect(),
            len: AtomicU64::new(0),
        }
    }
}

fn slot(r: u64) -> (usize, usize) {
    ((r % STRIPES as u64) as usize, (r / STRIPES as u64) as usize)
}

impl SeriesRefs {
    pub(crate) fn get(&self, r: u64) -> Option<Arc<Series>> {
        let (s, i) = slot(r);
        let stripe = self.stripes[s].read();
        if r < DENSE_LIMIT {
            stripe.dense.get(i).and_then(Option::clone)
        } else {
            stripe.sparse.get(&r).cloned()
        }
    }

    pub(crate) fn insert(&self, r: u64, series: Arc<Series>) {
        let (s, i) = slot(r);
        let mut stripe = self.stripes[s].write();
        let old = if r < DENSE_LIMIT {
            if i >= stripe.dense.len() {
                let want = (i + 1).max(stripe.dense.len() * 2);
                stripe.dense.resize(want, None);
            }
            stripe.dense[i].replace(series)
        } else {
            stripe.sparse.insert(r, series)
        };
        if old.is_none() {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn remove(&self, r: u64) -> Option<Arc<Series>> {
        let (s, i) = slot(r);
        let mut stripe = self.stripes[s].write();
        let old = if r < DENSE_LIMIT {
            stripe.dense.get_mut(i).and_then(Option::take)
        } else {
            stripe.sparse.remove(&r)
        };
        if old.is_some() {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        old
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed) as usize
    }

    /// Every series, in no particular order.
    pub(crate) fn all(&self) -> Vec<Arc<Series>> {
        let mut out = Vec::with_capacity(self.len());
        for stripe in &self.stripes {
            let stripe = stripe.read();
            out.extend(stripe.dense.iter().flatten().cloned());
            out.extend(stripe.sparse.values().cloned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Labels;

    #[test]
    fn references_map_to_their_series_whatever_their_size() {
        let refs = SeriesRefs::default();
        let mk =
            |r: u64| Arc::new(Series::new(Labels::from_pairs([("r", r.to_string().as_str())]), r));
        let ids = [1u64, 2, 17, 33, 1000, DENSE_LIMIT - 1, DENSE_LIMIT, u64::MAX];
        for r in ids {
            refs.insert(r, mk(r));
        }
        refs.insert(17, mk(17));
        assert_eq!(refs.len(), ids.len(), "replacing a series does not count twice");
        for r in ids {
            assert_eq!(refs.get(r).map(|s| s.reference), Some(r));
        }
        for r in [0u64, 3, 16, 999, 1001, DENSE_LIMIT + 1] {
            assert!(refs.get(r).is_none(), "{r}");
        }
        assert_eq!(refs.remove(33).map(|s| s.reference), Some(33));
        assert!(refs.remove(33).is_none());
        assert!(refs.get(33).is_none());
        let mut all: Vec<u64> = refs.all().iter().map(|s| s.reference).collect();
        all.sort_unstable();
        assert_eq!(all, vec![1, 2, 17, 1000, DENSE_LIMIT - 1, DENSE_LIMIT, u64::MAX]);
        assert_eq!(refs.len(), 7);
    }
}
