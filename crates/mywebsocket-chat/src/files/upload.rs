//! One `/files` connection: runs the file-transfer protocol on it, within the node's
//! [`MAX_UPLOADS`] connections and [`UPLOADS_PER_CONNECTION`] uploads each, and settles every
//! upload it accepted before letting the connection go.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mywebsocket::{CloseCode, WebSocket};
use mywebsocket_files::{Incoming, ReceiveOptions, TransferError, TransferId, Transfers};

use super::partials::PartKey;
use super::store::{lock, Inner};
use super::{FileStore, MAX_UPLOADS, UPLOADS_PER_CONNECTION};

impl FileStore {
    /// Runs the file-transfer protocol on `ws` until it closes: each file received (and
    /// verified) is stored, and the page is told its download path with
    /// `{"type":"file","transfer":TRANSFER_ID,"id":ID,"path":"/files/ID"}`. When the
    /// connection ends, the part files of its unfinished uploads stay for a resume.
    pub(crate) async fn serve_upload(&self, mut ws: WebSocket) {
        let _slot = match UploadSlot::take(&self.inner) {
            Some(slot) => slot,
            None => {
                let _ = ws
                    .close(CloseCode::TRY_AGAIN_LATER, "too many uploads at once")
                    .await;
                return;
            }
        };
        let (mut reader, writer) = ws.split();
        // The accepted offers of this connection whose transfer has not ended.
        let keys = Arc::new(Mutex::new(HashMap::new()));
        let store = self.clone();
        let policy_keys = Arc::clone(&keys);
        let files = Transfers::new(
            writer.clone(),
            ReceiveOptions::default()
                .dest_dir(&self.inner.incoming)
                .max_file_size(self.inner.max_file_size)
                .max_concurrent(UPLOADS_PER_CONNECTION)
                .policy(move |offer| store.policy(offer, &policy_keys)),
        );
        let routing = files.clone();
        let reading = async {
            // Only file-transfer messages belong here; anything else is ignored.
            while let Ok(message) = reader.read_msg().await {
                let _ = routing.route(message).await;
            }
            // Running transfers end as lost; their events still come below.
            routing.connection_lost();
        };
        tokio::pin!(reading);
        let mut read_all = false;
        // Every accepted offer ends with exactly one event: wait for all of them, so each
        // reservation is settled, before letting the connection go.
        while !(read_all && lock(&keys).is_empty()) {
            tokio::select! {
                () = &mut reading, if !read_all => read_all = true,
                event = files.next_incoming() => match event {
                    Some(event) => self.settle(event, &keys, &writer).await,
                    None => break,
                },
            }
        }
    }

    /// Settles an upload's reservation, and stores and announces a received file.
    async fn settle(
        &self,
        event: Incoming,
        keys: &Mutex<HashMap<TransferId, PartKey>>,
        writer: &mywebsocket::Writer,
    ) {
        let (id, kept) = match &event {
            Incoming::Received(received) => (received.id, false),
            // A lost connection, or a part file another connection still held: it stays.
            Incoming::Failed {
                id,
                error: TransferError::ConnectionLost { .. } | TransferError::Rejected { .. },
                ..
            } => (*id, true),
            // Cancelled, corrupt, or unwritable: the part file was deleted.
            Incoming::Failed { id, .. } => (*id, false),
            _ => return,
        };
        let key = lock(keys).remove(&id);
        if let Some(key) = key {
            lock(&self.inner.files)
                .partials
                .end(key, kept, Instant::now());
        }
        match event {
            Incoming::Received(received) => {
                let transfer = received.id.to_string();
                match self.store(received).await {
                    Ok(id) => {
                        let stored = serde_json::json!({
                            "type": "file",
                            "transfer": transfer,
                            "id": id,
                            "path": format!("/files/{id}"),
                        });
                        let _ = writer.write_string(stored.to_string()).await;
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot store a received file"),
                }
            }
            Incoming::Failed { name, error, .. } => {
                tracing::info!(%name, %error, "upload ended without a file");
            }
            _ => {}
        }
    }
}

/// One of the [`MAX_UPLOADS`] upload connections, given back when dropped.
struct UploadSlot(Arc<Inner>);

impl UploadSlot {
    fn take(inner: &Arc<Inner>) -> Option<Self> {
        let taken = inner
            .uploads
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_UPLOADS).then_some(n + 1)
            });
        taken.ok().map(|_| Self(Arc::clone(inner)))
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.0.uploads.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::DEFAULT_PARTIAL_TTL;

    #[test]
    fn upload_slots_are_bounded_and_given_back() {
        let store = FileStore::new(10, 100, DEFAULT_PARTIAL_TTL).unwrap();
        let slots: Vec<_> = (0..MAX_UPLOADS)
            .map(|_| UploadSlot::take(&store.inner).expect("a free slot"))
            .collect();
        assert!(UploadSlot::take(&store.inner).is_none());
        drop(slots);
        assert!(UploadSlot::take(&store.inner).is_some());
    }
}
