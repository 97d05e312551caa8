//! Scraping: turning target groups into targets, and targets into samples committed to storage.
//!
//! A [`Manager`] owns one pool per scrape job; a pool owns one loop per target. Each loop scrapes on a fixed
//! schedule offset by a hash of the target (so targets spread over the interval as in Prometheus), parses the body
//! with `exposition` (text, OpenMetrics or protobuf, as the Content-Type says), applies `honor_labels`, metric
//! relabeling and limits, and commits every sample of one scrape — plus the synthetic `up` and `scrape_*` series —
//! as a single `storage::Appender` batch. Series that disappear get staleness markers, and so does every series of
//! a target that goes away.

mod error;
mod manager;
mod options;
mod scrape_loop;
mod target;

pub use error::Error;
pub use manager::{IntervalObserver, Manager, ScrapeStats};
pub use options::ScrapeOptions;
pub use target::{TargetHealth, TargetInfo, populate_labels};

#[cfg(test)]
mod tests;
