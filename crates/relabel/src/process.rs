//! Applying relabel configurations to label sets.

use md5::{Digest, Md5};
use model::{Labels, LabelsBuilder};

use crate::{Action, Config};

/// Applies `configs` in order to `labels`. Returns `None` when a `keep`/`drop`-style action drops the set.
pub fn process(labels: &Labels, configs: &[Config]) -> Option<Labels> {
    let mut b = labels.builder();
    process_builder(&mut b, configs).then(|| b.labels())
}

/// Applies `configs` in place; `false` means the set was dropped (the builder's contents are then unspecified).
pub fn process_builder(b: &mut LabelsBuilder, configs: &[Config]) -> bool {
    configs.iter().all(|c| apply(b, c))
}

fn apply(b: &mut LabelsBuilder, c: &Config) -> bool {
    let val = if matches!(c.action, Action::LabelMap | Action::LabelDrop | Action::LabelKeep) {
        String::new()
    } else {
        let vals: Vec<&str> = c.source_labels.iter().map(|n| b.get(n)).collect();
        vals.join(&c.separator)
    };
    let re = c.regex.inner();
    match c.action {
        Action::Drop => {
            if re.is_match(&val) {
                return false;
            }
        }
        Action::Keep => {
            if !re.is_match(&val) {
                return false;
            }
        }
        Action::DropEqual => {
            if b.get(&c.target_label) == val {
                return false;
            }
        }
        Action::KeepEqual => {
            if b.get(&c.target_label) != val {
                return false;
            }
        }
        Action::Replace => {
            let Some(caps) = re.captures(&val) else { return true };
            let target = expand(&c.target_label, &caps);
            if target.is_empty() {
                return true;
            }
            let res = expand(&c.replacement, &caps);
            b.set(&target, &res);
        }
        Action::Lowercase => b.set(&c.target_label, &val.to_lowercase()),
        Action::Uppercase => b.set(&c.target_label, &val.to_uppercase()),
        Action::HashMod => {
            let m = hash_mod(&val, c.modulus);
            b.set(&c.target_label, &m.to_string());
        }
        Action::LabelMap => {
            let pairs: Vec<(String, String)> =
                b.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect();
            for (name, value) in pairs {
                if let Some(caps) = re.captures(&name) {
                    let target = expand(&c.replacement, &caps);
                    b.set(&target, &value);
                }
            }
        }
        Action::LabelDrop => b.retain(|n, _| !re.is_match(n)),
        Action::LabelKeep => b.retain(|n, _| re.is_match(n)),
    }
    true
}

/// Prometheus's hashmod: the MD5 digest's last eight bytes as a big-endian integer, modulo `modulus`.
pub(crate) fn hash_mod(val: &str, modulus: u64) -> u64 {
    let digest = Md5::digest(val.as_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(tail) % modulus.max(1)
}

/// Expands `$1`, `${1}`, `$name`, `${name}` and `$$` in `template` as Go's `Regexp.Expand` does: unknown or
/// unmatched groups expand to nothing.
fn expand(template: &str, caps: &regex::Captures<'_>) -> String {
    let mut out = String::with_capacity(template.len());
    let b = template.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let next = template[i..].find('$').map_or(b.len(), |p| i + p);
            out.push_str(&template[i..next]);
            i = next;
            continue;
        }
        if b.get(i + 1) == Some(&b'$') {
            out.push('$');
            i += 2;
            continue;
        }
        let (name, end) = if b.get(i + 1) == Some(&b'{') {
            match template[i + 2..].find('}') {
                Some(p) => {
                    let n = &template[i + 2..i + 2 + p];
                    if n.is_empty() || !n.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                        out.push('$');
                        i += 1;
                        continue;
                    }
                    (n, i + 3 + p)
                }
                None => {
                    out.push('$');
                    i += 1;
                    continue;
                }
            }
        } else {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j == start {
                out.push('$');
                i += 1;
                continue;
            }
            (&template[start..j], j)
        };
        let m = match name.parse::<usize>() {
            Ok(n) => caps.get(n),
            Err(_) => caps.name(name),
        };
        if let Some(m) = m {
            out.push_str(m.as_str());
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Regex;

    fn cfg(yaml: &str) -> Config {
        let c: Config = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        c.validate(true).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        c
    }

    fn ls(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn actions_table() {
        let input =
            ls(&[("__name__", "up"), ("a", "foo"), ("b", "bar"), ("c", "baz"), ("__meta_x", "1")]);
        type Case<'a> = (&'a str, Option<&'a [(&'a str, &'a str)]>);
        let cases: &[Case<'_>] = &[
            (
                "source_labels: [a]\nregex: f(.*)\ntarget_label: d\nreplacement: ${1}x",
                Some(&[
                    ("__meta_x", "1"),
                    ("__name__", "up"),
                    ("a", "foo"),
                    ("b", "bar"),
                    ("c", "baz"),
                    ("d", "oox"),
                ]),
            ),
            (
                "source_labels: [a]\nregex: nomatch\ntarget_label: a\nreplacement: x",
                Some(&[
                    ("__meta_x", "1"),
                    ("__name__", "up"),
                    ("a", "foo"),
                    ("b", "bar"),
                    ("c", "baz"),
                ]),
            ),
            (
                "source_labels: [a, b]\nregex: 'foo;(.*)'\ntarget_label: a\nreplacement: ''",
                Some(&[("__meta_x", "1"), ("__name__", "up"), ("b", "bar"), ("c", "baz")]),
            ),
            ("source_labels: [a]\nregex: foo\naction: drop", None),
            (
                "source_labels: [a]\nregex: fo\naction: drop",
                Some(&[
                    ("__meta_x", "1"),
                    ("__name__", "up"),
                    ("a", "foo"),
                    ("b", "bar"),
                    ("c", "baz"),
                ]),
            ),
            ("source_labels: [a]\nregex: fo\naction: keep", None),
            ("source_labels: [a]\ntarget_label: b\naction: keepequal", None),
            (
                "source_labels: [a]\ntarget_label: b\naction: dropequal",
                Some(&[
                    ("__meta_x", "1"),
                    ("__name__", "up"),
                    ("a", "foo"),
                    ("b", "bar"),
                    ("c", "baz"),
                ]),
            ),
            (
                "regex: '__meta_(.*)'\naction: labelmap",
                Some(&[
                    ("__meta_x", "1"),
                    ("__name__", "up"),
                    ("a", "foo"),
                    ("b", "bar"),
                    ("c", "baz"),
                    ("x", "1"),
                ]),
            ),
            (
                "regex: '[ab]'\naction: labeldrop",
                Some(&[("__meta_x", "1"), ("__name__", "up"), ("c", "baz")]),
            ),
            ("regex: '__name__|a'\naction: labelkeep", Some(&[("__name__", "up"), ("a", "foo")])),
            (
                "source_labels: [a, b]\ntarget_label: u\naction: uppercase",
                Some(&[
                    ("__meta_x", "1"),
                    ("__name__", "up"),
                    ("a", "foo"),
                    ("b", "bar"),
                    ("c", "baz"),
                    ("u", "FOO;BAR"),
                ]),
            ),
            (
                "source_labels: [c]\ntarget_label: '${1}_x'\nregex: '(b).*'\nreplacement: v",
                Some(&[
                    ("__meta_x", "1"),
                    ("__name__", "up"),
                    ("a", "foo"),
                    ("b", "bar"),
                    ("b_x", "v"),
                    ("c", "baz"),
                ]),
            ),
        ];
        for (yaml, want) in cases {
            let got = process(&input, &[cfg(yaml)]);
            assert_eq!(got, want.map(ls), "{yaml}");
        }
    }

    #[test]
    fn hashmod_matches_prometheus() {
        // Expected values: int.from_bytes(hashlib.md5(v).digest()[8:], 'big') % m, computed independently.
        for (v, m, want) in [("foo", 1000u64, 696u64), ("localhost:9090", 4, 2), ("", 7, 1)] {
            assert_eq!(hash_mod(v, m), want, "{v} % {m}");
        }
        let c = cfg("source_labels: [a]\ntarget_label: shard\nmodulus: 1000\naction: hashmod");
        let out = process(&ls(&[("a", "foo")]), &[c]).unwrap();
        assert_eq!(out.get("shard"), "696");
    }

    #[test]
    fn go_expand_rules() {
        let re = Regex::new("(?P<first>a)(b)?").unwrap();
        let caps = re.inner().captures("a").unwrap();
        assert_eq!(expand("$1-${first}-$2-$$-$first_x-${}", &caps), "a-a--$--${}");
    }

    #[test]
    fn validation_messages() {
        let bad: &[(&str, &str)] = &[
            (
                "action: hashmod\ntarget_label: a",
                "relabel configuration for hashmod requires non-zero modulus",
            ),
            (
                "action: labelkeep\nsource_labels: [a]",
                "labelkeep action requires only 'regex', and no other fields",
            ),
            (
                "action: dropequal\nsource_labels: [a]",
                "relabel configuration for dropequal action requires 'target_label' value",
            ),
            (
                "action: keepequal\nsource_labels: [a]\ntarget_label: b\nregex: x",
                "keepequal action requires only 'source_labels' and `target_label`, and no other fields",
            ),
            (
                "action: replace\nsource_labels: [a]",
                "relabel configuration for replace action requires 'target_label' value",
            ),
        ];
        for (yaml, want) in bad {
            let c: Config = serde_saphyr::from_str(yaml).unwrap();
            assert_eq!(c.validate(true).unwrap_err().to_string(), *want, "{yaml}");
        }
        let e = serde_saphyr::from_str::<Config>("action: bogus").unwrap_err().to_string();
        assert!(e.contains("unknown relabel action \"bogus\""), "{e}");
        let e = serde_saphyr::from_str::<Config>("regex: '('").unwrap_err().to_string();
        assert!(e.contains("error parsing regexp"), "{e}");
    }
}
