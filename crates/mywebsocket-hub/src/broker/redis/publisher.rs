//! Publishing: broadcasts queued in order and sent to Redis in pipelines, retried through an
//! outage; direct messages published at once.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mywebsocket::Message;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use tokio::sync::mpsc;

use super::conn::Conn;
use super::keys::Keys;
use super::scripts::{direct_body, flag, payload, PUBLISH_LUA};
use super::{Running, MAX_BACKOFF};
use crate::broker::Target;
use crate::error::{HubError, Result};
use crate::id::{ConnId, NodeId};

/// Publishes sent to Redis in one pipeline.
const MAX_BATCH: usize = 256;

/// How long one `WAIT` for replicas lasts before the batch counts as failed and is retried.
const WAIT_MS: u64 = 1000;

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
    conn: &Conn,
    keys: &Keys,
    target: &Target,
    msg: &Message,
) -> Result<()> {
    let mut conn = conn.clone();
    let _: i64 = redis::cmd(keys.publish_command())
        .arg(keys.direct())
        .arg(direct_body(target, msg))
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// What the publisher needs besides its queue.
pub(super) struct Publisher {
    pub(super) conn: Conn,
    pub(super) keys: Keys,
    pub(super) node: NodeId,
    pub(super) history_len: usize,
    /// Replicas that must acknowledge a batch on a cluster (see `HubConfig::redis_replica_acks`).
    pub(super) replica_acks: usize,
    /// A shard has had fewer replicas online than asked for (logged once until it recovers).
    pub(super) short_of_replicas: std::sync::atomic::AtomicBool,
}

/// Sends queued broadcasts to Redis in order, in pipelines, retrying until Redis takes them.
pub(super) async fn run_publisher(publisher: Publisher, mut queue: mpsc::Receiver<Pending>) {
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
        // On a cluster, a batch sent again after a failure that may have let it run is
        // marked: that attempt may have been delivered by a master that then failed before
        // its replica had it. (The publisher's cluster connection does not retry by itself,
        // so every such failure is seen here.)
        let mut uncertain = false;
        loop {
            let sent = if publisher.keys.cluster() {
                publisher.publish_sharded(&batch, uncertain).await
            } else {
                publisher.publish_pipeline(&batch).await
            };
            match sent {
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
                    uncertain |= may_have_run(&e);
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

/// Whether a request that failed with `e` may have run on a master: every failure but the
/// answers of a node that refused it (a slot elsewhere, the cluster down, a replica) and a
/// refused connection.
fn may_have_run(e: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    let refused = e.is_cluster_error()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::Server(
                ServerErrorKind::ReadOnly
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::CrossSlot
                    | ServerErrorKind::BusyLoading
            )
        );
    !refused
}

impl Publisher {
    /// Appends one publish script call for `p` to `pipe`.
    fn push_publish(&self, pipe: &mut redis::Pipeline, p: &Pending, retry: bool) {
        let keys = &self.keys;
        pipe.cmd("EVAL")
            .arg(PUBLISH_LUA)
            .arg(3)
            .arg(keys.stream(&p.room))
            .arg(keys.publish_seq(&p.room))
            .arg(keys.trimmed(&p.room))
            .arg(self.history_len)
            .arg(self.node.as_str())
            .arg(p.seq)
            .arg(p.except.as_ref().map_or("", ConnId::as_str))
            .arg(flag(&p.msg))
            .arg(payload(&p.msg))
            .arg(keys.channel(&p.room))
            .arg(keys.publish_command())
            .arg(if retry { "1" } else { "0" })
            .ignore();
    }

    /// One Redis: the whole batch in one pipeline.
    async fn publish_pipeline(&self, batch: &[Pending]) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        for p in batch {
            self.push_publish(&mut pipe, p, false);
        }
        pipe.query_async::<()>(&mut self.conn.clone()).await
    }

    /// A cluster: one pipeline per room (a pipeline may not cross slots), all rooms at once.
    /// Each is a `MULTI`/`EXEC` transaction, so a node that refuses it (the slot moved, the
    /// cluster is down) ran none of it, then a `WAIT` for the replicas. Order within a room is
    /// the batch's.
    async fn publish_sharded(&self, batch: &[Pending], retry: bool) -> redis::RedisResult<()> {
        let mut by_room: HashMap<&str, redis::Pipeline> = HashMap::new();
        for p in batch {
            let pipe = by_room.entry(p.room.as_str()).or_insert_with(|| {
                let mut pipe = redis::pipe();
                pipe.cmd("MULTI").ignore();
                pipe
            });
            self.push_publish(pipe, p, retry);
        }
        let sends = by_room.into_iter().map(|(room, mut pipe)| async move {
            pipe.cmd("EXEC").ignore();
            if self.replica_acks == 0 {
                return pipe.query_async::<()>(&mut self.conn.clone()).await;
            }
            pipe.cmd("WAIT").arg(self.replica_acks).arg(WAIT_MS);
            let (acked,): (usize,) = pipe.query_async(&mut self.conn.clone()).await?;
            if acked >= self.replica_acks {
                if self.short_of_replicas.swap(false, Ordering::Relaxed) {
                    tracing::info!("replicas acknowledge publishes again");
                }
                return Ok(());
            }
            if acked >= self.online_replicas(room).await? {
                // Every replica the shard has holds it: with fewer than asked for (one lost
                // and not back yet), waiting would stop publishing and protect nothing more.
                if !self.short_of_replicas.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        %room,
                        acked,
                        wanted = self.replica_acks,
                        "a shard has fewer replicas online than redis_replica_acks: publishing \
                         with what it has (a failover there can lose the latest messages)"
                    );
                }
                return Ok(());
            }
            Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "replicas did not acknowledge the publish",
                format!("{acked} of {} in {WAIT_MS} ms", self.replica_acks),
            )))
        });
        for result in futures_util::future::join_all(sends).await {
            result?;
        }
        Ok(())
    }

    /// The replicas online at the master of `room`'s slot (`INFO replication`).
    async fn online_replicas(&self, room: &str) -> redis::RedisResult<usize> {
        let Conn::Cluster(conn) = &self.conn else {
            return Ok(0);
        };
        let route = Route::with_slot(Slot::for_key(self.keys.stream(room)), SlotAddr::Master);
        let info = conn
            .clone()
            .route_command(
                redis::cmd("INFO").arg("replication").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
            )
            .await?;
        let text: String = redis::from_redis_value(info)?;
        Ok(online_replicas(&text))
    }
}

/// The replicas `INFO replication` lists as online (`slaveN:ip=...,state=online,...`).
fn online_replicas(info: &str) -> usize {
    info.lines()
        .filter(|line| line.starts_with("slave") && line.contains("state=online"))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_online_replicas() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
            slave0:ip=127.0.0.1,port=7001,state=online,offset=42,lag=0\r\n\
            slave1:ip=127.0.0.1,port=7002,state=wait_bgsave,offset=0,lag=0\r\n\
            master_failover_state:no-failover\r\n";
        assert_eq!(online_replicas(info), 1);
        assert_eq!(
            online_replicas("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"),
            0
        );
    }
}
