//! The names of the broker's Redis keys and channels, all under the configured prefix.

/// Key and channel names.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The prefix of every name.
    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A room's history (a stream).
    pub(super) fn stream(&self, room: &str) -> String {
        format!("{}:s:{room}", self.prefix)
    }

    /// The newest id trimmed from a room's stream, for gap detection.
    pub(super) fn trimmed(&self, room: &str) -> String {
        format!("{}:t:{room}", self.prefix)
    }

    /// A room's channel: its messages and presence changes.
    pub(super) fn channel(&self, room: &str) -> String {
        format!("{}:c:{room}", self.prefix)
    }

    /// The room of a channel named by [`Keys::channel`].
    pub(super) fn room_of<'a>(&self, channel: &'a str) -> Option<&'a str> {
        channel
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix(":c:"))
    }

    /// The channel of direct messages.
    pub(super) fn direct(&self) -> String {
        format!("{}:direct", self.prefix)
    }

    /// A room's members (a hash, connection id to member JSON).
    pub(super) fn presence(&self, room: &str) -> String {
        format!("{}:p:{room}", self.prefix)
    }

    /// A node's liveness key, refreshed with a TTL.
    pub(super) fn alive(&self, node: &str) -> String {
        format!("{}:alive:{node}", self.prefix)
    }

    /// The nodes that have announced themselves (a set).
    pub(super) fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// The rooms a node has members in (a set), for reaping.
    pub(super) fn node_rooms(&self, node: &str) -> String {
        format!("{}:nr:{node}", self.prefix)
    }

    /// The lock a node takes to reap a dead one.
    pub(super) fn reaping(&self, node: &str) -> String {
        format!("{}:reap:{node}", self.prefix)
    }

    /// The last publish sequence number of each node (a hash), which makes a retry a no-op.
    pub(super) fn publish_seq(&self) -> String {
        format!("{}:pubseq", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_of_inverts_channel() {
        let keys = Keys::new("mwh");
        assert_eq!(keys.room_of(&keys.channel("lo:bby")), Some("lo:bby"));
        assert_eq!(keys.room_of("mwh:s:lobby"), None);
        assert_eq!(keys.room_of("other:c:lobby"), None);
    }
}
