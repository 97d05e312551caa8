//! The `promethium` binary: the composition root. `main` parses flags and runs the server or a tool command; the
//! wiring itself lives in `server.rs`, promtool's commands in `tool.rs`.

mod adapters;
mod alerting;
mod alerting_metrics;
mod cli;
mod duration_metrics;
mod logging;
mod metrics;
mod process;
mod server;
mod storage;
mod tool;
mod tsdb_metrics;

use clap::Parser;

/// The Prometheus version whose behaviour we implement; reported by `/api/v1/status/buildinfo` so that clients
/// such as Grafana treat us as Prometheus 3.
pub(crate) const VERSION: &str = "3.14.0";

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        Some(cli::Command::Tool(args)) => tool::run(args),
        Some(cli::Command::Server(args)) => run_server(*args),
        None => run_server(cli.server),
    }
}

fn run_server(args: cli::ServerArgs) -> std::process::ExitCode {
    logging::init(args.log_level, args.log_format);
    match server::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(err = format!("{e:#}"), "Error running the server");
            std::process::ExitCode::FAILURE
        }
    }
}
