//! The broadcast hub shared by every server's broadcast mode: the set of joined connections and
//! the trigger message that says how many must have joined before it goes out.

use std::sync::Mutex;

use bytes::Bytes;
use futures_util::{Sink, SinkExt};
use tokio::sync::{mpsc, watch};

/// The length of a trigger message's payload.
pub const TRIGGER_LEN: usize = 64;

/// A trigger payload asking for a broadcast to `count` connections: the count as a
/// little-endian `u64`, then zero padding to [`TRIGGER_LEN`] bytes.
pub fn trigger_payload(count: usize) -> [u8; TRIGGER_LEN] {
    let mut payload = [0; TRIGGER_LEN];
    payload[..8].copy_from_slice(&(count as u64).to_le_bytes());
    payload
}

/// The connection count a trigger payload asks for (0 if it is too short).
pub fn trigger_count(payload: &[u8]) -> usize {
    payload.first_chunk::<8>().map_or(0, |b| {
        usize::try_from(u64::from_le_bytes(*b)).unwrap_or(usize::MAX)
    })
}

/// How a peer library's connection joins a [`Hub`]: a channel to the task that owns the
/// connection's write half (those libraries have no cloneable writer; this is the usual pattern).
pub(crate) type Queue = mpsc::UnboundedSender<Bytes>;

/// The connections that joined, each represented by its sending handle `T` (a MyWebsocket
/// `Writer`, or a channel to a peer connection's writer task).
pub(crate) struct Hub<T> {
    members: Mutex<Vec<T>>,
    joined: watch::Sender<usize>,
}

impl<T: Clone> Hub<T> {
    pub(crate) fn new() -> Self {
        Self {
            members: Mutex::new(Vec::new()),
            joined: watch::Sender::new(0),
        }
    }

    /// Adds a connection.
    pub(crate) fn join(&self, member: T) {
        let mut members = self.members.lock().expect("no panics while locked");
        members.push(member);
        self.joined.send_replace(members.len());
    }

    /// Waits until at least `count` connections joined, then returns all of them. A trigger
    /// can arrive before the last connections' tasks have joined: their `101` is out before
    /// the server task reaches `join`.
    pub(crate) async fn members_when(&self, count: usize) -> Vec<T> {
        let mut joined = self.joined.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = joined.wait_for(|&n| n >= count).await;
        self.members.lock().expect("no panics while locked").clone()
    }
}

impl Hub<Queue> {
    /// Joins a connection whose write half is `sink`: a writer task sends each payload queued
    /// for it as the message `to_message(payload)`, until a send fails.
    pub(crate) fn join_sink<S, M>(&self, mut sink: S, to_message: fn(Bytes) -> M)
    where
        S: Sink<M> + Unpin + Send + 'static,
        M: Send + 'static,
    {
        let (sender, mut queue) = mpsc::unbounded_channel::<Bytes>();
        self.join(sender);
        tokio::spawn(async move {
            while let Some(payload) = queue.recv().await {
                if sink.send(to_message(payload)).await.is_err() {
                    break;
                }
            }
        });
    }

    /// Waits until `count` connections joined, then queues `payload` for each of them. A
    /// connection that went away does not stop the others.
    pub(crate) async fn fan_out(&self, count: usize, payload: Bytes) {
        for member in self.members_when(count).await {
            let _ = member.send(payload.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_round_trip() {
        assert_eq!(trigger_count(&trigger_payload(10_000)), 10_000);
        assert_eq!(trigger_count(b"short"), 0);
    }

    #[tokio::test]
    async fn waits_for_the_named_count() {
        let hub = std::sync::Arc::new(Hub::new());
        hub.join(1);
        let waiter = tokio::spawn({
            let hub = hub.clone();
            async move { hub.members_when(2).await }
        });
        tokio::task::yield_now().await;
        hub.join(2);
        assert_eq!(waiter.await.unwrap(), vec![1, 2]);
    }
}
