//! The rule manager: loads rule files, runs each group on its own schedule (a tokio task per group), and on
//! reload keeps unchanged groups running and carries alert and staleness state over to changed ones.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use model::Labels;
use parking_lot::Mutex;
use storage::{Appendable, Queryable};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::file::{ParseOptions, RuleFile, parse_file};
use crate::group::{EvalEnv, Group, Notify, Rule};
use crate::{AlertingRule, Error, QueryFunc, RecordingRule, TemplateEnv};

/// What the manager is wired to, and Prometheus's `--rules.*` settings.
#[derive(Clone)]
pub struct ManagerOptions {
    /// Runs queries.
    pub query: Arc<dyn QueryFunc>,
    /// Where results go.
    pub appendable: Arc<dyn Appendable>,
    /// Where `ALERTS_FOR_STATE` is read back from after a restart.
    pub queryable: Arc<dyn Queryable>,
    /// Where alerts go.
    pub notify: Option<Arc<dyn Notify>>,
    /// `--rules.alert.for-outage-tolerance` (ms, default 1h).
    pub outage_tolerance: i64,
    /// `--rules.alert.for-grace-period` (ms, default 10m).
    pub for_grace_period: i64,
    /// `--rules.alert.resend-delay` (ms, default 1m).
    pub resend_delay: i64,
    /// How rule files are decoded.
    pub parse: ParseOptions,
    /// Told the duration of every group evaluation and of each rule in it (for the duration summaries and
    /// histograms).
    pub observer: Option<Arc<dyn EvalObserver>>,
}

/// Receives evaluation durations as they happen.
pub trait EvalObserver: Send + Sync {
    /// One rule's evaluation took `d`.
    fn rule_evaluated(&self, d: Duration);
    /// One whole group evaluation took `d`.
    fn group_evaluated(&self, d: Duration);
}

impl std::fmt::Debug for ManagerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerOptions")
            .field("outage_tolerance", &self.outage_tolerance)
            .field("for_grace_period", &self.for_grace_period)
            .field("resend_delay", &self.resend_delay)
            .finish_non_exhaustive()
    }
}

/// The parts of the configuration rules depend on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadSettings {
    /// `global.evaluation_interval` (ms).
    pub interval_ms: i64,
    /// `global.rule_query_offset` (ms).
    pub query_offset_ms: i64,
    /// Rule files, globs already expanded.
    pub files: Vec<String>,
    /// Template environment (external labels and URL).
    pub template: TemplateEnv,
}

struct Shared {
    opts: ManagerOptions,
    template: Mutex<Arc<TemplateEnv>>,
    default_query_offset: AtomicI64,
}

struct Running {
    group: Arc<Mutex<Group>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Runs rule groups.
pub struct Manager {
    shared: Arc<Shared>,
    groups: Mutex<BTreeMap<(String, String), Running>>,
    restored: Mutex<bool>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").field("groups", &self.groups.lock().len()).finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Builds groups from parsed rule files (`(file name, contents)`), merging group labels into rule labels (rule
/// labels win). `restored` false makes alerting rules wait for `for` state restoration before writing `ALERTS`.
pub fn build_groups(
    files: &[(String, RuleFile)],
    default_interval_ms: i64,
    restored: bool,
) -> Vec<Group> {
    let mut out = Vec::new();
    for (file, rf) in files {
        for g in &rf.groups {
            let rules = g
                .rules
                .iter()
                .map(|r| {
                    let mut labels: BTreeMap<&str, &str> =
                        g.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    for (k, v) in &r.labels {
                        labels.insert(k, v);
                    }
                    let labels = Labels::from_pairs(labels);
                    if r.alert.is_empty() {
                        Rule::Recording(RecordingRule::new(&r.record, &r.expr, labels))
                    } else {
                        Rule::Alerting(AlertingRule::new(
                            &r.alert,
                            &r.expr,
                            r.for_ms,
                            r.keep_firing_for_ms,
                            labels,
                            Labels::from_pairs(&r.annotations),
                            restored,
                        ))
                    }
                })
                .collect();
            out.push(Group::new(
                &g.name,
                file,
                g.interval.filter(|i| *i > 0).unwrap_or(default_interval_ms),
                g.limit,
                g.query_offset,
                rules,
            ));
        }
    }
    out
}

impl Manager {
    /// A manager with no groups.
    pub fn new(opts: ManagerOptions) -> Manager {
        Manager {
            shared: Arc::new(Shared {
                opts,
                template: Mutex::new(Arc::new(TemplateEnv::default())),
                default_query_offset: AtomicI64::new(0),
            }),
            groups: Mutex::new(BTreeMap::new()),
            restored: Mutex::new(false),
        }
    }

    /// Loads `settings.files` and applies them. On any error nothing changes and every problem is returned.
    /// Must be called inside a tokio runtime.
    pub fn update(&self, settings: &LoadSettings) -> Result<(), Error> {
        let mut parsed = Vec::new();
        let mut errs = Vec::new();
        for f in &settings.files {
            match parse_file(std::path::Path::new(f), &self.shared.opts.parse) {
                Ok(rf) => parsed.push((f.clone(), rf)),
                Err(e) => errs.extend(e),
            }
        }
        if !errs.is_empty() {
            return Err(Error::Load(errs));
        }
        *self.shared.template.lock() = Arc::new(settings.template.clone());
        self.shared.default_query_offset.store(settings.query_offset_ms, Ordering::Relaxed);
        let mut restored = self.restored.lock();
        let should_restore = !*restored;
        let new_groups = build_groups(&parsed, settings.interval_ms.max(1), !should_restore);
        let mut cur = self.groups.lock();
        let mut old = std::mem::take(&mut *cur);
        for mut g in new_groups {
            let key = (g.file.clone(), g.name.clone());
            if let Some(prev) = old.remove(&key) {
                if prev.group.lock().same_definition(&g) {
                    cur.insert(key, prev);
                    continue;
                }
                let _ = prev.stop.send(true);
                prev.task.abort();
                g.copy_state(&prev.group.lock());
            }
            cur.insert(key, self.start(g, should_restore));
        }
        for (_, gone) in old {
            let _ = gone.stop.send(true);
            gone.task.abort();
            let shared = self.shared.clone();
            let group = gone.group.clone();
            tokio::task::spawn_blocking(move || {
                group.lock().mark_stale(now_ms(), shared.opts.appendable.as_ref());
            });
        }
        *restored = true;
        Ok(())
    }

    fn start(&self, g: Group, should_restore: bool) -> Running {
        let group = Arc::new(Mutex::new(g));
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(run_group(group.clone(), self.shared.clone(), should_restore, rx));
        Running { group, stop, task }
    }

    /// The running groups, sorted by file and name.
    pub fn groups(&self) -> Vec<Arc<Mutex<Group>>> {
        self.groups.lock().values().map(|r| r.group.clone()).collect()
    }

    /// Stops every group (their series are not marked stale, as in Prometheus at shutdown).
    pub async fn stop(&self) {
        let running: Vec<Running> =
            std::mem::take(&mut *self.groups.lock()).into_values().collect();
        for r in &running {
            let _ = r.stop.send(true);
        }
        for r in running {
            let _ = r.task.await;
        }
    }
}

fn eval_once(group: &Arc<Mutex<Group>>, shared: &Shared, ts: i64, missed: u64) {
    let template = shared.template.lock().clone();
    let env = EvalEnv {
        query: &shared.opts.query,
        appendable: shared.opts.appendable.as_ref(),
        notify: shared.opts.notify.as_deref(),
        template: &template,
        resend_delay: shared.opts.resend_delay,
        default_query_offset: shared.default_query_offset.load(Ordering::Relaxed),
    };
    let mut g = group.lock();
    g.stats.iterations_scheduled += 1 + missed;
    g.stats.iterations_missed += missed;
    g.eval(ts, &env);
    if let Some(o) = &shared.opts.observer {
        for r in &g.rules {
            o.rule_evaluated(r.evaluation_duration);
        }
        o.group_evaluated(g.stats.last_duration);
    }
}

async fn run_group(
    group: Arc<Mutex<Group>>,
    shared: Arc<Shared>,
    should_restore: bool,
    mut stop: watch::Receiver<bool>,
) {
    let interval = group.lock().interval_ms.max(1);
    let mut eval_ts = group.lock().eval_timestamp(now_ms()) + interval;
    let wait = Duration::from_millis((eval_ts - now_ms()).max(0) as u64);
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = stop.changed() => return,
    }
    let period = Duration::from_millis(interval as u64);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let run = |ts: i64, missed: u64| {
        let group = group.clone();
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || eval_once(&group, &shared, ts, missed))
    };
    let _ = run(eval_ts, 0).await;
    let mut restore_pending = should_restore;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let missed = ((now_ms() - eval_ts) / interval - 1).max(0);
        eval_ts += (missed + 1) * interval;
        let _ = run(eval_ts, missed as u64).await;
        if restore_pending {
            restore_pending = false;
            let group = group.clone();
            let shared = shared.clone();
            let _ = tokio::task::spawn_blocking(move || {
                group.lock().restore_for_state(
                    now_ms(),
                    shared.opts.queryable.as_ref(),
                    shared.opts.outage_tolerance,
                    shared.opts.for_grace_period,
                );
            })
            .await;
        }
    }
}
