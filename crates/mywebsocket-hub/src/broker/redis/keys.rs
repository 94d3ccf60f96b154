//! The names of the broker's Redis keys and channels, all under the configured prefix.
//!
//! On one Redis a room's names are `<prefix>:<kind>:<room>`. On a Redis Cluster every name
//! of a room carries the same hash tag, `<prefix>:<kind>:{<hash>}<room>` (`<hash>`: 16 hex
//! digits of the room name's FNV-1a hash, so a room name holding braces cannot move the
//! tag), which puts the room's stream, channel, presence and publish numbers in one slot:
//! the publish script touches only its slot, and the room's sharded channel lives on the
//! shard that holds its history. A node's names share the tag `{<prefix>}`, so its liveness
//! commands go to one shard in one pipeline.

/// Key and channel names.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
    cluster: bool,
}

impl Keys {
    /// Names for one Redis (`cluster` false) or for a Redis Cluster.
    pub(super) fn new(prefix: &str, cluster: bool) -> Self {
        Self {
            prefix: prefix.to_owned(),
            cluster,
        }
    }

    /// The prefix of every name.
    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether the names are laid out for a Redis Cluster.
    pub(super) fn cluster(&self) -> bool {
        self.cluster
    }

    /// The command that publishes on a room's or the direct channel: sharded on a cluster,
    /// so a message crosses only the shard of its slot.
    pub(super) fn publish_command(&self) -> &'static str {
        if self.cluster {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }

    fn room_key(&self, kind: &str, room: &str) -> String {
        if self.cluster {
            format!("{}:{kind}:{{{:016x}}}{room}", self.prefix, fnv1a(room))
        } else {
            format!("{}:{kind}:{room}", self.prefix)
        }
    }

    fn node_key(&self, kind: &str) -> String {
        if self.cluster {
            format!("{{{}}}:{kind}", self.prefix)
        } else {
            format!("{}:{kind}", self.prefix)
        }
    }

    /// A room's history (a stream).
    pub(super) fn stream(&self, room: &str) -> String {
        self.room_key("s", room)
    }

    /// The newest id trimmed from a room's stream, for gap detection.
    pub(super) fn trimmed(&self, room: &str) -> String {
        self.room_key("t", room)
    }

    /// A room's channel: its messages and presence changes.
    pub(super) fn channel(&self, room: &str) -> String {
        self.room_key("c", room)
    }

    /// The room of a channel named by [`Keys::channel`].
    pub(super) fn room_of<'a>(&self, channel: &'a str) -> Option<&'a str> {
        let rest = channel
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix(":c:"))?;
        if !self.cluster {
            return Some(rest);
        }
        // `{` + 16 hex digits + `}`, all ASCII, so slicing at 18 stays on a char boundary.
        let tag = rest.get(..18)?;
        (tag.starts_with('{') && tag.ends_with('}')).then(|| &rest[18..])
    }

    /// The channel of direct messages.
    pub(super) fn direct(&self) -> String {
        self.node_key("direct")
    }

    /// A room's members (a hash, connection id to member JSON).
    pub(super) fn presence(&self, room: &str) -> String {
        self.room_key("p", room)
    }

    /// A node's liveness key, refreshed with a TTL.
    pub(super) fn alive(&self, node: &str) -> String {
        self.node_key(&format!("alive:{node}"))
    }

    /// The nodes that have announced themselves (a set).
    pub(super) fn nodes(&self) -> String {
        self.node_key("nodes")
    }

    /// The rooms a node has members in (a set), for reaping.
    pub(super) fn node_rooms(&self, node: &str) -> String {
        self.node_key(&format!("nr:{node}"))
    }

    /// The lock a node takes to reap a dead one.
    pub(super) fn reaping(&self, node: &str) -> String {
        self.node_key(&format!("reap:{node}"))
    }

    /// The last publish sequence number of each node (a hash), which makes a retry a no-op:
    /// one for all rooms on one Redis, one per room (in the room's slot) on a cluster.
    pub(super) fn publish_seq(&self, room: &str) -> String {
        if self.cluster {
            self.room_key("q", room)
        } else {
            format!("{}:pubseq", self.prefix)
        }
    }
}

/// FNV-1a, 64 bits: a stable spread of room names over hash slots.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_of_inverts_channel() {
        for cluster in [false, true] {
            let keys = Keys::new("mwh", cluster);
            for room in ["lo:bby", "{x}", "}", "é", ""] {
                assert_eq!(keys.room_of(&keys.channel(room)), Some(room));
            }
            assert_eq!(keys.room_of(&keys.stream("lobby")), None);
            assert_eq!(keys.room_of("other:c:lobby"), None);
        }
        assert_eq!(Keys::new("mwh", true).room_of("mwh:c:lobby"), None);
    }

    /// The part of a key that picks its cluster slot: the first `{...}` with something in it.
    fn hash_tag(key: &str) -> &str {
        if let Some(open) = key.find('{') {
            if let Some(len) = key[open + 1..].find('}') {
                if len > 0 {
                    return &key[open + 1..open + 1 + len];
                }
            }
        }
        key
    }

    #[test]
    fn a_rooms_names_share_one_slot_on_a_cluster() {
        let keys = Keys::new("mwh", true);
        for room in ["lobby", "{evil}", "a}b{c", ""] {
            let stream = keys.stream(room);
            let tag = hash_tag(&stream);
            assert_eq!(tag.len(), 16, "{room}: {tag}");
            for name in [
                keys.trimmed(room),
                keys.channel(room),
                keys.presence(room),
                keys.publish_seq(room),
            ] {
                assert_eq!(hash_tag(&name), tag, "{room}: {name}");
            }
        }
        assert_ne!(hash_tag(&keys.stream("a")), hash_tag(&keys.stream("b")));
        let alive = keys.alive("n1");
        let node = hash_tag(&alive);
        for name in [
            keys.nodes(),
            keys.node_rooms("n1"),
            keys.reaping("n1"),
            keys.direct(),
        ] {
            assert_eq!(hash_tag(&name), node, "{name}");
        }
    }

    #[test]
    fn one_redis_keeps_its_names() {
        let keys = Keys::new("mwh", false);
        assert_eq!(keys.stream("lobby"), "mwh:s:lobby");
        assert_eq!(keys.channel("lobby"), "mwh:c:lobby");
        assert_eq!(keys.publish_seq("lobby"), "mwh:pubseq");
        assert_eq!(keys.alive("n1"), "mwh:alive:n1");
        assert_eq!(keys.direct(), "mwh:direct");
    }
}
