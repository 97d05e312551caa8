//! `--query.max-concurrency`: at most N queries evaluate at once; the others wait in a bounded queue. Time spent
//! waiting counts against the query's timeout (Prometheus: "query timed out in query queue"), a canceled query
//! leaves the queue, and a query arriving at a full queue is refused at once instead of piling up (Prometheus's
//! queue has no bound).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::sync::{Condvar, Mutex, MutexGuard};

use crate::error::QueryError;

/// How often a waiting query checks for cancellation.
const POLL: Duration = Duration::from_millis(20);

#[derive(Debug, Default)]
struct State {
    running: usize,
    queued: usize,
}

/// The gate shared by the clones of an engine.
#[derive(Debug)]
pub(crate) struct Gate {
    max_running: usize,
    max_queued: usize,
    state: Mutex<State>,
    freed: Condvar,
}

/// A slot to evaluate in; freed when dropped.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    gate: Option<&'a Gate>,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.gate {
            g.lock().running -= 1;
            g.freed.notify_one();
        }
    }
}

impl Gate {
    /// `max_running` 0 means no limit.
    pub(crate) fn new(max_running: usize, max_queued: usize) -> Gate {
        Gate { max_running, max_queued, state: Mutex::new(State::default()), freed: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is a single field change.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for a slot until `deadline`, giving up when `cancel` is set.
    pub(crate) fn enter(
        &self,
        deadline: Option<Instant>,
        cancel: Option<&AtomicBool>,
    ) -> Result<Permit<'_>, QueryError> {
        if self.max_running == 0 {
            return Ok(Permit { gate: None });
        }
        let mut st = self.lock();
        if st.running < self.max_running {
            st.running += 1;
            return Ok(Permit { gate: Some(self) });
        }
        if st.queued >= self.max_queued {
            return Err(QueryError::Unavailable(format!(
                "too many queries: {} running and {} waiting (--query.max-concurrency={})",
                st.running, st.queued, self.max_running
            )));
        }
        st.queued += 1;
        let outcome = loop {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                break Err(QueryError::Canceled("query queue".into()));
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                break Err(QueryError::Timeout("query queue".into()));
            }
            let wait = deadline.map_or(POLL, |d| (d - now).min(POLL));
            st = match self.freed.wait_timeout(st, wait) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
            if st.running < self.max_running {
                st.running += 1;
                break Ok(Permit { gate: Some(self) });
            }
        };
        st.queued -= 1;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn queued_queries_run_when_a_slot_frees_and_a_full_queue_refuses() {
        let gate = Arc::new(Gate::new(1, 1));
        let first = gate.enter(None, None).unwrap();
        let g = gate.clone();
        let waiter = std::thread::spawn(move || g.enter(None, None).map(|_| ()));
        // Wait until the second query is queued.
        while gate.lock().queued == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let err = gate.enter(None, None).unwrap_err();
        assert!(matches!(err, QueryError::Unavailable(_)), "{err}");
        drop(first);
        waiter.join().unwrap().unwrap();
        assert_eq!(gate.lock().running, 0);
    }

    #[test]
    fn waiting_counts_against_the_timeout_and_cancellation_leaves_the_queue() {
        let gate = Gate::new(1, 10);
        let _busy = gate.enter(None, None).unwrap();
        let err = gate.enter(Some(Instant::now() + Duration::from_millis(30)), None).unwrap_err();
        assert_eq!(err.to_string(), "query timed out in query queue");
        let cancel = AtomicBool::new(true);
        let err = gate.enter(None, Some(&cancel)).unwrap_err();
        assert_eq!(err.to_string(), "query was canceled in query queue");
        assert_eq!(gate.lock().queued, 0);
    }

    #[test]
    fn zero_means_unlimited() {
        let gate = Gate::new(0, 0);
        let permits: Vec<_> = (0..100).map(|_| gate.enter(None, None).unwrap()).collect();
        assert_eq!(permits.len(), 100);
    }
}
