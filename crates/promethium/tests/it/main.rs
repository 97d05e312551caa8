//! Whole-process tests of the `promethium` binary, talking HTTP on loopback, with real peers where installed.

mod alerting;
mod crash;
mod crash_points;
mod durability;
mod harness;
mod hostile_targets;
mod interop;
mod out_of_order;
mod prometheus_data;
mod server;
mod snapshot;
mod tool;
mod tsdb_interop;
