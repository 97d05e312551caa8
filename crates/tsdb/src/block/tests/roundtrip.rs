//! Round trips through the writer and reader, and the querier's matcher semantics.

use model::{Labels, MatchType, Matcher};
use proptest::prelude::*;
use storage::{LabelHints, Queryable, SelectHints, ValueKind};

use super::super::*;
use super::bits;

type Samples = Vec<(i64, f64)>;

fn series_strategy() -> impl Strategy<Value = Vec<(Labels, Samples)>> {
    let labels = proptest::collection::btree_map("[a-c]{1,2}", "[a-zA-Z0-9_ ]{0,4}", 1..4);
    let samples = (any::<i64>(), proptest::collection::vec((1i64..100_000, any::<f64>()), 1..300))
        .prop_map(|(start, steps)| {
            let mut t = start / 4;
            steps
                .into_iter()
                .map(|(d, v)| {
                    t += d;
                    (t, v)
                })
                .collect::<Samples>()
        });
    proptest::collection::vec((labels, samples), 1..20).prop_map(|v| {
        let mut out: Vec<(Labels, Samples)> = Vec::new();
        for (pairs, samples) in v {
            let mut pairs: Vec<(String, String)> = pairs.into_iter().collect();
            pairs.push(("__name__".to_string(), "m".to_string()));
            let l = Labels::from_pairs(pairs);
            if !out.iter().any(|(o, _)| *o == l) {
                out.push((l, samples));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_blocks_read_back_equal(series in series_strategy()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let ulid = write_block_from_samples(dir.path(), series.clone()).expect("write block");
        let block = Block::open(&dir.path().join(ulid.to_string())).expect("open block");
        prop_assert_eq!(bits(&block.read_all().expect("read block")), bits(&series));
        let n: usize = series.iter().map(|(_, s)| s.len()).sum();
        prop_assert_eq!(block.meta().stats.num_samples, n as u64);
        prop_assert_eq!(block.meta().stats.num_series, series.len() as u64);
        let mint = series.iter().map(|(_, s)| s[0].0).min();
        prop_assert_eq!(Some(block.meta().min_time), mint);

        // Every series is found again by its exact label set.
        let q = block.querier(i64::MIN, i64::MAX).expect("querier");
        for (labels, samples) in &series {
            let matchers: Vec<Matcher> =
                labels.iter().map(|l| Matcher::equal(l.name, l.value)).collect();
            let mut set = q.select(true, None, &matchers);
            let mut found = Vec::new();
            while let Some(s) = set.next() {
                // Equality matchers also select the series that have more labels.
                prop_assert!(labels.iter().all(|l| s.labels.get(l.name) == l.value));
                if s.labels == *labels {
                    found.push(s);
                }
            }
            prop_assert!(set.err().is_none());
            prop_assert_eq!(found.len(), 1);
            prop_assert_eq!(&found[0].labels, labels);
            let mut c = found[0].cursor();
            let mut got = Vec::new();
            while c.next() == ValueKind::Float {
                let (t, v) = c.at();
                got.push((t, v.to_bits()));
            }
            prop_assert!(c.err().is_none());
            let want: Vec<(i64, u64)> = samples.iter().map(|(t, v)| (*t, v.to_bits())).collect();
            prop_assert_eq!(got, want);

            // Bulk reads of a sub-range, from a fresh cursor and after stepping into it, give the same.
            let (lo, hi) = (samples[samples.len() / 4].0, samples[samples.len() * 3 / 4].0);
            let want: Vec<(i64, u64)> = samples
                .iter()
                .filter(|(t, _)| *t >= lo && *t <= hi)
                .map(|(t, v)| (*t, v.to_bits()))
                .collect();
            let bits_of = |b: &storage::SampleBatch| -> Vec<(i64, u64)> {
                b.floats.iter().map(|s| (s.t, s.v.to_bits())).collect()
            };
            let mut b = storage::SampleBatch::default();
            found[0].cursor().read_into(lo, hi, true, &mut b);
            prop_assert_eq!(bits_of(&b), want.clone());
            prop_assert_eq!(b.float_sts.len(), b.floats.len());
            let mut c = found[0].cursor();
            let mut b = storage::SampleBatch::default();
            if c.seek(lo) == ValueKind::Float {
                c.read_into(lo, hi, false, &mut b);
            }
            prop_assert!(c.err().is_none());
            prop_assert_eq!(bits_of(&b), want);
        }
    }
}

fn fixture() -> (tempfile::TempDir, Block) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut series = Vec::new();
    for (job, inst, env) in
        [("api", "a", "prod"), ("api", "b", ""), ("db", "a", "dev"), ("db", "c", "prod")]
    {
        let l = Labels::from_pairs([
            ("__name__", "up"),
            ("job", job),
            ("instance", inst),
            ("env", env),
        ]);
        series.push((l, (0..10).map(|i| (i * 1000, i as f64)).collect::<Samples>()));
    }
    let other = Labels::from_pairs([("__name__", "other"), ("job", "api")]);
    series.push((other, vec![(20_000, 1.0)]));
    let ulid = write_block_from_samples(dir.path(), series).expect("write block");
    let block = Block::open(&dir.path().join(ulid.to_string())).expect("open block");
    (dir, block)
}

fn select(
    block: &Block,
    mint: i64,
    maxt: i64,
    matchers: &[Matcher],
) -> Vec<(String, Vec<(i64, f64)>)> {
    let q = block.querier(mint, maxt).expect("querier");
    let mut set = q.select(true, Some(&SelectHints::default()), matchers);
    let mut out = Vec::new();
    while let Some(s) = set.next() {
        let mut c = s.cursor();
        let mut samples = Vec::new();
        while c.next() == ValueKind::Float {
            samples.push(c.at());
        }
        assert!(c.err().is_none());
        out.push((s.labels.to_string(), samples));
    }
    assert!(set.err().is_none());
    out
}

fn m(t: MatchType, name: &str, value: &str) -> Matcher {
    Matcher::new(t, name, value).expect("matcher")
}

#[test]
fn querier_selects_with_every_matcher_kind() {
    let (_dir, block) = fixture();
    let names = |ms: &[Matcher]| -> Vec<String> {
        select(&block, i64::MIN, i64::MAX, ms).into_iter().map(|(l, _)| l).collect()
    };
    let up = m(MatchType::Equal, "__name__", "up");
    let cases: Vec<(Vec<Matcher>, Vec<&str>)> = vec![
        (
            vec![m(MatchType::Equal, "job", "api")],
            vec![
                r#"{__name__="other", job="api"}"#,
                r#"{__name__="up", env="prod", instance="a", job="api"}"#,
                r#"{__name__="up", instance="b", job="api"}"#,
            ],
        ),
        (
            vec![up.clone(), m(MatchType::NotEqual, "job", "api")],
            vec![
                r#"{__name__="up", env="dev", instance="a", job="db"}"#,
                r#"{__name__="up", env="prod", instance="c", job="db"}"#,
            ],
        ),
        (
            vec![up.clone(), m(MatchType::Equal, "env", "")],
            vec![r#"{__name__="up", instance="b", job="api"}"#],
        ),
        (
            vec![up.clone(), m(MatchType::Regexp, "instance", "a|c")],
            vec![
                r#"{__name__="up", env="dev", instance="a", job="db"}"#,
                r#"{__name__="up", env="prod", instance="a", job="api"}"#,
                r#"{__name__="up", env="prod", instance="c", job="db"}"#,
            ],
        ),
        (
            vec![m(MatchType::Regexp, "env", "pr.*")],
            vec![
                r#"{__name__="up", env="prod", instance="a", job="api"}"#,
                r#"{__name__="up", env="prod", instance="c", job="db"}"#,
            ],
        ),
        (
            vec![up.clone(), m(MatchType::NotRegexp, "env", "pr.*")],
            vec![
                r#"{__name__="up", env="dev", instance="a", job="db"}"#,
                r#"{__name__="up", instance="b", job="api"}"#,
            ],
        ),
        (vec![m(MatchType::Equal, "job", "nope")], vec![]),
        (vec![m(MatchType::Equal, "nope", "x")], vec![]),
        // Every matcher matches the empty string: nothing, as the storage contract says.
        (vec![m(MatchType::Regexp, "__name__", ".*"), m(MatchType::NotEqual, "job", "db")], vec![]),
        (
            vec![m(MatchType::Regexp, "__name__", ".+"), m(MatchType::NotEqual, "job", "db")],
            vec![
                r#"{__name__="other", job="api"}"#,
                r#"{__name__="up", env="prod", instance="a", job="api"}"#,
                r#"{__name__="up", instance="b", job="api"}"#,
            ],
        ),
    ];
    for (ms, want) in cases {
        assert_eq!(names(&ms), want, "matchers {ms:?}");
    }
}

#[test]
fn querier_restricts_time_and_answers_label_queries() {
    let (_dir, block) = fixture();
    let inst_b = [m(MatchType::Equal, "instance", "b")];
    let got = select(&block, 3000, 5000, &inst_b);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, [(3000, 3.0), (4000, 4.0), (5000, 5.0)]);
    assert!(select(&block, 11_000, 19_000, &inst_b).is_empty(), "no chunk in range");
    let other = [m(MatchType::Equal, "__name__", "other")];
    assert_eq!(select(&block, 20_000, 20_000, &other)[0].1, [(20_000, 1.0)]);

    let q = block.querier(i64::MIN, i64::MAX).expect("querier");
    let none = LabelHints::default();
    let (names, _) = q.label_names(&none, &[]).expect("names");
    assert_eq!(names, ["__name__", "env", "instance", "job"]);
    let (names, _) = q.label_names(&none, &other).expect("names");
    assert_eq!(names, ["__name__", "job"]);
    let (vals, _) = q.label_values("instance", &none, &[]).expect("values");
    assert_eq!(vals, ["a", "b", "c"]);
    let (vals, _) =
        q.label_values("instance", &none, &[m(MatchType::Equal, "job", "db")]).expect("values");
    assert_eq!(vals, ["a", "c"]);
    let (vals, _) = q.label_values("env", &LabelHints { limit: 1 }, &[]).expect("values");
    assert_eq!(vals, ["dev"]);
    let limited = SelectHints { limit: 2, ..SelectHints::default() };
    let mut set = q.select(true, Some(&limited), &[m(MatchType::Equal, "__name__", "up")]);
    let mut n = 0;
    while set.next().is_some() {
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn querier_applies_tombstones() {
    let (dir, block) = fixture();
    let refs = block.index().postings("instance", "b").expect("postings");
    let mut t = Tombstones::new();
    t.add(u64::from(refs[0]), Interval { mint: 2000, maxt: 7000 });
    let other = block.index().postings("__name__", "other").expect("postings");
    t.add(u64::from(other[0]), Interval { mint: i64::MIN, maxt: i64::MAX });
    t.write(block.dir()).expect("write tombstones");
    let reopened = Block::open(block.dir()).expect("reopen");
    let got = select(&reopened, i64::MIN, i64::MAX, &[m(MatchType::Equal, "instance", "b")]);
    let ts: Vec<i64> = got[0].1.iter().map(|s| s.0).collect();
    assert_eq!(ts, [0, 1000, 8000, 9000]);
    // Bulk reads skip the deleted interval too.
    let q = reopened.querier(i64::MIN, i64::MAX).expect("querier");
    let series =
        q.select(true, None, &[m(MatchType::Equal, "instance", "b")]).next().expect("series");
    let mut b = storage::SampleBatch::default();
    series.cursor().read_into(500, 8500, false, &mut b);
    assert_eq!(b.floats.iter().map(|s| s.t).collect::<Vec<_>>(), [1000, 8000]);
    assert!(
        select(&reopened, i64::MIN, i64::MAX, &[m(MatchType::Equal, "__name__", "other")])
            .is_empty()
    );
    let all = reopened.read_all().expect("read all");
    assert_eq!(all.iter().map(|(_, s)| s.len()).sum::<usize>(), 40 - 6);
    drop(dir);
}
