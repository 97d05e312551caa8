//! The server: wiring of config → discovery → scrape → storage ← web, reload on SIGHUP and `/-/reload`, and
//! graceful shutdown on SIGTERM, SIGINT and `/-/quit`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use discovery::{FileSd, FileSdOptions, TargetGroup};
use parking_lot::Mutex;
use scrape::{Manager, ScrapeOptions};
use tokio_util::sync::CancellationToken;
use tsdb::Head;

use crate::cli::ServerArgs;
use crate::metrics::Metrics;

const DEFAULT_CONFIG: &str = include_str!("default.yml");

/// Shared state of the running server, behind the web layer's retriever traits.
pub(crate) struct App {
    args: ServerArgs,
    pub(crate) storage: Head,
    /// Blocks and head.
    pub(crate) db: tsdb::Db,
    /// What the WAL replay at start-up found.
    pub(crate) replay: tsdb::WalReplayStats,
    pub(crate) scrape: Arc<Manager>,
    pub(crate) rules: Arc<rules::Manager>,
    pub(crate) notifier: Arc<notifier::Notifier>,
    external_url: String,
    config: ArcSwap<config::Config>,
    pub(crate) metrics: Mutex<Metrics>,
    reload_ok: AtomicBool,
    last_config_time: Mutex<Option<SystemTime>>,
    start_time: SystemTime,
    discovery: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    pub(crate) shutdown: CancellationToken,
    runtime: tokio::runtime::Handle,
}

impl App {
    /// Reads the configuration: the file given by `--config.file`, or the embedded default scraping this server.
    fn read_config(&self) -> Result<config::Config, config::Error> {
        match &self.args.config_file {
            Some(path) => config::load_file(path),
            None => {
                let port = self.args.listen_address.rsplit(':').next().unwrap_or("9090");
                config::load_str(
                    &DEFAULT_CONFIG.replace("localhost:9090", &format!("localhost:{port}")),
                    "default",
                )
            }
        }
    }

    /// Loads the configuration and applies it; on error the running configuration stays in force.
    pub(crate) fn reload(&self) -> Result<(), String> {
        let file =
            self.args.config_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        tracing::info!(filename = %file, "Loading configuration file");
        let result = self.read_config();
        let metrics = self.metrics.lock();
        match result {
            Ok(cfg) => {
                let _guard = self.runtime.enter();
                if let Err(e) = self.apply(&cfg) {
                    metrics.server.record_reload(false);
                    self.reload_ok.store(false, Ordering::Release);
                    tracing::error!(filename = %file, err = %e, "Error reloading config");
                    return Err(format!(
                        "one or more errors occurred while applying the new configuration (--config.file={file:?}): {e}"
                    ));
                }
                self.config.store(Arc::new(cfg));
                metrics.server.record_reload(true);
                self.reload_ok.store(true, Ordering::Release);
                *self.last_config_time.lock() = Some(SystemTime::now());
                tracing::info!(filename = %file, "Completed loading of configuration file");
                Ok(())
            }
            Err(e) => {
                metrics.server.record_reload(false);
                self.reload_ok.store(false, Ordering::Release);
                tracing::error!(filename = %file, err = %e, "Error reloading config");
                Err(format!(
                    "one or more errors occurred while applying the new configuration (--config.file={file:?}): {e}"
                ))
            }
        }
    }

    /// Applies a loaded configuration. Rules are loaded first: when they fail, nothing changes.
    fn apply(&self, cfg: &config::Config) -> Result<(), String> {
        let base = self
            .args
            .config_file
            .as_ref()
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_default();
        let settings = crate::alerting::rule_settings(cfg, &base, &self.external_url)?;
        self.storage.set_max_exemplars(max_exemplars(&self.args, cfg));
        self.storage
            .set_out_of_order_time_window(out_of_order_time_window(cfg))
            .map_err(|e| format!("apply storage.tsdb.out_of_order_time_window: {e}"))?;
        self.rules
            .update(&settings)
            .map_err(|e| format!("error loading rules, previous rule set restored: {e}"))?;
        let pools: Vec<ScrapeOptions> =
            cfg.scrape_configs.iter().map(|sc| ScrapeOptions::new(sc, &cfg.global)).collect();
        self.scrape.apply_config(pools);
        let mut tasks = self.discovery.lock();
        for t in tasks.drain(..) {
            t.abort();
        }
        tasks.extend(crate::alerting::apply_alerting(
            &self.notifier,
            cfg,
            &base,
            self.args.notification_queue_capacity as usize,
        ));
        for sc in &cfg.scrape_configs {
            for key in sc.other_sd_configs.keys() {
                tracing::warn!(job = %sc.job_name, mechanism = %key, "Service discovery mechanism is not supported yet; its targets are ignored");
            }
            let statics = discovery::static_groups(sc.static_configs.iter().map(|s| {
                (
                    s.targets.as_slice(),
                    s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                )
            }));
            if sc.file_sd_configs.is_empty() {
                self.scrape.sync(&sc.job_name, statics);
                continue;
            }
            let sds: Vec<FileSd> = sc
                .file_sd_configs
                .iter()
                .map(|f| {
                    FileSd::start(FileSdOptions {
                        files: f
                            .files
                            .iter()
                            .map(|p| {
                                if PathBuf::from(p).is_absolute() {
                                    p.clone()
                                } else {
                                    base.join(p).display().to_string()
                                }
                            })
                            .collect(),
                        refresh_interval: f.refresh_interval.to_std(),
                    })
                })
                .collect();
            let scrape = self.scrape.clone();
            let job = sc.job_name.clone();
            tasks.push(tokio::spawn(async move {
                let mut rxs: Vec<_> = sds.iter().map(FileSd::subscribe).collect();
                loop {
                    let mut groups: Vec<TargetGroup> = statics.clone();
                    for rx in &rxs {
                        groups.extend(rx.borrow().iter().cloned());
                    }
                    scrape.sync(&job, groups);
                    let changed = futures_any(&mut rxs).await;
                    if !changed {
                        break;
                    }
                }
                drop(sds);
            }));
        }
        Ok(())
    }
}

/// Waits until any receiver sees a change; false when all senders are gone.
async fn futures_any(rxs: &mut [tokio::sync::watch::Receiver<Vec<TargetGroup>>]) -> bool {
    if rxs.is_empty() {
        return false;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bool>(rxs.len());
    let mut tasks = Vec::new();
    for r in rxs.iter() {
        let mut r = r.clone();
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            let ok = r.changed().await.is_ok();
            let _ = tx.send(ok).await;
        }));
    }
    drop(tx);
    let res = rx.recv().await.unwrap_or(false);
    for t in tasks {
        t.abort();
    }
    for r in rxs.iter_mut() {
        r.mark_unchanged();
    }
    res
}

/// `storage.exemplars.max_exemplars` (100000 by default) when `--enable-feature=exemplar-storage` is on, else 0:
/// Prometheus keeps no exemplars without the feature.
fn max_exemplars(args: &ServerArgs, cfg: &config::Config) -> usize {
    if !args.has_feature("exemplar-storage") {
        return 0;
    }
    cfg.storage
        .as_ref()
        .and_then(|s| s.get("exemplars"))
        .and_then(|e| e.get("max_exemplars"))
        .and_then(|m| m.as_u64())
        .map_or(100_000, |m| m as usize)
}

/// `storage.tsdb.out_of_order_time_window` in milliseconds (0 when unset; the loader validated it).
pub(crate) fn out_of_order_time_window(cfg: &config::Config) -> i64 {
    cfg.storage
        .as_ref()
        .and_then(|s| s.get("tsdb"))
        .and_then(|t| t.get("out_of_order_time_window"))
        .and_then(|w| w.as_str())
        .and_then(|d| model::parse_duration(d).ok())
        .map_or(0, |ms| ms.max(0))
}

/// Runs the server until shutdown.
/// The listener settings and the route prefix from the `--web.*` flags, as Prometheus derives them: the prefix
/// defaults to the external URL's path; the CORS pattern must compile.
fn web_settings(
    args: &ServerArgs,
    external_url: &str,
) -> anyhow::Result<(web::ServeOptions, String)> {
    web::CorsOrigin::new(&args.cors_origin)
        .with_context(|| format!("could not compile CORS regex string {:?}", args.cors_origin))?;
    let read_timeout = model::parse_duration(&args.read_timeout)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("parse --web.read-timeout")?;
    let prefix = match &args.route_prefix {
        Some(p) => p.clone(),
        None => {
            let rest = external_url.split_once("://").map_or(external_url, |(_, r)| r);
            rest.find('/')
                .map_or("", |i| &rest[i..])
                .split(['?', '#'])
                .next()
                .unwrap_or("")
                .to_string()
        }
    };
    let opts = web::ServeOptions {
        max_connections: args.max_connections as usize,
        read_timeout: (read_timeout > 0)
            .then(|| std::time::Duration::from_millis(read_timeout as u64)),
    };
    Ok((opts, format!("/{}", prefix.trim_matches('/'))))
}

pub(crate) fn run(args: ServerArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start runtime")?;
    rt.block_on(run_async(args))
}

async fn run_async(args: ServerArgs) -> anyhow::Result<()> {
    tracing::info!(version = crate::VERSION, "Starting Promethium");
    if args.config_file.is_none() {
        tracing::info!(
            "No --config.file given; using the embedded configuration that scrapes this server"
        );
    }
    let opened = {
        let args = args.clone();
        // The exemplar buffer is sized before replay so the WAL's exemplars come back; a configuration that
        // does not load is reported by the first reload.
        let cfg = args.config_file.as_ref().and_then(|p| config::load_file(p).ok());
        let exemplars = cfg.as_ref().map_or(0, |c| max_exemplars(&args, c));
        // The out-of-order window too: with it the WBL is opened (and replayed) with the head.
        let ooo_window = cfg.as_ref().map_or(0, out_of_order_time_window);
        tokio::task::spawn_blocking(move || crate::storage::open(&args, exemplars, ooo_window))
            .await
            .context("open storage")??
    };
    let storage = opened.head.clone();
    let db = opened.db.clone();
    let scrape = Arc::new(Manager::new(Arc::new(storage.clone())));
    let external_url =
        crate::alerting::external_url(args.external_url.as_deref(), &args.listen_address);
    let (serve_opts, route_prefix) = web_settings(&args, &external_url)?;
    let notifier = Arc::new(notifier::Notifier::new(notifier::Options::default()));
    let metrics = Metrics::new();
    notifier.observe_latency(metrics.notification_latency.clone());
    scrape.observe_intervals(metrics.interval_length.clone());
    let tolerance = model::parse_duration(&args.scrape_timestamp_tolerance)
        .map_err(|e| anyhow::anyhow!("parse --scrape.timestamp-tolerance: {e}"))?;
    scrape.align_timestamps(
        args.scrape_adjust_timestamps
            .then(|| std::time::Duration::from_millis(tolerance.max(0) as u64)),
    );
    let flag_ms = |v: &str, default: i64| model::parse_duration(v).unwrap_or(default);
    let rules = Arc::new(rules::Manager::new(rules::ManagerOptions {
        query: Arc::new(promtool::engine_query::EngineQuery {
            engine: crate::adapters::engine_from_flags(&args.as_flag_map()),
            queryable: Arc::new(db.clone()),
        }),
        appendable: Arc::new(storage.clone()),
        queryable: Arc::new(db.clone()),
        notify: Some(Arc::new(crate::alerting::NotifyBridge {
            notifier: notifier.clone(),
            external_url: external_url.clone(),
        })),
        outage_tolerance: flag_ms(&args.for_outage_tolerance, 3_600_000),
        for_grace_period: flag_ms(&args.for_grace_period, 600_000),
        resend_delay: flag_ms(&args.resend_delay, 60_000),
        parse: rules::file::ParseOptions {
            ignore_unknown_fields: false,
            parser: crate::adapters::engine_from_flags(&args.as_flag_map()).options().parser,
        },
        observer: Some(Arc::new(crate::alerting_metrics::RuleDurations {
            rule: metrics.rule_eval.clone(),
            group: metrics.group_eval.clone(),
        })),
    }));
    let app = Arc::new(App {
        args: args.clone(),
        storage: storage.clone(),
        db: db.clone(),
        replay: opened.replay.clone(),
        scrape: scrape.clone(),
        rules,
        notifier: notifier.clone(),
        external_url,
        config: ArcSwap::from_pointee(config::Config::default()),
        metrics: Mutex::new(metrics),
        reload_ok: AtomicBool::new(false),
        last_config_time: Mutex::new(None),
        start_time: SystemTime::now(),
        discovery: Mutex::new(Vec::new()),
        shutdown: CancellationToken::new(),
        runtime: tokio::runtime::Handle::current(),
    });
    crate::metrics::register_components(&app);

    let listener = tokio::net::TcpListener::bind(&args.listen_address)
        .await
        .with_context(|| format!("listen on {}", args.listen_address))?;
    tracing::info!(address = %args.listen_address, "Listening on");

    let app2 = app.clone();
    tokio::task::spawn_blocking(move || app2.reload())
        .await
        .context("load configuration")?
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("load initial configuration")?;

    let notifier_shutdown = tokio_util::sync::CancellationToken::new();
    let notifier_task = {
        let stop = notifier_shutdown.clone();
        tokio::spawn(notifier.clone().run(async move { stop.cancelled().await }))
    };
    let ready = Arc::new(AtomicBool::new(false));
    let router = web::router(crate::adapters::api_options(app.clone(), ready.clone()));
    let router = web::with_route_prefix(router, &route_prefix);
    if route_prefix != "/" {
        tracing::info!(prefix = %route_prefix, "Router prefix");
    }
    let shutdown = app.shutdown.clone();
    let server = tokio::spawn(web::serve_with(listener, router, serve_opts, async move {
        shutdown.cancelled().await
    }));
    ready.store(true, Ordering::Release);
    app.metrics.lock().server.ready.set(1);
    tracing::info!("Server is ready to receive web requests.");

    crate::storage::spawn_housekeeping(db.clone(), &crate::storage::wal_options(&args)?);

    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("install SIGHUP handler")?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("install SIGTERM handler")?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let a = app.clone();
                let _ = tokio::task::spawn_blocking(move || a.reload()).await;
            }
            _ = term.recv() => {
                tracing::warn!("Received SIGTERM, exiting gracefully...");
                break;
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::warn!("Received SIGINT, exiting gracefully...");
                break;
            }
            _ = app.shutdown.cancelled() => {
                tracing::warn!("Received termination request via web service, exiting gracefully...");
                break;
            }
        }
    }
    app.shutdown.cancel();
    for t in app.discovery.lock().drain(..) {
        t.abort();
    }
    scrape.stop().await;
    tracing::info!("Scrape manager stopped");
    app.rules.stop().await;
    tracing::info!("Rule manager stopped");
    notifier_shutdown.cancel();
    let _ = notifier_task.await;
    tracing::info!("Notification manager stopped");
    let _ = server.await;
    let head = storage.clone();
    if args.has_feature(crate::storage::MEMORY_SNAPSHOT) {
        tracing::info!("creating chunk snapshot");
    }
    match tokio::task::spawn_blocking(move || head.shutdown()).await {
        Ok(Err(e)) => tracing::error!(err = %e, "Closing the TSDB failed"),
        Ok(Ok(snapshot)) => {
            if let Some(s) = snapshot {
                tracing::info!(
                    duration = ?s.duration,
                    num_series = s.series,
                    dir = %s.dir.display(),
                    "chunk snapshot complete"
                );
                if let Some(e) = &s.cleanup_error {
                    tracing::error!(err = %e, "delete old chunk snapshots");
                }
            }
            tracing::info!("TSDB closed");
        }
        Err(_) => tracing::error!("Closing the TSDB failed"),
    }
    drop(opened);
    tracing::info!("See you next time!");
    Ok(())
}

impl App {
    pub(crate) fn flags(&self) -> Vec<(String, String)> {
        self.args.as_flag_map()
    }

    pub(crate) fn external_labels(&self) -> Vec<(String, String)> {
        self.config
            .load()
            .global
            .external_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub(crate) fn config_yaml(&self) -> String {
        self.config.load().to_yaml_string()
    }

    pub(crate) fn runtime_info(&self) -> web::RuntimeInfo {
        web::RuntimeInfo {
            start_time: Some(self.start_time),
            cwd: std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
            reload_config_success: self.reload_ok.load(Ordering::Acquire),
            last_config_time: *self.last_config_time.lock(),
            goroutine_count: std::fs::read_dir("/proc/self/task")
                .map(|d| d.count() as u64)
                .unwrap_or(0),
            gomaxprocs: std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1),
            storage_retention: self
                .args
                .retention_time
                .clone()
                .unwrap_or_else(|| "15d".to_string()),
        }
    }
}
