//! Identifiers: nodes, connections and the position of a message in a room's history.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// A node (one server process), random per start.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// A fresh random id (16 hex digits).
    pub fn random() -> Self {
        Self(format!("{:016x}", rand::random::<u64>()).into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        Self(s.into())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A connection registered with a hub: `<node>.<n>`, unique across the cluster, so any node
/// can tell which node holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(Arc<str>);

impl ConnId {
    pub(crate) fn new(node: &NodeId, n: u64) -> Self {
        Self(format!("{node}.{n}").into())
    }

    /// The node that holds this connection.
    pub fn node(&self) -> &str {
        self.0.split_once('.').map_or(&*self.0, |(node, _)| node)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ConnId {
    fn from(s: &str) -> Self {
        Self(s.into())
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The position of a message in its room's history, `<ms>-<seq>` as Redis Streams write it.
/// Ids grow with every message of a room; the in-memory engine uses `0-<n>`.
///
/// Not `#[non_exhaustive]`: a stream id is exactly these two numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StreamId {
    /// Milliseconds part (Redis server time), 0 in memory.
    pub ms: u64,
    /// Sequence within the millisecond.
    pub seq: u64,
}

impl StreamId {
    /// Before every message.
    pub const ZERO: Self = Self { ms: 0, seq: 0 };
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A string that is not `<u64>-<u64>`.
///
/// `#[non_exhaustive]`, so that it can later say what is wrong without breaking callers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvalidStreamId;

impl fmt::Display for InvalidStreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stream id is not <ms>-<seq>")
    }
}

impl std::error::Error for InvalidStreamId {}

impl FromStr for StreamId {
    type Err = InvalidStreamId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ms, seq) = s.split_once('-').ok_or(InvalidStreamId)?;
        Ok(Self {
            ms: ms.parse().map_err(|_| InvalidStreamId)?,
            seq: seq.parse().map_err(|_| InvalidStreamId)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_order_like_redis() {
        let a: StreamId = "1700-3".parse().unwrap();
        let b: StreamId = "1700-10".parse().unwrap();
        let c: StreamId = "1701-0".parse().unwrap();
        assert!(a < b && b < c);
        assert_eq!(b.to_string(), "1700-10");
        assert_eq!("x-1".parse::<StreamId>(), Err(InvalidStreamId));
        assert_eq!("5".parse::<StreamId>(), Err(InvalidStreamId));
    }

    #[test]
    fn conn_id_names_its_node() {
        let node = NodeId::from("abc");
        assert_eq!(ConnId::new(&node, 7).node(), "abc");
        assert_eq!(ConnId::new(&node, 7).as_str(), "abc.7");
    }
}
