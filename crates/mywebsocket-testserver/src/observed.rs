//! What the server observed in each test session, for the browser to fetch and check.
//!
//! A session is named by the `id` query parameter the browser puts in its URLs. Case handlers
//! record into it as things happen; the `/observed` endpoint waits until the session is
//! complete (its last handler finished) and returns it as JSON.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::Notify;

/// One session's record.
#[derive(Debug)]
struct Session {
    started: Instant,
    fields: Map<String, Value>,
    complete: bool,
    connections: u32,
}

/// Every session's record, shared by all connections.
#[derive(Debug, Default)]
pub(crate) struct Observations {
    sessions: Mutex<HashMap<String, Session>>,
    completed: Notify,
}

impl Observations {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        // A handler that panicked holding the lock leaves the map as it was; keep serving.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A recorder for session `id`, counting one more connection to it.
    pub(crate) fn recorder(self: &Arc<Self>, id: &str) -> Recorder {
        let connection = {
            let mut sessions = self.lock();
            let session = sessions.entry(id.to_owned()).or_insert_with(|| Session {
                started: Instant::now(),
                fields: Map::new(),
                complete: false,
                connections: 0,
            });
            session.connections += 1;
            session.connections
        };
        Recorder {
            observations: Arc::clone(self),
            id: id.to_owned(),
            connection,
        }
    }

    /// Session `id` once it is complete, or as far as it got after `limit`; the JSON has a
    /// `complete` field saying which.
    pub(crate) async fn wait(&self, id: &str, limit: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Created before looking, so that a completion in between is not missed.
            let completed = self.completed.notified();
            let (complete, report) = self.report(id);
            if complete || tokio::time::Instant::now() >= deadline {
                return report;
            }
            let _ = tokio::time::timeout_at(deadline, completed).await;
        }
    }

    /// Session `id` as it stands.
    pub(crate) fn snapshot(&self, id: &str) -> Value {
        self.report(id).1
    }

    fn report(&self, id: &str) -> (bool, Value) {
        let sessions = self.lock();
        let Some(session) = sessions.get(id) else {
            return (
                false,
                serde_json::json!({ "complete": false, "known": false }),
            );
        };
        let mut fields = session.fields.clone();
        fields.insert("complete".into(), session.complete.into());
        fields.insert("known".into(), true.into());
        fields.insert("connections".into(), session.connections.into());
        (session.complete, Value::Object(fields))
    }
}

/// Records into one session on behalf of one connection.
#[derive(Debug)]
pub(crate) struct Recorder {
    observations: Arc<Observations>,
    id: String,
    connection: u32,
}

impl Recorder {
    /// Which connection to this session this is, from 1.
    pub(crate) fn connection(&self) -> u32 {
        self.connection
    }

    /// Milliseconds since the session's first connection.
    pub(crate) fn elapsed_ms(&self) -> u64 {
        let sessions = self.observations.lock();
        sessions
            .get(&self.id)
            .map_or(0, |s| duration_ms(s.started.elapsed()))
    }

    fn with(&self, f: impl FnOnce(&mut Session)) {
        if let Some(session) = self.observations.lock().get_mut(&self.id) {
            f(session);
        }
    }

    /// Sets field `key`.
    pub(crate) fn set(&self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        self.with(|s| {
            s.fields.insert(key.to_owned(), value);
        });
    }

    /// Appends `value` to the list in field `key`.
    pub(crate) fn push(&self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        self.with(|s| {
            match s
                .fields
                .entry(key.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(items) => items.push(value),
                other => *other = Value::Array(vec![value]),
            }
        });
    }

    /// Marks the session complete: `/observed` answers now.
    pub(crate) fn complete(&self) {
        self.with(|s| s.complete = true);
        self.observations.completed.notify_waiters();
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_returns_once_complete() {
        let observations = Arc::new(Observations::default());
        let rec = observations.recorder("a");
        rec.set("x", 1);
        rec.push("list", "first");
        rec.push("list", "second");
        let waiter = {
            let observations = Arc::clone(&observations);
            tokio::spawn(async move { observations.wait("a", Duration::from_secs(10)).await })
        };
        tokio::task::yield_now().await;
        rec.complete();
        let report = waiter.await.unwrap();
        assert_eq!(report["complete"], true);
        assert_eq!(report["x"], 1);
        assert_eq!(report["list"], serde_json::json!(["first", "second"]));
        assert_eq!(report["connections"], 1);
    }

    #[tokio::test]
    async fn wait_gives_up_on_an_incomplete_session() {
        let observations = Arc::new(Observations::default());
        let rec = observations.recorder("b");
        assert_eq!(rec.connection(), 1);
        assert_eq!(observations.recorder("b").connection(), 2);
        let report = observations.wait("b", Duration::from_millis(10)).await;
        assert_eq!(report["complete"], false);
        let unknown = observations.wait("nope", Duration::from_millis(1)).await;
        assert_eq!(unknown["known"], false);
    }
}
