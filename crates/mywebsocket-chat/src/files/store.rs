//! The store: the node's directory of shared files and its budget for them, kept by stored
//! files and by the reservations of uploads in progress ([`Partials`]); the oldest stored
//! files go first to make room. Also the policy that decides each offer against that budget.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use mywebsocket_files::{part_file_name, Decision, Offer, Received, TransferId};

use super::partials::{PartKey, Partials};

/// Where the node keeps shared files, and which ones it has.
#[derive(Clone)]
pub(crate) struct FileStore {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    /// A directory of the system's temporary directory, owned by this node.
    pub(super) root: PathBuf,
    /// Where uploads are received, by every connection: `root/incoming`. Part files stay
    /// here between connections.
    pub(super) incoming: PathBuf,
    pub(super) max_file_size: u64,
    pub(super) max_total: u64,
    pub(super) files: Mutex<Stored>,
    pub(super) uploads: std::sync::atomic::AtomicUsize,
}

pub(super) struct Stored {
    pub(super) by_id: HashMap<String, StoredFile>,
    /// Ids, oldest first, for eviction.
    pub(super) order: VecDeque<String>,
    /// Bytes of the stored files.
    pub(super) total: u64,
    /// Uploads not finished, with their reservations.
    pub(super) partials: Partials,
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

pub(super) struct StoredFile {
    pub(super) path: PathBuf,
    pub(super) name: String,
    pub(super) media_type: String,
    pub(super) size: u64,
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
    pub(super) async fn expire(&self, now: Instant) {
        let expired = lock(&self.inner.files).partials.expire(now);
        for (id, sha256) in expired {
            let path = self.inner.incoming.join(part_file_name(id, &sha256));
            let _ = tokio::fs::remove_file(path).await;
        }
    }

    /// The policy for one connection's offers: resume a kept partial upload, or reserve room
    /// for a new one (evicting the oldest stored files), or refuse when the node's budget is
    /// held by other uploads. Records each accepted offer in `keys` for the events.
    pub(super) fn policy(
        &self,
        offer: &Offer,
        keys: &Mutex<HashMap<TransferId, PartKey>>,
    ) -> Decision {
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

    /// Moves a verified file into the store under a fresh id, evicting the oldest files
    /// while the total would be over the limit.
    pub(super) async fn store(&self, received: Received) -> io::Result<String> {
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

/// The store's directory, for tests.
#[cfg(test)]
impl FileStore {
    pub(super) fn root(&self) -> &std::path::Path {
        &self.inner.root
    }
}

/// Locks a map no code panics while holding.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use hyper::StatusCode;

    use super::*;
    use crate::files::DEFAULT_PARTIAL_TTL;

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
