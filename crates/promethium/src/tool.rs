//! `promethium tool …`: promtool's commands, with promtool's arguments, output and exit codes.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use promtool::query::{Client, Format};

#[derive(Debug, Args)]
pub(crate) struct ToolArgs {
    #[command(subcommand)]
    command: ToolCommand,
}

#[derive(Debug, Subcommand)]
enum ToolCommand {
    /// Check the resources for validity.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Run a query against a Prometheus server.
    #[command(subcommand)]
    Query(QueryCommand),
    /// Unit testing.
    #[command(subcommand)]
    Test(TestCommand),
}

#[derive(Debug, Subcommand)]
enum TestCommand {
    /// Unit tests for rules.
    Rules {
        /// If set, will only run test groups whose names match the regular expression. Can be specified
        /// multiple times.
        #[arg(long)]
        run: Vec<String>,
        /// Ignore unknown fields in the test files.
        #[arg(long = "ignore-unknown-fields")]
        ignore_unknown_fields: bool,
        /// The unit test files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Run PromQL test scripts (Prometheus's promqltest format).
    Promql {
        /// The test files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum CheckCommand {
    /// Check if the config files are valid or not.
    Config {
        /// Linting checks to apply to the rules specified in the config (all, duplicate-rules, none).
        #[arg(long, default_value = "duplicate-rules")]
        lint: String,
        /// Make lint errors exit with exit code 3.
        #[arg(long = "lint-fatal")]
        lint_fatal: bool,
        /// The config files to check.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Check if the rule files are valid or not.
    Rules {
        /// Linting checks to apply (all, duplicate-rules, none).
        #[arg(long, default_value = "duplicate-rules")]
        lint: String,
        /// Make lint errors exit with exit code 3.
        #[arg(long = "lint-fatal")]
        lint_fatal: bool,
        /// Ignore unknown fields in the rule files.
        #[arg(long = "ignore-unknown-fields")]
        ignore_unknown_fields: bool,
        /// The rule files to check; standard input when none.
        files: Vec<std::path::PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputFormat {
    Promql,
    Json,
}

impl From<OutputFormat> for Format {
    fn from(f: OutputFormat) -> Format {
        match f {
            OutputFormat::Promql => Format::Promql,
            OutputFormat::Json => Format::Json,
        }
    }
}

#[derive(Debug, Subcommand)]
enum QueryCommand {
    /// Run instant query.
    Instant {
        /// Output format of the query.
        #[arg(short = 'o', long = "format", value_enum, default_value = "promql")]
        format: OutputFormat,
        /// Query evaluation time (RFC3339 or Unix timestamp).
        #[arg(long)]
        time: Option<String>,
        /// Prometheus server to query.
        server: String,
        /// PromQL query expression.
        expr: String,
    },
    /// Run range query.
    Range {
        #[arg(short = 'o', long = "format", value_enum, default_value = "promql")]
        format: OutputFormat,
        /// Query range start time (RFC3339 or Unix timestamp).
        #[arg(long)]
        start: String,
        /// Query range end time (RFC3339 or Unix timestamp).
        #[arg(long)]
        end: String,
        /// Query step size (duration).
        #[arg(long)]
        step: String,
        server: String,
        expr: String,
    },
    /// Run series query.
    Series {
        #[arg(short = 'o', long = "format", value_enum, default_value = "promql")]
        format: OutputFormat,
        /// Series selector. Can be specified multiple times.
        #[arg(long = "match", required = true)]
        matches: Vec<String>,
        #[arg(long)]
        start: Option<String>,
        #[arg(long)]
        end: Option<String>,
        server: String,
    },
    /// Run labels query.
    Labels {
        #[arg(short = 'o', long = "format", value_enum, default_value = "promql")]
        format: OutputFormat,
        #[arg(long = "match")]
        matches: Vec<String>,
        #[arg(long)]
        start: Option<String>,
        #[arg(long)]
        end: Option<String>,
        server: String,
        /// Label name to provide label values for.
        name: String,
    },
}

pub(crate) fn run(args: ToolArgs) -> ExitCode {
    match args.command {
        ToolCommand::Query(q) => run_query(q),
        ToolCommand::Test(TestCommand::Promql { files }) => run_promql_tests(&files),
        ToolCommand::Test(TestCommand::Rules { run, ignore_unknown_fields, files }) => {
            let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
            let opts = promtool::unittest::TestOptions {
                run,
                ignore_unknown_fields,
                parser: Default::default(),
            };
            finish(promtool::Outcome::default(), promtool::unittest::test_rules(&paths, &opts))
        }
        ToolCommand::Check(CheckCommand::Config { lint, lint_fatal, files }) => {
            let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
            let mut o = promtool::Outcome::default();
            let settings = promtool::check::RulesLint { fatal: lint_fatal, ..Default::default() }
                .with_lint_option(&lint, &mut o);
            finish(o, promtool::check::config(&paths, &settings))
        }
        ToolCommand::Check(CheckCommand::Rules {
            lint,
            lint_fatal,
            ignore_unknown_fields,
            files,
        }) => {
            let mut o = promtool::Outcome::default();
            let settings = promtool::check::RulesLint {
                fatal: lint_fatal,
                ignore_unknown_fields,
                ..Default::default()
            }
            .with_lint_option(&lint, &mut o);
            let r = if files.is_empty() {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text);
                promtool::check::rules_stdin(&text, &settings)
            } else {
                let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
                promtool::check::rules(&paths, &settings)
            };
            finish(o, r)
        }
    }
}

/// Prints a command's output after `pre` (warnings emitted while parsing options) and turns its code into an
/// exit code.
fn finish(pre: promtool::Outcome, o: promtool::Outcome) -> ExitCode {
    print!("{}{}", pre.stdout, o.stdout);
    eprint!("{}{}", pre.stderr, o.stderr);
    ExitCode::from(o.code.clamp(0, 255) as u8)
}

/// Runs PromQL test scripts: prints each failing eval with `file:line`, then `N passed, N failed`.
fn run_promql_tests(files: &[std::path::PathBuf]) -> ExitCode {
    let (mut passed, mut failed) = (0usize, 0usize);
    for f in files {
        let name = f.display().to_string();
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                println!("{name}: reading file: {e}");
                failed += 1;
                continue;
            }
        };
        let r = promql_test::run_script(&text, &name);
        for msg in &r.failures {
            println!("{msg}");
        }
        passed += r.passed;
        failed += r.failed();
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn run_query(q: QueryCommand) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match q {
            QueryCommand::Instant { format, time, server, expr } => {
                Client::new(&server)?.instant(&expr, time.as_deref(), format.into()).await
            }
            QueryCommand::Range { format, start, end, step, server, expr } => {
                Client::new(&server)?.range(&expr, &start, &end, &step, format.into()).await
            }
            QueryCommand::Series { format, matches, start, end, server } => {
                Client::new(&server)?
                    .series(&matches, start.as_deref(), end.as_deref(), format.into())
                    .await
            }
            QueryCommand::Labels { format, matches, start, end, server, name } => {
                Client::new(&server)?
                    .label_values(&name, &matches, start.as_deref(), end.as_deref(), format.into())
                    .await
            }
        }
    });
    match result {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("query error: {e}");
            ExitCode::FAILURE
        }
    }
}
