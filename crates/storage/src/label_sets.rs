//! What every querier's `label_values` / `label_names` does with the label sets its matchers selected: the
//! distinct non-empty values of a name (or the distinct names), sorted, cut to the hint's limit.

use model::Labels;

/// The distinct non-empty values of `name` over `sets`, sorted, at most `limit` (0 = all).
pub fn distinct_values<'a>(
    sets: impl IntoIterator<Item = &'a Labels>,
    name: &str,
    limit: usize,
) -> Vec<String> {
    let values = sets.into_iter().map(|l| l.get(name)).filter(|v| !v.is_empty());
    sorted_limited(values.map(str::to_string).collect(), limit)
}

/// The distinct label names over `sets`, sorted, at most `limit` (0 = all).
pub fn distinct_names<'a>(sets: impl IntoIterator<Item = &'a Labels>, limit: usize) -> Vec<String> {
    let names =
        sets.into_iter().flat_map(|l| l.iter().map(|x| x.name.to_string()).collect::<Vec<_>>());
    sorted_limited(names.collect(), limit)
}

/// Sorts and deduplicates `v` and cuts it to `limit` (0 = all).
pub fn sorted_limited(mut v: Vec<String>, limit: usize) -> Vec<String> {
    v.sort_unstable();
    v.dedup();
    if limit > 0 {
        v.truncate(limit);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_names_are_distinct_sorted_and_limited() {
        let sets = [
            Labels::from_pairs([("__name__", "b"), ("job", "x")]),
            Labels::from_pairs([("__name__", "a"), ("job", "x")]),
            Labels::from_pairs([("__name__", "a"), ("zone", "z")]),
        ];
        assert_eq!(distinct_values(&sets, "job", 0), vec!["x"]);
        assert_eq!(distinct_values(&sets, "__name__", 0), vec!["a", "b"]);
        assert_eq!(distinct_values(&sets, "__name__", 1), vec!["a"]);
        assert_eq!(distinct_names(&sets, 0), vec!["__name__", "job", "zone"]);
        assert_eq!(distinct_names(&sets, 2), vec!["__name__", "job"]);
    }
}
