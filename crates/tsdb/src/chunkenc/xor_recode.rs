//! Smaller XOR chunks holding the same samples.
//!
//! A changed value is written inside a leading/trailing-zero window: the previous one (2 control bits and the
//! window's width) or a new one fitted to the value (2 control bits, 11 bits of window, and the value's own
//! significant bits). Prometheus's appender takes the previous window whenever the value fits it, however much
//! wider it is; any sequence of these choices decodes to the same samples, so a chunk written once and for all
//! (a block's) can choose them over the whole chunk. [`recode_xor`] does that with a search over the windows a
//! plan could still hold after each value, keeping the cheapest [`MAX_PLANS`] of them.

use super::xor::{XorAppender, XorIterator};

/// Plans (windows still open) the search keeps after each value.
const MAX_PLANS: usize = 16;

/// No new window yet.
const ROOT: u32 = u32::MAX;

/// The window a plan holds, what its bits cost so far, and its newest new window in the search's arena.
#[derive(Debug, Clone, Copy)]
struct Plan {
    leading: u8,
    trailing: u8,
    cost: u64,
    node: u32,
}

/// The chunk re-encoded with the cheapest window choices the search finds, or `None` when it does not decode to
/// the sample count its header gives or the result would not be smaller.
pub fn recode_xor(chunk: &[u8]) -> Option<Vec<u8>> {
    let total = match chunk {
        [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
        _ => return None,
    };
    let samples: Vec<(i64, f64)> = XorIterator::new(chunk).collect();
    if samples.len() != total || total < 3 {
        return None;
    }
    let plan = plan_windows(&samples);
    let mut a = XorAppender::new();
    for (&(t, v), &new_window) in samples.iter().zip(&plan) {
        a.append_planned(t, v, new_window);
    }
    (a.bytes().len() < chunk.len()).then(|| a.bytes().to_vec())
}

/// For each sample, whether its value opens a new window in the cheapest plan found.
fn plan_windows(samples: &[(i64, f64)]) -> Vec<bool> {
    // Every new window some plan opened: (the plan's previous new window, the sample opening this one).
    let mut arena: Vec<(u32, u32)> = Vec::new();
    let mut plans = vec![Plan { leading: 0xff, trailing: 0, cost: 0, node: ROOT }];
    let mut next: Vec<Plan> = Vec::with_capacity(MAX_PLANS + 1);
    for (i, pair) in samples.windows(2).enumerate() {
        let delta = pair[0].1.to_bits() ^ pair[1].1.to_bits();
        if delta == 0 {
            for p in &mut plans {
                p.cost += 1;
            }
            continue;
        }
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        let Some(best) = plans.iter().min_by_key(|p| p.cost).copied() else {
            break;
        };
        next.clear();
        for p in &plans {
            if p.leading != 0xff && leading >= p.leading && trailing >= p.trailing {
                next.push(Plan { cost: p.cost + 2 + u64::from(64 - p.leading - p.trailing), ..*p });
            }
        }
        let fresh = best.cost + 13 + u64::from(64 - leading - trailing);
        let same = next.iter().find(|p| p.leading == leading && p.trailing == trailing);
        if same.is_none_or(|p| p.cost > fresh) {
            arena.push((best.node, (i + 1) as u32));
            let node = (arena.len() - 1) as u32;
            next.retain(|p| p.leading != leading || p.trailing != trailing);
            next.push(Plan { leading, trailing, cost: fresh, node });
        }
        if next.len() > MAX_PLANS {
            next.sort_by_key(|p| p.cost);
            next.truncate(MAX_PLANS);
        }
        std::mem::swap(&mut plans, &mut next);
    }
    let mut new_window = vec![false; samples.len()];
    let mut node = plans.iter().min_by_key(|p| p.cost).map_or(ROOT, |p| p.node);
    while let Some(&(parent, sample)) = arena.get(node as usize) {
        new_window[sample as usize] = true;
        node = parent;
    }
    new_window
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunkenc::decode_xor;
    use proptest::prelude::*;

    fn encode(samples: &[(i64, f64)]) -> Vec<u8> {
        let mut a = XorAppender::new();
        for &(t, v) in samples {
            a.append(t, v);
        }
        a.bytes().to_vec()
    }

    fn bits(s: &[(i64, f64)]) -> Vec<(i64, u64)> {
        s.iter().map(|&(t, v)| (t, v.to_bits())).collect()
    }

    #[test]
    fn a_wide_window_left_open_by_one_value_is_replaced_when_narrow_values_follow() {
        // One value changes 40 bits, then 100 values change only one or two bits at its low end: Prometheus's
        // appender keeps the 40-bit window for all of them.
        let mut samples =
            vec![(0, 1.0), (1000, f64::from_bits(1.0f64.to_bits() ^ (0xff_ffff_ffff << 8)))];
        for i in 2..102 {
            let prev = samples[i - 1].1.to_bits();
            samples.push((i as i64 * 1000, f64::from_bits(prev ^ ((1 + (i as u64 & 1)) << 8))));
        }
        let greedy = encode(&samples);
        let smaller = recode_xor(&greedy).expect("a smaller chunk");
        assert!(
            smaller.len() * 4 < greedy.len() * 3,
            "{} vs {} bytes",
            smaller.len(),
            greedy.len()
        );
        assert_eq!(bits(&decode_xor(&smaller)), bits(&samples));
    }

    #[test]
    fn a_chunk_that_cannot_shrink_is_left_alone() {
        let samples: Vec<(i64, f64)> = (0..120).map(|i| (i * 15_000, 42.0)).collect();
        assert_eq!(recode_xor(&encode(&samples)), None);
        assert_eq!(recode_xor(&[0, 5, 1, 2]), None, "a truncated chunk");
        assert_eq!(recode_xor(&[]), None);
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            (0u32..1000).prop_map(f64::from),
            any::<f64>(),
            (-1e3f64..1e3).prop_map(|x| (x * 100.0).round() / 100.0),
            Just(f64::NAN),
            Just(f64::INFINITY),
        ]
    }

    proptest! {
        #[test]
        fn recoding_keeps_every_sample_and_never_grows(
            values in prop::collection::vec(value(), 3..300),
            gaps in prop::collection::vec(1i64..100_000, 300),
            walk in any::<bool>(),
        ) {
            let mut t = 1_700_000_000_000i64;
            let mut acc = 0.0;
            let samples: Vec<(i64, f64)> = values
                .iter()
                .zip(&gaps)
                .map(|(&v, &g)| {
                    t += g;
                    acc += v;
                    (t, if walk && acc.is_finite() { acc } else { v })
                })
                .collect();
            let greedy = encode(&samples);
            if let Some(smaller) = recode_xor(&greedy) {
                prop_assert!(smaller.len() < greedy.len());
                prop_assert_eq!(bits(&decode_xor(&smaller)), bits(&samples));
                // An appender continuing the smaller chunk writes what it decodes to.
                let mut resumed = XorAppender::resume(&smaller).expect("resume");
                resumed.append(t + 1, 1.5);
                let mut want = bits(&samples);
                want.push((t + 1, 1.5f64.to_bits()));
                prop_assert_eq!(bits(&decode_xor(resumed.bytes())), want);
            }
        }
    }
}
