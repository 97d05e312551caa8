//! Rule files: Prometheus's format (`groups:` of recording and alerting rules), decoded strictly and validated
//! with Prometheus's messages and `line:col` positions.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use promql_syntax::{ParserOptions, parse_expr};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

/// A parsed rule file.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RuleFile {
    /// The groups, in file order.
    pub groups: Vec<GroupDef>,
}

/// One `groups` entry.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct GroupDef {
    /// Group name, unique in its file.
    pub name: String,
    /// Evaluation interval (ms); `None` means the global `evaluation_interval`.
    pub interval: Option<i64>,
    /// How far back in time queries are evaluated (ms); `None` means the global `rule_query_offset`.
    pub query_offset: Option<i64>,
    /// Maximum number of alerts or series a rule may produce (0: no limit).
    pub limit: i64,
    /// Labels added to every rule of the group (rule labels win).
    pub labels: BTreeMap<String, String>,
    /// The rules, in evaluation order.
    pub rules: Vec<RuleDef>,
}

/// One rule of a group.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RuleDef {
    /// The recorded metric name (recording rules).
    pub record: String,
    /// The alert name (alerting rules).
    pub alert: String,
    /// The PromQL expression.
    pub expr: String,
    /// How long an alert stays pending before it fires (ms).
    pub for_ms: i64,
    /// How long an alert keeps firing after its condition ends (ms).
    pub keep_firing_for_ms: i64,
    /// Labels to add or overwrite (templates for alerting rules).
    pub labels: BTreeMap<String, String>,
    /// Annotations (templates), alerting rules only.
    pub annotations: BTreeMap<String, String>,
}

impl RuleDef {
    /// The alert or record name.
    pub fn name(&self) -> &str {
        if self.alert.is_empty() { &self.record } else { &self.alert }
    }
}

/// How strictly to decode.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Accept keys Prometheus does not know (promtool's `--ignore-unknown-fields`).
    pub ignore_unknown_fields: bool,
    /// Experimental PromQL accepted in expressions.
    pub parser: ParserOptions,
}

/// Reads and validates a rule file. Every error message is prefixed with the file name, as Prometheus prints them.
pub fn parse_file(path: &Path, opts: &ParseOptions) -> Result<RuleFile, Vec<String>> {
    let name = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| vec![format!("{name}: {}", io_text(&e))])?;
    parse(&text, opts).map_err(|errs| errs.into_iter().map(|e| format!("{name}: {e}")).collect())
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "open: no such file or directory".to_string(),
        _ => e.to_string(),
    }
}

/// Parses and validates rule file text. Only the first YAML document is used, as in Prometheus (a warning is
/// logged for the others).
pub fn parse(text: &str, opts: &ParseOptions) -> Result<RuleFile, Vec<String>> {
    let mut yo = serde_saphyr::Options::default();
    yo.emit_comments = false;
    yo.with_snippet = false;
    let docs: Result<Vec<Option<RawFile>>, _> = if opts.ignore_unknown_fields {
        serde_saphyr::from_multiple_with_options::<Option<LooseFile>>(text, yo)
            .map(|d| d.into_iter().map(|f| f.map(LooseFile::into_raw)).collect())
    } else {
        serde_saphyr::from_multiple_with_options(text, yo)
    };
    let docs = docs.map_err(|e| vec![yaml_error(&e)])?;
    if docs.len() > 1 {
        tracing::warn!(
            "Multiple document yaml rules files are not supported, only the first document is processed"
        );
    }
    let raw = docs.into_iter().next().flatten().unwrap_or_default();
    validate(raw, &opts.parser)
}

fn yaml_error(e: &serde_saphyr::Error) -> String {
    go_yaml_error(e, |names| {
        if names.contains(&"record") {
            "rulefmt.Rule"
        } else if names.contains(&"rules") {
            "rulefmt.RuleGroup"
        } else {
            "rulefmt.RuleGroups"
        }
    })
}

/// A YAML decoding error in the words of Go's YAML decoder: `yaml: unmarshal errors:\n  line N: field F not found
/// in type T` for unknown keys (`type_name` picks the Go type from the names the struct accepts), `yaml: line N: …`
/// otherwise.
pub fn go_yaml_error(
    e: &serde_saphyr::Error,
    type_name: impl Fn(&[&str]) -> &'static str,
) -> String {
    let msg = e.to_string();
    let first = msg.lines().next().unwrap_or("").to_string();
    let message = match first.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest.to_string(),
        _ => first,
    };
    let message = message.split(" at line ").next().unwrap_or(&message).to_string();
    let line = e.location().map(|l| l.line()).unwrap_or(0);
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, expected)) = rest.split_once('`')
    {
        let names: Vec<&str> =
            expected.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').collect();
        let ty = type_name(&names);
        return format!(
            "yaml: unmarshal errors:\n  line {line}: field {field} not found in type {ty}"
        );
    }
    if message.starts_with("invalid type:") {
        return format!("yaml: unmarshal errors:\n  line {line}: {message}");
    }
    match e.location() {
        Some(l) => format!("yaml: line {}: {message}", l.line()),
        None => format!("yaml: {message}"),
    }
}

/// A YAML scalar of any type, read as its text (Go's YAML decoder turns `expr: 1` into the string `1`).
#[derive(Debug, Clone, Default, PartialEq)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(String::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    groups: Option<Vec<Spanned<RawGroup>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    name: Option<Text>,
    #[serde(default)]
    interval: Option<config::Duration>,
    #[serde(default)]
    query_offset: Option<config::Duration>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    rules: Option<Vec<RawRule>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, Text>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<Spanned<Text>>,
    #[serde(default)]
    alert: Option<Spanned<Text>>,
    #[serde(default)]
    expr: Option<Spanned<Text>>,
    #[serde(default, rename = "for")]
    for_: Option<config::Duration>,
    #[serde(default)]
    keep_firing_for: Option<config::Duration>,
    #[serde(default)]
    labels: Option<BTreeMap<String, Text>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, Text>>,
}

/// The same shapes without `deny_unknown_fields`.
#[derive(Debug, Default, Deserialize)]
struct LooseFile {
    #[serde(default)]
    groups: Option<Vec<Spanned<LooseGroup>>>,
}

#[derive(Debug, Default, Deserialize)]
struct LooseGroup {
    #[serde(default)]
    name: Option<Text>,
    #[serde(default)]
    interval: Option<config::Duration>,
    #[serde(default)]
    query_offset: Option<config::Duration>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    rules: Option<Vec<LooseRule>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, Text>>,
}

#[derive(Debug, Default, Deserialize)]
struct LooseRule {
    #[serde(default)]
    record: Option<Spanned<Text>>,
    #[serde(default)]
    alert: Option<Spanned<Text>>,
    #[serde(default)]
    expr: Option<Spanned<Text>>,
    #[serde(default, rename = "for")]
    for_: Option<config::Duration>,
    #[serde(default)]
    keep_firing_for: Option<config::Duration>,
    #[serde(default)]
    labels: Option<BTreeMap<String, Text>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, Text>>,
}

impl LooseFile {
    fn into_raw(self) -> RawFile {
        RawFile {
            groups: self.groups.map(|gs| {
                gs.into_iter()
                    .map(|g| Spanned {
                        referenced: g.referenced,
                        defined: g.defined,
                        value: RawGroup {
                            name: g.value.name,
                            interval: g.value.interval,
                            query_offset: g.value.query_offset,
                            limit: g.value.limit,
                            labels: g.value.labels,
                            rules: g.value.rules.map(|rs| {
                                rs.into_iter()
                                    .map(|r| RawRule {
                                        record: r.record,
                                        alert: r.alert,
                                        expr: r.expr,
                                        for_: r.for_,
                                        keep_firing_for: r.keep_firing_for,
                                        labels: r.labels,
                                        annotations: r.annotations,
                                    })
                                    .collect()
                            }),
                        },
                    })
                    .collect()
            }),
        }
    }
}

/// `line:col` of a node, `0:0` when the key was absent (Go's zero `yaml.Node`).
fn pos<T>(s: &Option<Spanned<T>>) -> String {
    match s {
        Some(s) => format!("{}:{}", s.referenced.line(), s.referenced.column()),
        None => "0:0".to_string(),
    }
}

fn text<T: AsRef<str>>(s: &Option<Spanned<T>>) -> String {
    s.as_ref().map(|s| s.value.as_ref().to_string()).unwrap_or_default()
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn texts(m: Option<BTreeMap<String, Text>>) -> BTreeMap<String, String> {
    m.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()
}

fn validate(raw: RawFile, parser: &ParserOptions) -> Result<RuleFile, Vec<String>> {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    let mut out = RuleFile::default();
    for g in raw.groups.unwrap_or_default() {
        let at = format!("{}:{}", g.referenced.line(), g.referenced.column());
        let g = g.value;
        let name = g.name.map(|t| t.0).unwrap_or_default();
        if name.is_empty() {
            errs.push(format!("{at}: Groupname must not be empty"));
        }
        if !seen.insert(name.clone()) {
            errs.push(format!("{at}: groupname: \"{name}\" is repeated in the same file"));
        }
        let labels = texts(g.labels);
        for k in labels.keys() {
            if !model::is_valid_label_name(k) || k == model::METRIC_NAME_LABEL {
                errs.push(format!("invalid label name: {k}"));
            }
        }
        let mut def = GroupDef {
            name: name.clone(),
            interval: g.interval.map(|d| d.0),
            query_offset: g.query_offset.map(|d| d.0),
            limit: g.limit.unwrap_or(0),
            labels,
            rules: Vec::new(),
        };
        for (i, r) in g.rules.unwrap_or_default().into_iter().enumerate() {
            let rule = RuleDef {
                record: text(&r.record),
                alert: text(&r.alert),
                expr: text(&r.expr),
                for_ms: r.for_.map(|d| d.0).unwrap_or(0),
                keep_firing_for_ms: r.keep_firing_for.map(|d| d.0).unwrap_or(0),
                labels: texts(r.labels.clone()),
                annotations: texts(r.annotations.clone()),
            };
            let prefix =
                |at: &str| format!("{at}group {name:?}, rule {}, {:?}: ", i + 1, rule.name());
            for (at, msg) in validate_rule(&rule, &r, parser) {
                errs.push(format!("{}{msg}", prefix(&at)));
            }
            def.rules.push(rule);
        }
        out.groups.push(def);
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

/// Problems with one rule: (`"line:col: "` prefix or empty, message).
fn validate_rule(r: &RuleDef, raw: &RawRule, parser: &ParserOptions) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let both = format!("{}: {}: ", pos(&raw.record), pos(&raw.alert));
    let rec = format!("{}: ", pos(&raw.record));
    if !r.record.is_empty() && !r.alert.is_empty() {
        out.push((both.clone(), "only one of 'record' and 'alert' must be set".to_string()));
    }
    if r.record.is_empty() && r.alert.is_empty() {
        out.push((both, "one of 'record' or 'alert' must be set".to_string()));
    }
    let expr_at = format!("{}: ", pos(&raw.expr));
    if r.expr.is_empty() {
        out.push((expr_at, "field 'expr' must be set in rule".to_string()));
    } else if let Err(e) = parse_expr(&r.expr, parser) {
        out.push((expr_at, format!("could not parse expression: {}", e.render(&r.expr))));
    }
    if !r.record.is_empty() {
        if !r.annotations.is_empty() {
            out.push((rec.clone(), "invalid field 'annotations' in recording rule".to_string()));
        }
        if r.for_ms != 0 {
            out.push((rec.clone(), "invalid field 'for' in recording rule".to_string()));
        }
        if r.keep_firing_for_ms != 0 {
            out.push((
                rec.clone(),
                "invalid field 'keep_firing_for' in recording rule".to_string(),
            ));
        }
        if !model::is_valid_metric_name(&r.record) {
            out.push((rec.clone(), format!("invalid recording rule name: {}", r.record)));
        }
        if r.record.contains(['{', '}']) {
            out.push((
                rec,
                format!(
                    "braces present in the recording rule name; should it be in expr?: {}",
                    r.record
                ),
            ));
        }
    }
    for k in r.labels.keys() {
        if !model::is_valid_label_name(k) || k == model::METRIC_NAME_LABEL {
            out.push((String::new(), format!("invalid label name: {k}")));
        }
    }
    for k in r.annotations.keys() {
        if !model::is_valid_label_name(k) {
            out.push((String::new(), format!("invalid annotation name: {k}")));
        }
    }
    if !r.alert.is_empty() {
        for (kind, map) in [("label", &r.labels), ("annotation", &r.annotations)] {
            for (k, v) in map {
                if let Err(e) = crate::alerting::check_template(&r.alert, v) {
                    out.push((String::new(), format!("{kind} {k:?}: {e}")));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
