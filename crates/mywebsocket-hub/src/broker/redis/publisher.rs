//! Publishing: broadcasts queued in order and sent to Redis in pipelines, retried through an
//! outage; direct messages published at once.

use std::sync::atomic::Ordering;
use std::time::Duration;

use mywebsocket::Message;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokio::sync::mpsc;

use super::keys::Keys;
use super::scripts::{direct_body, flag, payload, PUBLISH_LUA};
use super::{Running, MAX_BACKOFF};
use crate::broker::Target;
use crate::error::{HubError, Result};
use crate::id::{ConnId, NodeId};

/// Publishes sent to Redis in one pipeline.
const MAX_BATCH: usize = 256;

/// A broadcast waiting to be published.
pub(super) struct Pending {
    room: String,
    /// This node's publish number: the script skips one it has already seen.
    seq: u64,
    except: Option<ConnId>,
    msg: Message,
}

impl Running {
    /// Queues a broadcast for the publisher, or refuses it when `capacity` broadcasts wait.
    pub(super) fn enqueue(
        &self,
        room: String,
        except: Option<ConnId>,
        msg: Message,
        capacity: usize,
    ) -> Result<()> {
        // The sequence number is taken and the message queued under one order: the channel
        // keeps it, so retries and the script's check see increasing numbers.
        let permit = self.publish.try_reserve().map_err(|e| match e {
            mpsc::error::TrySendError::Full(()) => HubError::OutageBufferFull { capacity },
            mpsc::error::TrySendError::Closed(()) => HubError::BrokerNotRunning,
        })?;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        permit.send(Pending {
            room,
            seq,
            except,
            msg,
        });
        Ok(())
    }
}

/// Publishes a direct message on the direct channel, once (direct messages are at most once).
pub(super) async fn send_direct(
    conn: &ConnectionManager,
    keys: &Keys,
    target: &Target,
    msg: &Message,
) -> Result<()> {
    let mut conn = conn.clone();
    let _: i64 = conn
        .publish(keys.direct(), direct_body(target, msg))
        .await?;
    Ok(())
}

/// Sends queued broadcasts to Redis in order, in pipelines, retrying until Redis takes them.
pub(super) async fn run_publisher(
    mut conn: ConnectionManager,
    keys: Keys,
    node: NodeId,
    history_len: usize,
    mut queue: mpsc::Receiver<Pending>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let mut backoff = Duration::from_millis(50);
        let mut failed = false;
        loop {
            let mut pipe = redis::pipe();
            for p in &batch {
                pipe.cmd("EVAL")
                    .arg(PUBLISH_LUA)
                    .arg(3)
                    .arg(keys.stream(&p.room))
                    .arg(keys.publish_seq())
                    .arg(keys.trimmed(&p.room))
                    .arg(history_len)
                    .arg(node.as_str())
                    .arg(p.seq)
                    .arg(p.except.as_ref().map_or("", ConnId::as_str))
                    .arg(flag(&p.msg))
                    .arg(payload(&p.msg))
                    .arg(keys.channel(&p.room))
                    .ignore();
            }
            match pipe.query_async::<()>(&mut conn).await {
                Ok(()) => {
                    if failed {
                        tracing::info!(
                            still_queued = queue.len(),
                            "Redis is back: buffered broadcasts are being published"
                        );
                    }
                    break;
                }
                Err(e) => {
                    if !failed {
                        tracing::warn!(error = %e, queued = batch.len() + queue.len(), "cannot publish to Redis; buffering broadcasts and retrying");
                    }
                    failed = true;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        batch.clear();
    }
}
