//! [`Expander`]: Prometheus's `template.Expander`, which expands one template text with the Prometheus functions,
//! and [`AlertData`], the data alerting rules expand their labels and annotations against.

use std::collections::BTreeMap;

use crate::Error;
use crate::funcs::FuncMap;
use crate::prometheus::{QueryFn, prometheus_funcs};
use crate::template::{Limits, MissingKey, Template};
use crate::value::Value;

/// The variables alerting rules define before the user's text, exactly as Prometheus prepends them. Because the
/// prelude is part of the parsed text, error columns on line 1 count it, as in Prometheus.
pub const ALERT_PRELUDE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// The Go type of the data Prometheus passes to alert templates.
const ALERT_DATA_TYPE: &str = "struct { Labels map[string]string; ExternalLabels map[string]string; \
                               ExternalURL string; Value interface {} }";

/// The data of an alert template: `.Labels`, `.ExternalLabels`, `.ExternalURL` and `.Value`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertData {
    /// The alert's labels (the series labels of the firing sample).
    pub labels: BTreeMap<String, String>,
    /// The server's external labels.
    pub external_labels: BTreeMap<String, String>,
    /// The server's external URL.
    pub external_url: String,
    /// The sample value.
    pub value: f64,
}

impl AlertData {
    /// The template value: a struct with the four fields above, label maps typed `map[string]string`.
    pub fn to_value(&self) -> Value {
        Value::new_struct(
            ALERT_DATA_TYPE,
            vec![
                ("Labels", Value::StringMap(self.labels.clone())),
                ("ExternalLabels", Value::StringMap(self.external_labels.clone())),
                ("ExternalURL", Value::String(self.external_url.clone())),
                ("Value", Value::Float(self.value)),
            ],
        )
    }
}

/// Expands a template text with Prometheus's functions.
///
/// Defaults follow Prometheus: `missingkey=zero`, no query function (calling `query` fails), timestamp 0, an empty
/// external URL.
#[derive(Clone)]
pub struct Expander {
    text: String,
    name: String,
    data: Value,
    timestamp_ms: i64,
    query: Option<QueryFn>,
    external_url: String,
    missing_key: MissingKey,
    limits: Limits,
    extra: FuncMap,
}

impl std::fmt::Debug for Expander {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expander")
            .field("name", &self.name)
            .field("text", &self.text)
            .field("timestamp_ms", &self.timestamp_ms)
            .field("external_url", &self.external_url)
            .finish_non_exhaustive()
    }
}

impl Expander {
    /// An expander for `text`, named `name` in error messages, executed with `data` as dot.
    pub fn new(text: impl Into<String>, name: impl Into<String>, data: Value) -> Expander {
        Expander {
            text: text.into(),
            name: name.into(),
            data,
            timestamp_ms: 0,
            query: None,
            external_url: String::new(),
            missing_key: MissingKey::Zero,
            limits: Limits::default(),
            extra: FuncMap::new(),
        }
    }

    /// The expander alerting rules use: name `__alert_<rule>`, [`ALERT_PRELUDE`] before `text`, and the alert data.
    pub fn for_alert(rule_name: &str, text: &str, data: &AlertData) -> Expander {
        Expander::new(
            format!("{ALERT_PRELUDE}{text}"),
            format!("__alert_{rule_name}"),
            data.to_value(),
        )
        .external_url(data.external_url.clone())
    }

    /// The evaluation time in milliseconds, returned by `now`.
    pub fn timestamp_ms(mut self, ms: i64) -> Expander {
        self.timestamp_ms = ms;
        self
    }

    /// The function `query` calls.
    pub fn query(mut self, f: QueryFn) -> Expander {
        self.query = Some(f);
        self
    }

    /// The external URL (`externalURL`, and its path for `pathPrefix`).
    pub fn external_url(mut self, url: impl Into<String>) -> Expander {
        self.external_url = url.into();
        self
    }

    /// Overrides the `missingkey` option.
    pub fn missing_key(mut self, mk: MissingKey) -> Expander {
        self.missing_key = mk;
        self
    }

    /// Overrides the execution limits.
    pub fn limits(mut self, limits: Limits) -> Expander {
        self.limits = limits;
        self
    }

    /// Adds functions, replacing same-named ones (Prometheus's `Funcs`).
    pub fn funcs(mut self, funcs: &FuncMap) -> Expander {
        self.extra.extend(funcs);
        self
    }

    /// The functions available to the template.
    pub fn func_map(&self) -> FuncMap {
        let mut m = prometheus_funcs(
            self.timestamp_ms,
            self.query.clone(),
            &self.external_url,
            self.limits.max_output_bytes,
        );
        m.extend(&self.extra);
        m
    }

    fn template(&self) -> Template {
        Template::new(self.name.clone())
            .funcs(&self.func_map())
            .missing_key(self.missing_key)
            .limits(self.limits)
    }

    /// Expands the template in text mode: `error parsing template NAME: …` or `error executing template NAME: …`
    /// on failure.
    pub fn expand(&self) -> Result<String, Error> {
        let mut t = self.template();
        t.parse(&self.text)
            .map_err(|e| Error::ExpandParse { name: self.name.clone(), source: Box::new(e) })?;
        t.execute(&self.data)
            .map_err(|e| Error::ExpandExec { name: self.name.clone(), source: Box::new(e) })
    }

    /// Only parses the template, returning the bare parse error (Prometheus's `ParseTest`, used to check rules).
    pub fn parse_test(&self) -> Result<(), Error> {
        self.template().parse(&self.text)
    }
}
