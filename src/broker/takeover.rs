//! Status changes that wait (CREATING, UPDATING and DELETING streams) finish on a timer
//! of the node that made them. On a catalog shared by several nodes, that node may die
//! first; then any other node's maintenance pass finishes the change once it has been
//! waiting well past its delay. Finishing is idempotent (each step checks the status
//! it moves from, and conflicting commits are decided again), so a slow but live node
//! finishing at the same moment does no harm.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Broker;
use crate::storage::catalog::StreamState;

/// How much longer than its delay a change may wait before another node finishes it.
const GRACE: Duration = Duration::from_secs(10);

/// Streams this node has seen waiting, by key: the status and when it was first seen.
#[derive(Default)]
pub(super) struct Waiting(Mutex<HashMap<String, (StreamState, Instant)>>);

impl Broker {
    /// Finishes the status changes that have waited past their delay and [`GRACE`]
    /// (from the maintenance pass; only on a shared catalog).
    pub fn finish_overdue_changes(self: &Arc<Self>) {
        if !self.shared() {
            return;
        }
        let c = &self.config;
        let delay = c
            .create_delay_ms
            .max(c.update_delay_ms)
            .max(c.delete_delay_ms);
        let overdue = Duration::from_millis(delay) + GRACE;
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut seen = self.waiting.0.lock().unwrap_or_else(|p| p.into_inner());
            let mut still = HashMap::new();
            for stream in self.all_streams() {
                let state = stream.status();
                if state == StreamState::Active {
                    continue;
                }
                let key = stream.key();
                let since = match seen.get(&key) {
                    Some((s, t)) if *s == state => *t,
                    _ => now,
                };
                if now.duration_since(since) >= overdue {
                    due.push((key, state, stream.created_ms));
                } else {
                    still.insert(key, (state, since));
                }
            }
            *seen = still;
        }
        for (key, state, created) in due {
            tracing::warn!(stream = %key, ?state, "finishing a status change its node left waiting");
            let finished = match state {
                StreamState::Creating | StreamState::Updating => {
                    self.retrying(|| self.become_active(&key, created, state))
                }
                StreamState::Deleting => self.retrying(|| self.finish_deleting(&key, created)),
                StreamState::Active => Ok(()),
            };
            if let Err(e) = finished {
                tracing::error!(stream = %key, error = %e, "could not finish a status change");
            }
        }
    }
}
