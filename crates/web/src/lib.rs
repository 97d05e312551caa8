//! **API Boundary.** Prometheus's HTTP API v1, lifecycle endpoints and `/metrics`, on axum.
//!
//! `web` is the only crate that knows the API's JSON. It depends on no component crate: everything it serves comes
//! through the narrow traits in `retrieve.rs` (implemented by the binary) and through `storage::Queryable` for
//! series and labels.

mod admin;
mod api;
mod cors;
mod error;
mod exemplars;
mod federate;
mod params;
mod parse_query;
mod query;
mod retrieve;
mod rules;
mod selector;
mod server;

pub use admin::TsdbAdmin;
pub use api::{ApiOptions, router};
pub use cors::CorsOrigin;
pub use error::{ApiError, ErrorType};
pub use retrieve::{
    ActiveTarget, BuildInfo, DroppedTarget, Lifecycle, MetricMetadata, RuntimeInfo,
    StatusRetriever, TargetMetadata, TargetRetriever, TsdbStatus, WalReplayStatus,
};
pub use rules::{AlertInfo, RuleGroupInfo, RuleInfo, RuleKind, RulesRetriever};
pub use selector::parse_selector;
pub use server::{ServeOptions, serve, serve_with, with_route_prefix};
