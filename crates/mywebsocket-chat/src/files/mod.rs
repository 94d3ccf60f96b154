//! File sharing: a page uploads a file over the file-transfer protocol (`mywebsocket-files`,
//! docs/file-transfer.md) on a WebSocket at `/files`; the node keeps it in a temporary
//! directory it owns and serves it at `GET /files/ID` for the download link the page then
//! posts in the room. The spec's appendix "The chat app's /files endpoint" describes what a
//! client sees.
//!
//! An upload cut off by a lost connection keeps its part file for `partial_ttl` (see
//! [`partials`]), so offering it again on a new connection resumes it.
//!
//! Bounded: [`UPLOADS_PER_CONNECTION`] uploads at a time per connection and [`MAX_UPLOADS`]
//! connections at once, files up to `max_file_size` bytes, and at most `max_total` bytes kept,
//! partial uploads (reserved in full from their offer) and stored files together; stored files
//! go oldest first to make room. The directory is removed when the node exits; those of nodes
//! that died without exiting (`kill -9`) are removed by the next node that starts on the
//! machine.

mod partials;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use mywebsocket::{CloseCode, WebSocket};
use mywebsocket_files::{
    part_file_name, Decision, Incoming, Offer, ReceiveOptions, Received, TransferError, TransferId,
    Transfers,
};
use tokio_util::io::ReaderStream;

use crate::Body;
use partials::{PartKey, Partials};

/// Upload connections a node serves at once; more are closed with 1013 (try again later).
pub(crate) const MAX_UPLOADS: usize = 16;

/// Uploads one `/files` connection may run at once; a further offer is rejected `busy`.
pub(crate) const UPLOADS_PER_CONNECTION: usize = 4;

/// How long the part file of an upload nobody is writing is kept by default: long enough for
/// a laptop to change networks or a page to reload, short enough that abandoned uploads do not
/// hold the node's file budget for long.
pub(crate) const DEFAULT_PARTIAL_TTL: Duration = Duration::from_secs(600);

/// Where the node keeps shared files, and which ones it has.
#[derive(Clone)]
pub(crate) struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// A directory of the system's temporary directory, owned by this node.
    root: PathBuf,
    /// Where uploads are received, by every connection: `root/incoming`. Part files stay
    /// here between connections.
    incoming: PathBuf,
    max_file_size: u64,
    max_total: u64,
    files: Mutex<Stored>,
    uploads: std::sync::atomic::AtomicUsize,
}

struct Stored {
    by_id: HashMap<String, StoredFile>,
    /// Ids, oldest first, for eviction.
    order: VecDeque<String>,
    /// Bytes of the stored files.
    total: u64,
    /// Uploads not finished, with their reservations.
    partials: Partials,
}

impl Stored {
    /// Forgets the oldest stored files until `size` more bytes fit within `max_total` beside
    /// the stored files and the reservations, or none is left; their paths are the caller's to
    /// delete.
    fn make_room(&mut self, size: u64, max_total: u64) -> Vec<PathBuf> {
        let mut evicted = Vec::new();
        while self.total + self.partials.reserved() + size > max_total {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(old) = self.by_id.remove(&old) {
                self.total -= old.size;
                evicted.push(old.path);
            }
        }
        evicted
    }
}

struct StoredFile {
    path: PathBuf,
    name: String,
    media_type: String,
    size: u64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl FileStore {
    /// A store in a fresh directory under the system's temporary directory, for files of at
    /// most `max_file_size` bytes, `max_total` bytes in all, keeping the part files of cut
    /// uploads for `partial_ttl` (once [`FileStore::spawn_expiry`] runs).
    ///
    /// # Errors
    /// The directory cannot be created.
    pub(crate) fn new(
        max_file_size: u64,
        max_total: u64,
        partial_ttl: Duration,
    ) -> io::Result<Self> {
        remove_stale_dirs(&std::env::temp_dir());
        let root = std::env::temp_dir().join(format!(
            "{DIR_PREFIX}{}-{}",
            std::process::id(),
            TransferId::random()
        ));
        let incoming = root.join("incoming");
        std::fs::create_dir_all(&incoming)?;
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                incoming,
                max_file_size: max_file_size.min(max_total),
                max_total,
                files: Mutex::new(Stored {
                    by_id: HashMap::new(),
                    order: VecDeque::new(),
                    total: 0,
                    partials: Partials::new(partial_ttl),
                }),
                uploads: std::sync::atomic::AtomicUsize::new(0),
            }),
        })
    }

    /// Deletes the part files of uploads nobody has written for the time to live, checking
    /// every tenth of it (between 1 s and 1 min). Ends when the store is dropped.
    pub(crate) fn spawn_expiry(&self, partial_ttl: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let period = (partial_ttl / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                FileStore { inner }.expire(Instant::now()).await;
            }
        })
    }

    /// Deletes the part files that expired as of `now`.
    async fn expire(&self, now: Instant) {
        let expired = lock(&self.inner.files).partials.expire(now);
        for (id, sha256) in expired {
            let path = self.inner.incoming.join(part_file_name(id, &sha256));
            let _ = tokio::fs::remove_file(path).await;
        }
    }

    /// The policy for one connection's offers: resume a kept partial upload, or reserve room
    /// for a new one (evicting the oldest stored files), or refuse when the node's budget is
    /// held by other uploads. Records each accepted offer in `keys` for the events.
    fn policy(&self, offer: &Offer, keys: &Mutex<HashMap<TransferId, PartKey>>) -> Decision {
        let key = (offer.id, offer.sha256);
        let evicted = {
            let mut files = lock(&self.inner.files);
            if !files.partials.resume(key) {
                let evicted = files.make_room(offer.size, self.inner.max_total);
                if files.total + files.partials.reserved() + offer.size > self.inner.max_total {
                    return Decision::Reject(format!(
                        "uploads in progress hold the node's space for files ({} bytes); \
                         try again later",
                        files.partials.reserved()
                    ));
                }
                files.partials.begin(key, offer.size);
                evicted
            } else {
                Vec::new()
            }
        };
        lock(keys).insert(offer.id, key);
        // Small and rare (only when the budget is full): unlinking here keeps the policy
        // synchronous, as the library calls it.
        for old in evicted {
            let _ = std::fs::remove_file(old);
        }
        Decision::Accept
    }

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

    /// Moves a verified file into the store under a fresh id, evicting the oldest files
    /// while the total would be over the limit.
    async fn store(&self, received: Received) -> io::Result<String> {
        let id = TransferId::random().to_string();
        let path = self.inner.root.join(&id);
        tokio::fs::rename(&received.path, &path).await?;
        let name = received
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let evicted = {
            let mut files = lock(&self.inner.files);
            let evicted = files.make_room(received.size, self.inner.max_total);
            files.total += received.size;
            files.order.push_back(id.clone());
            files.by_id.insert(
                id.clone(),
                StoredFile {
                    path,
                    name,
                    media_type: received.media_type,
                    size: received.size,
                },
            );
            evicted
        };
        for old in evicted {
            let _ = tokio::fs::remove_file(old).await;
        }
        Ok(id)
    }

    /// The response to `GET /files/ID`: the file as an attachment, streamed from disk.
    pub(crate) async fn download(&self, id: &str) -> Response<Body> {
        let found = lock(&self.inner.files)
            .by_id
            .get(id)
            .map(|f| (f.path.clone(), f.name.clone(), f.media_type.clone(), f.size));
        let Some((path, name, media_type, size)) = found else {
            return crate::text(
                StatusCode::NOT_FOUND,
                "no such file (files are kept for a while only)".into(),
            );
        };
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(_) => return crate::text(StatusCode::NOT_FOUND, "no such file".into()),
        };
        let body = StreamBody::new(ReaderStream::new(file).map_ok(Frame::data)).boxed();
        Response::builder()
            .header("content-type", safe_media_type(&media_type))
            .header("content-length", size)
            .header("content-disposition", content_disposition(&name))
            // Uploaded HTML must never run as the chat's origin.
            .header("x-content-type-options", "nosniff")
            .header("content-security-policy", "sandbox")
            .body(body)
            .expect("valid headers")
    }
}

/// The name of every node's directory starts with this, then `PID-RANDOM`.
const DIR_PREFIX: &str = "mywebsocket-chat-files-";

/// Removes the directories in `tmp` of nodes whose process is gone. Only where `/proc` tells
/// which processes live (Linux); elsewhere such directories stay until the system's cleanup.
fn remove_stale_dirs(tmp: &std::path::Path) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
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

/// The store's directory, for tests.
#[cfg(test)]
impl FileStore {
    fn root(&self) -> &std::path::Path {
        &self.inner.root
    }
}

/// The sender's media type if it is a plain `type/subtype`, else `application/octet-stream`.
fn safe_media_type(media_type: &str) -> &str {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match media_type.split_once('/') {
        Some((kind, sub)) if token(kind) && token(sub) => media_type,
        _ => "application/octet-stream",
    }
}

/// `attachment` with the name as ASCII (others replaced) and in full as RFC 5987 UTF-8.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Locks a map no code panics while holding.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_that_are_not_plain_become_octet_stream() {
        assert_eq!(safe_media_type("image/png"), "image/png");
        assert_eq!(
            safe_media_type("text/html; charset=utf-8"),
            "application/octet-stream"
        );
        assert_eq!(
            safe_media_type("text/html\r\nx: y"),
            "application/octet-stream"
        );
        assert_eq!(safe_media_type(""), "application/octet-stream");
    }

    #[test]
    fn the_name_cannot_break_the_header() {
        let header = content_disposition("a\"b\r\nc é.txt");
        assert_eq!(
            header,
            "attachment; filename=\"a_b__c _.txt\"; filename*=UTF-8''a%22b%0D%0Ac%20%C3%A9.txt"
        );
    }

    #[test]
    fn directories_of_dead_nodes_are_removed_and_live_ones_kept() {
        if !std::path::Path::new("/proc/self").exists() {
            return; // nothing to tell dead from live by
        }
        let tmp = std::env::temp_dir().join(format!("chat-stale-test-{}", std::process::id()));
        // No process has an id this large (Linux caps them at 2^22).
        let dead = tmp.join(format!("{DIR_PREFIX}4294967295-abc"));
        let live = tmp.join(format!("{DIR_PREFIX}{}-abc", std::process::id()));
        let other = tmp.join("something-else-1");
        for dir in [&dead, &live, &other] {
            std::fs::create_dir_all(dir).unwrap();
        }
        remove_stale_dirs(&tmp);
        assert!(!dead.exists());
        assert!(live.exists() && other.exists());
        std::fs::remove_dir_all(&tmp).unwrap();
    }

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

    fn offer(n: u8, size: u64) -> Offer {
        Offer {
            id: TransferId([n; 16]),
            offered_name: "f".into(),
            name: "f".into(),
            size,
            media_type: String::new(),
            sha256: [n; 32],
        }
    }

    #[test]
    fn uploads_in_progress_hold_their_size_of_the_budget_and_a_resume_holds_none_more() {
        let store = FileStore::new(100, 150, DEFAULT_PARTIAL_TTL).unwrap();
        let keys = Mutex::default();
        assert_eq!(store.policy(&offer(1, 100), &keys), Decision::Accept);
        assert!(matches!(
            store.policy(&offer(2, 100), &keys),
            Decision::Reject(_)
        ));
        // The same upload offered again (a resume) reserves nothing more.
        assert_eq!(store.policy(&offer(1, 100), &keys), Decision::Accept);
        assert_eq!(store.policy(&offer(3, 50), &keys), Decision::Accept);
        assert_eq!(lock(&store.inner.files).partials.reserved(), 150);
    }

    #[tokio::test]
    async fn the_part_file_of_a_cut_upload_is_deleted_once_it_expires() {
        let store = FileStore::new(100, 1000, Duration::from_secs(600)).unwrap();
        let keys = Mutex::default();
        let cut = offer(7, 100);
        assert_eq!(store.policy(&cut, &keys), Decision::Accept);
        let part = store
            .inner
            .incoming
            .join(part_file_name(cut.id, &cut.sha256));
        std::fs::write(&part, [7; 40]).unwrap();
        let lost_at = Instant::now();
        let key = (cut.id, cut.sha256);
        lock(&store.inner.files).partials.end(key, true, lost_at);
        store.expire(lost_at + Duration::from_secs(599)).await;
        assert!(part.exists(), "deleted before its time");
        store.expire(lost_at + Duration::from_secs(600)).await;
        assert!(!part.exists(), "kept after its time");
        assert_eq!(lock(&store.inner.files).partials.reserved(), 0);
    }

    #[tokio::test]
    async fn keeps_at_most_the_total_evicting_the_oldest() {
        let store = FileStore::new(10, 25, DEFAULT_PARTIAL_TTL).unwrap();
        let mut ids = Vec::new();
        for i in 0..3u8 {
            let path = store.root().join(format!("in-{i}"));
            tokio::fs::write(&path, [i; 10]).await.unwrap();
            let received = Received {
                id: TransferId::random(),
                path,
                size: 10,
                media_type: String::new(),
                sha256: [0; 32],
                resumed_from: 0,
                elapsed: std::time::Duration::ZERO,
            };
            ids.push(store.store(received).await.unwrap());
        }
        assert_eq!(
            store.download(&ids[0]).await.status(),
            StatusCode::NOT_FOUND
        );
        let response = store.download(&ids[2]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], &[2; 10]);
        assert!(!store.root().join(&ids[0]).exists());
        let root = store.root().to_owned();
        drop(store);
        assert!(!root.exists(), "the directory goes with the store");
    }
}
