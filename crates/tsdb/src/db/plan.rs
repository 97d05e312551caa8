//! Choosing which blocks to merge next, by Prometheus's leveled planner's rules. Blocks are considered oldest
//! first (by minimum time):
//!
//! 1. Overlapping blocks come first (vertical compaction): the first run of blocks whose ranges overlap an
//!    earlier block of the run.
//! 2. Otherwise the newest block is set aside (the head's next cut may still be merged with it, and it leaves a
//!    block-sized window for backups), and for each range after the first, smallest first, the blocks are grouped
//!    by the aligned window of that range holding them; the first group of two or more blocks that fills its
//!    window, or lies wholly before the newest remaining block's start, is merged. A group holding a block whose
//!    compaction failed is skipped.
//! 3. Otherwise, newest first, a single big block (at least the middle range) with more than 5% of its series
//!    tombstoned, or a small one whose tombstones cover every series, is rewritten alone.

use crate::block::{BlockMeta, Ulid};

/// At most this many ranges (Prometheus's default).
const MAX_RANGES: usize = 10;

/// The compaction ranges: `block_range × 3^n` for `n = 0, 1, …`, at most ten, the longer ones dropped once they
/// exceed `max_block_duration` (the first range is always kept).
pub fn block_ranges(block_range: i64, max_block_duration: i64) -> Vec<i64> {
    let base = block_range.max(1);
    let max = max_block_duration.max(base);
    let mut out = vec![base];
    while out.len() < MAX_RANGES {
        match out.last().and_then(|r| r.checked_mul(3)) {
            Some(next) if next <= max => out.push(next),
            _ => break,
        }
    }
    out
}

/// Prometheus's default for `--storage.tsdb.max-block-duration`: a tenth of the time retention, at most 31 days
/// (31 days without time retention).
pub fn default_max_block_duration(retention_ms: i64) -> i64 {
    const DAYS_31: i64 = 31 * 24 * 3600 * 1000;
    if retention_ms > 0 { (retention_ms / 10).min(DAYS_31) } else { DAYS_31 }
}

/// Blocks to merge into one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The input blocks, oldest first.
    pub blocks: Vec<Ulid>,
    /// Whether the blocks overlap in time (vertical compaction).
    pub overlapping: bool,
}

/// Plans the next compaction over `metas` (any order) with the ranges of [`block_ranges`]; `None` when nothing
/// needs merging. See the module docs for the rules.
pub(crate) fn plan(metas: &[&BlockMeta], ranges: &[i64]) -> Option<Plan> {
    let mut sorted: Vec<&BlockMeta> = metas.to_vec();
    sorted.sort_by_key(|m| m.min_time);
    let overlapping = overlapping_run(&sorted);
    if !overlapping.is_empty() {
        return Some(Plan { blocks: overlapping, overlapping: true });
    }
    let older = sorted.split_last().map_or(&[][..], |(_, rest)| rest);
    if let Some(group) = leveled_group(older, ranges) {
        return Some(Plan { blocks: group, overlapping: false });
    }
    tombstoned(older, ranges).map(|u| Plan { blocks: vec![u], overlapping: false })
}

/// The first run of blocks (sorted by minimum time) overlapping one another.
fn overlapping_run(sorted: &[&BlockMeta]) -> Vec<Ulid> {
    let mut out = Vec::new();
    let Some(first) = sorted.first() else { return out };
    let mut reach = first.max_time;
    for pair in sorted.windows(2) {
        let (prev, cur) = (pair[0], pair[1]);
        if cur.min_time < reach {
            if out.is_empty() {
                out.push(prev.ulid);
            }
            out.push(cur.ulid);
        } else if !out.is_empty() {
            break;
        }
        reach = reach.max(cur.max_time);
    }
    out
}

/// Groups sorted blocks by the aligned window of width `width` holding them; a block wider than its window
/// belongs to no group.
fn split_by_range<'a>(sorted: &[&'a BlockMeta], width: i64) -> Vec<Vec<&'a BlockMeta>> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i].min_time.div_euclid(width).saturating_mul(width);
        let end = start.saturating_add(width);
        if sorted[i].max_time > end {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < sorted.len() && sorted[i].max_time <= end {
            group.push(sorted[i]);
            i += 1;
        }
        groups.push(group);
    }
    groups
}

/// Rule 2 of the module docs, over the blocks without the newest one.
fn leveled_group(older: &[&BlockMeta], ranges: &[i64]) -> Option<Vec<Ulid>> {
    let newest_start = older.last()?.min_time;
    for &width in ranges.iter().skip(1) {
        for group in split_by_range(older, width) {
            if group.len() < 2 || group.iter().any(|m| m.compaction.failed) {
                continue;
            }
            let (Some(first), Some(last)) = (group.first(), group.last()) else { continue };
            if last.max_time.saturating_sub(first.min_time) == width
                || last.max_time <= newest_start
            {
                return Some(group.iter().map(|m| m.ulid).collect());
            }
        }
    }
    None
}

/// Rule 3 of the module docs.
fn tombstoned(older: &[&BlockMeta], ranges: &[i64]) -> Option<Ulid> {
    let big = ranges.get(ranges.len() / 2).copied().unwrap_or(i64::MAX);
    for m in older.iter().rev() {
        let (stones, series) = (m.stats.num_tombstones, m.stats.num_series);
        if m.max_time.saturating_sub(m.min_time) < big {
            return (stones > 0 && stones >= series).then_some(m.ulid);
        }
        if stones as f64 / series.saturating_add(1) as f64 > 0.05 {
            return Some(m.ulid);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockStats;

    fn meta(min_time: i64, max_time: i64) -> BlockMeta {
        BlockMeta::new_level1(Ulid::new(), min_time, max_time, BlockStats::default())
    }

    /// Plans over blocks given as `(min, max)`; returns the chosen ranges.
    fn check(blocks: &[(i64, i64)], ranges: &[i64]) -> Option<(Vec<(i64, i64)>, bool)> {
        let metas: Vec<BlockMeta> = blocks.iter().map(|&(a, b)| meta(a, b)).collect();
        let refs: Vec<&BlockMeta> = metas.iter().collect();
        let p = plan(&refs, ranges)?;
        let chosen = p
            .blocks
            .iter()
            .map(|u| {
                let m = metas.iter().find(|m| m.ulid == *u).unwrap();
                (m.min_time, m.max_time)
            })
            .collect();
        Some((chosen, p.overlapping))
    }

    #[test]
    fn ranges_grow_by_three_up_to_the_maximum() {
        assert_eq!(block_ranges(2, 100), vec![2, 6, 18, 54]);
        assert_eq!(block_ranges(2, 54), vec![2, 6, 18, 54]);
        assert_eq!(block_ranges(2, 1), vec![2]);
        assert_eq!(block_ranges(1, i64::MAX).len(), 10);
        let h = 3600 * 1000;
        // Prometheus's defaults: 15 d retention gives a 36 h maximum, so 2 h, 6 h, 18 h.
        assert_eq!(default_max_block_duration(15 * 24 * h), 36 * h);
        assert_eq!(block_ranges(2 * h, 36 * h), vec![2 * h, 6 * h, 18 * h]);
        assert_eq!(default_max_block_duration(0), 31 * 24 * h);
        assert_eq!(default_max_block_duration(3650 * 24 * h), 31 * 24 * h);
    }

    #[test]
    fn leveled_planning_follows_prometheus() {
        let r = [20, 60, 180, 540, 1620];
        // One or two blocks: the newest is never merged.
        assert_eq!(check(&[], &r), None);
        assert_eq!(check(&[(0, 20)], &r), None);
        assert_eq!(check(&[(0, 20), (20, 40)], &r), None);
        // The first 60 window is full once the newest block lies after it.
        assert_eq!(check(&[(0, 20), (20, 40), (40, 60)], &r), None);
        assert_eq!(
            check(&[(0, 20), (20, 40), (40, 60), (60, 80)], &r),
            Some((vec![(0, 20), (20, 40), (40, 60)], false))
        );
        // A window spanned with a gap counts as full.
        assert_eq!(
            check(&[(0, 20), (40, 60), (60, 80)], &r),
            Some((vec![(0, 20), (40, 60)], false))
        );
        // A window not spanned is merged once a newer block (not the newest) starts after it.
        assert_eq!(check(&[(0, 20), (20, 40), (60, 80)], &r), None);
        assert_eq!(
            check(&[(0, 20), (20, 40), (60, 80), (120, 140)], &r),
            Some((vec![(0, 20), (20, 40)], false))
        );
        // Larger levels once the smaller windows are done.
        assert_eq!(
            check(&[(0, 60), (60, 120), (120, 180), (180, 200)], &r),
            Some((vec![(0, 60), (60, 120), (120, 180)], false))
        );
        assert_eq!(check(&[(0, 60), (60, 120), (120, 180)], &r), None);
        // The smaller range wins: 60-wide groups before the 180 window.
        assert_eq!(
            check(&[(0, 60), (60, 120), (120, 140), (140, 160), (160, 180), (180, 200)], &r),
            Some((vec![(120, 140), (140, 160), (160, 180)], false))
        );
        // A block wider than the window it starts in belongs to no group.
        assert_eq!(
            check(&[(0, 540), (540, 560), (560, 580), (580, 600), (600, 620)], &r).map(|p| p.0),
            Some(vec![(540, 560), (560, 580), (580, 600)])
        );
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let r = [20, 60, 180];
        let far = [(i64::MIN, i64::MIN + 5), (i64::MIN + 5, 0), (0, 10), (10, 20), (20, i64::MAX)];
        assert_eq!(check(&far, &r), None);
        assert!(check(&[(i64::MIN, i64::MAX), (0, 10)], &r).is_some_and(|p| p.1));
    }

    #[test]
    fn overlapping_blocks_come_first() {
        let r = [20, 60, 180];
        assert_eq!(
            check(&[(0, 20), (20, 40), (40, 60), (60, 80), (70, 90), (100, 120), (110, 130)], &r),
            Some((vec![(60, 80), (70, 90)], true))
        );
        // A block inside a longer one, and one chained through it.
        assert_eq!(
            check(&[(0, 100), (10, 20), (90, 110), (200, 220)], &r),
            Some((vec![(0, 100), (10, 20), (90, 110)], true))
        );
        // Touching is not overlapping.
        assert_eq!(check(&[(0, 20), (20, 40)], &r), None);
        // Even the newest block is merged when it overlaps.
        assert_eq!(check(&[(0, 20), (10, 30)], &r), Some((vec![(0, 20), (10, 30)], true)));
    }

    #[test]
    fn failed_groups_are_skipped_and_tombstoned_blocks_rewritten() {
        let r = [20, 60, 180];
        let mut metas: Vec<BlockMeta> =
            [(0, 20), (20, 40), (40, 60), (60, 80), (80, 100), (100, 120), (120, 140)]
                .iter()
                .map(|&(a, b)| meta(a, b))
                .collect();
        metas[1].compaction.failed = true;
        let refs: Vec<&BlockMeta> = metas.iter().collect();
        let p = plan(&refs, &r).unwrap();
        assert_eq!(p.blocks, vec![metas[3].ulid, metas[4].ulid, metas[5].ulid]);

        // A big block with 10% of its series deleted; a small one fully deleted.
        let mut big = meta(0, 60);
        big.stats.num_series = 99;
        big.stats.num_tombstones = 10;
        let newest = meta(60, 80);
        assert_eq!(plan(&[&big, &newest], &r).unwrap().blocks, vec![big.ulid]);
        big.stats.num_tombstones = 2;
        assert_eq!(plan(&[&big, &newest], &r), None);
        let mut small = meta(0, 20);
        small.stats.num_series = 3;
        small.stats.num_tombstones = 3;
        assert_eq!(plan(&[&small, &newest], &r).unwrap().blocks, vec![small.ulid]);
    }
}
