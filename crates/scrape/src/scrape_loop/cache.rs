//! The series cache of a scrape loop: entries keyed on a series' text (the raw text for text bodies, a key built
//! from the labels for protobuf), in one vector, with a hash table of indexes into it.
//!
//! A target exposes its series in the same order scrape after scrape, so each entry remembers the entry that
//! followed it in the last scrape: a look-up first compares the key against that prediction and hashes only when it
//! misses (a new, removed or reordered series costs one miss, the rest of the body is predicted again). The keys
//! are then read in the order they were stored, and the table (four bytes a slot, not a key and an entry) is only
//! touched on misses.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// No entry.
const NONE: u32 = u32::MAX;

struct Slot<E> {
    key: Box<[u8]>,
    /// The entry that followed this one in the last scrape that met it, or [`NONE`].
    next: u32,
    entry: E,
}

pub(super) struct SeriesCache<E> {
    slots: Vec<Slot<E>>,
    index: HashTable<u32>,
    /// The entry met last in the current scrape, or [`NONE`] before its first series.
    prev: u32,
    /// The first entry of the last scrape.
    first: u32,
}

fn hash(key: &[u8]) -> u64 {
    FxBuildHasher.hash_one(key)
}

impl<E> SeriesCache<E> {
    pub(super) fn new() -> SeriesCache<E> {
        SeriesCache { slots: Vec::new(), index: HashTable::new(), prev: NONE, first: NONE }
    }

    /// Starts a scrape: the next look-up is predicted to be the first series of the last one.
    pub(super) fn begin(&mut self) {
        self.prev = NONE;
    }

    fn predicted(&self) -> u32 {
        if self.prev == NONE { self.first } else { self.slots[self.prev as usize].next }
    }

    /// Records that the current scrape met entry `i` next.
    fn met(&mut self, i: u32) {
        if self.prev == NONE {
            self.first = i;
        } else {
            self.slots[self.prev as usize].next = i;
        }
        self.prev = i;
    }

    /// The key the next look-up is predicted to ask for.
    pub(super) fn predicted_key(&self) -> Option<&[u8]> {
        self.slots.get(self.predicted() as usize).map(|s| &*s.key)
    }

    /// The index of the entry for `key`, if there is one.
    pub(super) fn find(&mut self, key: &[u8]) -> Option<u32> {
        let p = self.predicted();
        let i = match self.slots.get(p as usize) {
            Some(s) if *s.key == *key => p,
            _ => {
                let slots = &self.slots;
                *self.index.find(hash(key), |&i| *slots[i as usize].key == *key)?
            }
        };
        self.met(i);
        Some(i)
    }

    /// Adds the entry for `key`, which [`SeriesCache::find`] did not find, and returns its index.
    pub(super) fn insert(&mut self, key: &[u8], entry: E) -> u32 {
        let i = u32::try_from(self.slots.len()).expect("fewer than 2^32 series per target");
        self.slots.push(Slot { key: key.into(), next: NONE, entry });
        let slots = &self.slots;
        self.index.insert_unique(hash(key), i, |&j| hash(&slots[j as usize].key));
        self.met(i);
        i
    }

    pub(super) fn get_mut(&mut self, i: u32) -> &mut E {
        &mut self.slots[i as usize].entry
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &E> {
        self.slots.iter().map(|s| &s.entry)
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut E> {
        self.slots.iter_mut().map(|s| &mut s.entry)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Keeps the entries for which `keep` holds. Removing entries renumbers the rest, so the table is rebuilt
    /// (only when something was removed: in a steady state nothing is).
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&E) -> bool) {
        if self.slots.iter().all(|s| keep(&s.entry)) {
            return;
        }
        let mut renumbered = vec![NONE; self.slots.len()];
        let mut n = 0u32;
        let old = std::mem::take(&mut self.slots);
        let mut kept = Vec::with_capacity(old.len());
        for (i, s) in old.into_iter().enumerate() {
            if keep(&s.entry) {
                renumbered[i] = n;
                n += 1;
                kept.push(s);
            }
        }
        let renumber = |i: u32| renumbered.get(i as usize).copied().unwrap_or(NONE);
        for s in &mut kept {
            s.next = renumber(s.next);
        }
        kept.shrink_to(kept.len() + kept.len() / 8);
        self.first = renumber(self.first);
        self.prev = renumber(self.prev);
        self.slots = kept;
        self.index = HashTable::with_capacity(self.slots.len());
        for (i, s) in self.slots.iter().enumerate() {
            let slots = &self.slots;
            self.index.insert_unique(hash(&s.key), i as u32, |&j| hash(&slots[j as usize].key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(c: &mut SeriesCache<u32>, keys: &[&str]) -> Vec<(bool, u32)> {
        c.begin();
        keys.iter()
            .map(|k| match c.find(k.as_bytes()) {
                Some(i) => (true, *c.get_mut(i)),
                None => {
                    let i = c.insert(k.as_bytes(), k.len() as u32 * 10);
                    (false, *c.get_mut(i))
                }
            })
            .collect()
    }

    #[test]
    fn look_ups_follow_the_last_order_and_fall_back_to_the_table() {
        let mut c = SeriesCache::new();
        assert_eq!(scrape(&mut c, &["a", "bb", "ccc"]), [(false, 10), (false, 20), (false, 30)]);
        assert_eq!(scrape(&mut c, &["a", "bb", "ccc"]), [(true, 10), (true, 20), (true, 30)]);
        // Reordered, one inserted, one repeated: every key still finds its own entry.
        assert_eq!(
            scrape(&mut c, &["ccc", "dddd", "a", "a", "bb"]),
            [(true, 30), (false, 40), (true, 10), (true, 10), (true, 20)]
        );
        assert_eq!(c.len(), 4);
        // The predictions now follow that order.
        assert_eq!(c.predicted(), c.find(b"ccc").unwrap());
        c.begin();
        assert_eq!(c.find(b"ccc"), Some(c.first));
        assert_eq!(c.predicted_key(), Some(&b"dddd"[..]));
        assert_eq!(c.predicted(), c.find(b"dddd").unwrap());
        assert_eq!(c.find(b"zz"), None);
    }

    #[test]
    fn retain_renumbers_entries_and_keeps_predictions_valid() {
        let mut c = SeriesCache::new();
        scrape(&mut c, &["a", "bb", "ccc", "dddd"]);
        c.retain(|&v| v != 20 && v != 40);
        assert_eq!(c.len(), 2);
        assert_eq!(c.values().copied().collect::<Vec<_>>(), [10, 30]);
        // "a" was followed by the removed "bb": the prediction is gone, the table still answers.
        assert_eq!(scrape(&mut c, &["a", "ccc", "bb"]), [(true, 10), (true, 30), (false, 20)]);
        for v in c.values_mut() {
            *v += 1;
        }
        assert_eq!(scrape(&mut c, &["bb", "a", "ccc"]), [(true, 21), (true, 11), (true, 31)]);
        c.retain(|_| false);
        assert_eq!(c.len(), 0);
        assert_eq!(scrape(&mut c, &["a"]), [(false, 10)]);
    }
}
