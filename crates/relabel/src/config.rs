//! The `<relabel_config>` block with Prometheus's defaults and validation.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Errors in a relabel configuration, worded as Prometheus's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A validation failure.
    #[error("{0}")]
    Invalid(String),
    /// A regex that does not compile.
    #[error(transparent)]
    Regex(#[from] model::Error),
}

/// A relabel action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// Replace `target_label` with the expanded replacement when the regex matches.
    #[default]
    Replace,
    /// Drop the target/series unless the regex matches.
    Keep,
    /// Drop the target/series when the regex matches.
    Drop,
    /// Keep when the joined source labels equal `target_label`'s value.
    KeepEqual,
    /// Drop when the joined source labels equal `target_label`'s value.
    DropEqual,
    /// Set `target_label` to a hash of the source labels modulo `modulus`.
    HashMod,
    /// Copy labels whose names match to names given by the replacement.
    LabelMap,
    /// Remove labels whose names match.
    LabelDrop,
    /// Remove labels whose names do not match.
    LabelKeep,
    /// Lower-case the joined source labels into `target_label`.
    Lowercase,
    /// Upper-case the joined source labels into `target_label`.
    Uppercase,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Action, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        if s.is_empty() {
            return Err(serde::de::Error::custom("relabel action cannot be empty"));
        }
        Ok(match s.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return Err(serde::de::Error::custom(format!("unknown relabel action {s:?}"))),
        })
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A compiled relabel regex: anchored `^(?s:…)$` with Go RE2 syntax; keeps the text as written.
#[derive(Debug, Clone)]
pub struct Regex {
    text: String,
    re: regex::Regex,
}

impl Regex {
    /// Compiles `text` as Prometheus does for relabeling.
    pub fn new(text: &str) -> Result<Regex, Error> {
        let translated = model::translate_re2(text)?;
        let re = regex::Regex::new(&format!("^(?s:{translated})$"))
            .map_err(|e| Error::Regex(model::Error::Regex(format!("{e}"))))?;
        Ok(Regex { text: text.to_string(), re })
    }

    /// The pattern as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn inner(&self) -> &regex::Regex {
        &self.re
    }
}

impl Default for Regex {
    fn default() -> Regex {
        Regex::new("(.*)").expect("the default relabel regex compiles")
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Regex) -> bool {
        self.text == other.text
    }
}

impl<'de> Deserialize<'de> for Regex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Regex, D::Error> {
        // `regex:` with no value keeps the default, as in Prometheus.
        match Option::<String>::deserialize(d)? {
            Some(s) => Regex::new(&s).map_err(serde::de::Error::custom),
            None => Ok(Regex::default()),
        }
    }
}

impl Serialize for Regex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

fn default_separator() -> String {
    ";".to_string()
}

fn default_replacement() -> String {
    "$1".to_string()
}

fn is_default_separator(s: &str) -> bool {
    s == ";"
}

/// One `<relabel_config>` block.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Labels whose values are joined with `separator` as the input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_labels: Vec<String>,
    /// Separator for joining source label values.
    #[serde(default = "default_separator", skip_serializing_if = "is_default_separator")]
    pub separator: String,
    /// The regular expression (default `(.*)`).
    #[serde(default)]
    pub regex: Regex,
    /// Modulus for `hashmod`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub modulus: u64,
    /// Label written by `replace`, `hashmod`, `lowercase`, `uppercase`; compared by `keepequal`/`dropequal`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_label: String,
    /// Replacement with `$1`-style references (default `$1`).
    #[serde(default = "default_replacement")]
    pub replacement: String,
    /// The action (default `replace`).
    #[serde(default)]
    pub action: Action,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Default for Config {
    fn default() -> Config {
        Config {
            source_labels: Vec::new(),
            separator: default_separator(),
            regex: Regex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: default_replacement(),
            action: Action::Replace,
        }
    }
}

impl Config {
    /// Validates the block as Prometheus's `relabel.Config.Validate` does. `utf8_names` is the 3.x default name
    /// validation scheme; with it, any non-empty target label is valid.
    pub fn validate(&self, utf8_names: bool) -> Result<(), Error> {
        let inv = |s: String| Err(Error::Invalid(s));
        let a = self.action;
        if matches!(a, Action::Lowercase | Action::Uppercase) && self.replacement != "$1" {
            return inv(format!("'replacement' can not be set for {a} action"));
        }
        if self.modulus == 0 && a == Action::HashMod {
            return inv("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let needs_target = matches!(
            a,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && self.target_label.is_empty() {
            return inv(format!(
                "relabel configuration for {a} action requires 'target_label' value"
            ));
        }
        let templated_ok = a == Action::Replace;
        if !self.target_label.is_empty()
            && !valid_target(&self.target_label, templated_ok, utf8_names)
        {
            return inv(format!(
                "{:?} is invalid 'target_label' for {a} action",
                self.target_label
            ));
        }
        if matches!(
            a,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        ) && !valid_target(&self.target_label, false, utf8_names)
        {
            return inv(format!(
                "{:?} is invalid 'target_label' for {a} action",
                self.target_label
            ));
        }
        if a == Action::LabelMap && !valid_target(&self.replacement, true, utf8_names) {
            return inv(format!("{:?} is invalid 'replacement' for {a} action", self.replacement));
        }
        if a == Action::HashMod && !valid_target(&self.target_label, false, utf8_names) {
            return inv(format!(
                "{:?} is invalid 'target_label' for {a} action",
                self.target_label
            ));
        }
        if matches!(a, Action::DropEqual | Action::KeepEqual)
            && (self.regex != Regex::default()
                || self.modulus != 0
                || self.separator != ";"
                || self.replacement != "$1")
        {
            return inv(format!(
                "{a} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(a, Action::LabelDrop | Action::LabelKeep)
            && (!self.source_labels.is_empty()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != ";"
                || self.replacement != "$1")
        {
            return inv(format!("{a} action requires only 'regex', and no other fields"));
        }
        Ok(())
    }
}

/// Whether `s` may be used as a target label: a label name, or (for templated actions) a name made of `$1`-style
/// references and name characters.
fn valid_target(s: &str, templated: bool, utf8_names: bool) -> bool {
    if s.is_empty() {
        return false;
    }
    if templated && s.contains('$') {
        return s
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'{' | b'}'))
            || utf8_names;
    }
    if utf8_names { true } else { model::is_valid_legacy_label_name(s) }
}
