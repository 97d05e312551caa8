//! `promethium tool …`: promtool's commands, with promtool's arguments, output and exit codes.

use std::path::PathBuf;
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
    /// Run tsdb commands.
    #[command(subcommand)]
    Tsdb(TsdbCommand),
}

#[derive(Debug, Subcommand)]
enum TsdbCommand {
    /// Analyze churn, label pair cardinality and compaction efficiency.
    Analyze {
        /// How many items to show in each list.
        #[arg(long, default_value_t = 20, allow_hyphen_values = true)]
        limit: i64,
        /// Run extended analysis.
        #[arg(long)]
        extended: bool,
        /// Series selector to analyze. Only 1 set of matchers is supported now.
        #[arg(long = "match")]
        matchers: Option<String>,
        /// Database path (default is data/).
        #[arg(default_value = promtool::tsdb::DEFAULT_DB_PATH)]
        db_path: PathBuf,
        /// Block to analyze (default is the last block).
        block_id: Option<String>,
    },
    /// List tsdb blocks.
    List {
        /// Print human readable values.
        #[arg(short = 'r', long = "human-readable")]
        human_readable: bool,
        /// Database path (default is data/).
        #[arg(default_value = promtool::tsdb::DEFAULT_DB_PATH)]
        db_path: PathBuf,
    },
    /// Dump data (series+samples or optionally just series) from a TSDB.
    Dump {
        #[command(flatten)]
        dump: DumpArgs,
        /// Output format of the dump (prom (default) or seriesjson).
        #[arg(long, value_enum, default_value = "prom")]
        format: DumpFormatArg,
    },
    /// [Experimental] Dump samples from a TSDB into OpenMetrics text format, excluding native histograms and
    /// staleness markers, which are not representable in OpenMetrics.
    DumpOpenmetrics {
        #[command(flatten)]
        dump: DumpArgs,
    },
    /// [Experimental] Import samples from input and produce TSDB blocks. Please refer to the storage docs for
    /// more details.
    CreateBlocksFrom {
        /// Print human readable values.
        #[arg(short = 'r', long = "human-readable", global = true)]
        human_readable: bool,
        /// Do not print created blocks.
        #[arg(short = 'q', long, global = true)]
        quiet: bool,
        /// Maximum duration created blocks may span. Anything less than 2h is ignored.
        #[arg(long = "max-block-duration", hide = true, global = true)]
        max_block_duration: Option<String>,
        #[command(subcommand)]
        source: ImportSource,
    },
}

#[derive(Debug, Args)]
struct DumpArgs {
    /// Root directory where a sandbox directory would be created (accepted for compatibility; nothing is
    /// written to the database).
    #[arg(long = "sandbox-dir-root")]
    sandbox_dir_root: Option<PathBuf>,
    /// Minimum timestamp to dump, in milliseconds since the Unix epoch.
    #[arg(long = "min-time", default_value_t = i64::MIN, allow_hyphen_values = true)]
    min_time: i64,
    /// Maximum timestamp to dump, in milliseconds since the Unix epoch.
    #[arg(long = "max-time", default_value_t = i64::MAX, allow_hyphen_values = true)]
    max_time: i64,
    /// Series selector. Can be specified multiple times.
    #[arg(long = "match", default_value = promtool::tsdb::DEFAULT_MATCH)]
    matchers: Vec<String>,
    /// Database path (default is data/).
    #[arg(default_value = promtool::tsdb::DEFAULT_DB_PATH)]
    db_path: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DumpFormatArg {
    Prom,
    Seriesjson,
}

#[derive(Debug, Subcommand)]
enum ImportSource {
    /// Import samples from OpenMetrics input and produce TSDB blocks. Please refer to the storage docs for more
    /// details.
    Openmetrics {
        /// Label to attach to metrics. Can be specified multiple times. Example --label=label_name=label_value
        #[arg(long = "label")]
        labels: Vec<String>,
        /// OpenMetrics file to read samples from.
        input: PathBuf,
        /// Output directory for generated blocks.
        #[arg(default_value = promtool::tsdb::DEFAULT_DB_PATH)]
        output: PathBuf,
    },
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
        ToolCommand::Tsdb(t) => run_tsdb(t),
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

fn run_tsdb(cmd: TsdbCommand) -> ExitCode {
    use promtool::tsdb;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let dump_opts = |d: DumpArgs, format| {
        let opts = tsdb::DumpOptions {
            min_time: d.min_time,
            max_time: d.max_time,
            matchers: d.matchers,
            format,
        };
        (d.db_path, opts)
    };
    let result = match cmd {
        TsdbCommand::List { human_readable, db_path } => {
            tsdb::list(&db_path, human_readable, &mut out)
        }
        TsdbCommand::Analyze { limit, extended, matchers, db_path, block_id } => {
            let opts = tsdb::AnalyzeOptions { block_id, limit, extended, matchers };
            tsdb::analyze(&db_path, &opts, &mut out)
        }
        TsdbCommand::Dump { dump, format } => {
            let format = match format {
                DumpFormatArg::Prom => tsdb::DumpFormat::Prom,
                DumpFormatArg::Seriesjson => tsdb::DumpFormat::SeriesJson,
            };
            let (dir, opts) = dump_opts(dump, format);
            tsdb::dump(&dir, &opts, &mut out)
        }
        TsdbCommand::DumpOpenmetrics { dump } => {
            let (dir, opts) = dump_opts(dump, tsdb::DumpFormat::OpenMetrics);
            tsdb::dump(&dir, &opts, &mut out)
        }
        TsdbCommand::CreateBlocksFrom { human_readable, quiet, max_block_duration, source } => {
            let ImportSource::Openmetrics { labels, input, output } = source;
            let max_block_duration = match max_block_duration.as_deref().map(go_duration_ms) {
                None => 0,
                Some(Ok(ms)) => ms,
                Some(Err(e)) => {
                    eprintln!("promtool: error: {e}, try --help");
                    return ExitCode::FAILURE;
                }
            };
            let mut label_pairs = Vec::new();
            for l in labels {
                let Some((name, value)) = l.split_once('=') else {
                    eprintln!("promtool: error: expected KEY=VALUE got '{l}', try --help");
                    return ExitCode::FAILURE;
                };
                label_pairs.push((name.to_string(), value.to_string()));
            }
            let opts = tsdb::BackfillOptions {
                max_block_duration,
                human_readable,
                quiet,
                labels: label_pairs,
            };
            tsdb::create_blocks_from_openmetrics(&input, &output, &opts, &mut out)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = std::io::Write::flush(&mut out);
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// A Go duration (`2h`, `1h30m`, `90s`) in milliseconds; Prometheus's `d` and `w` units are accepted too.
fn go_duration_ms(s: &str) -> Result<i64, String> {
    model::parse_duration(s).map_err(|_| format!("time: invalid duration \"{s}\""))
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
