//! Backplane notices: what one instance tells the others after a write, an invalidation or a
//! clear, so they drop their L1 copies. A notice names what changed and when; it never carries
//! the value (readers fetch that from L2).
//!
//! ```text
//! "TN" | version 1 | kind (K key, N namespace, A all, T tag) | origin u64 | stamp u64
//!      | namespace length u16 | namespace | key or tag (to the end)
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::clock::Stamp;

const MAGIC: &[u8; 2] = b"TN";
const VERSION: u8 = 1;
const HEADER: usize = 2 + 1 + 1 + 8 + 8 + 2;

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// One key was written or invalidated.
    Key {
        /// Its namespace.
        namespace: String,
        /// The key.
        key: String,
    },
    /// A namespace was cleared.
    Namespace(String),
    /// Every namespace was cleared.
    All,
    /// Every entry carrying this tag was invalidated.
    Tag(String),
}

/// One backplane message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The instance that sent it (instances ignore their own).
    pub origin: u64,
    /// The stamp of the change.
    pub stamp: Stamp,
    /// What changed.
    pub change: Change,
}

impl Notice {
    /// The wire form.
    pub fn encode(&self) -> Bytes {
        let (kind, namespace, rest): (u8, &str, &str) = match &self.change {
            Change::Key { namespace, key } => (b'K', namespace, key),
            Change::Namespace(namespace) => (b'N', namespace, ""),
            Change::All => (b'A', "", ""),
            Change::Tag(tag) => (b'T', "", tag),
        };
        let mut out = BytesMut::with_capacity(HEADER + namespace.len() + rest.len());
        out.put_slice(MAGIC);
        out.put_u8(VERSION);
        out.put_u8(kind);
        out.put_u64(self.origin);
        out.put_u64(self.stamp.raw());
        // Namespaces are at most 64 bytes.
        out.put_u16(namespace.len() as u16);
        out.put_slice(namespace.as_bytes());
        out.put_slice(rest.as_bytes());
        out.freeze()
    }

    /// Parses the wire form; `None` for anything that is not a notice this build reads.
    pub fn decode(bytes: &[u8]) -> Option<Notice> {
        if bytes.len() < HEADER || &bytes[..2] != MAGIC || bytes[2] != VERSION {
            return None;
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(w)
        };
        let origin = word(4);
        let stamp = Stamp::from_raw(word(12));
        let namespace_len = usize::from(u16::from_be_bytes([bytes[20], bytes[21]]));
        let namespace = bytes.get(HEADER..HEADER + namespace_len)?;
        let namespace = std::str::from_utf8(namespace).ok()?.to_owned();
        let rest = std::str::from_utf8(&bytes[HEADER + namespace_len..])
            .ok()?
            .to_owned();
        let change = match bytes[3] {
            b'K' => Change::Key {
                namespace,
                key: rest,
            },
            b'N' => Change::Namespace(namespace),
            b'A' => Change::All,
            b'T' => Change::Tag(rest),
            _ => return None,
        };
        Some(Notice {
            origin,
            stamp,
            change,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        for change in [
            Change::Key {
                namespace: "users".into(),
                key: "user:1|odd key".into(),
            },
            Change::Namespace("users".into()),
            Change::All,
            Change::Tag("team:7".into()),
        ] {
            let notice = Notice {
                origin: 42,
                stamp: Stamp::from_raw(7),
                change,
            };
            assert_eq!(Notice::decode(&notice.encode()), Some(notice));
        }
    }

    #[test]
    fn foreign_messages_are_ignored() {
        assert_eq!(Notice::decode(b"hello"), None);
        assert_eq!(Notice::decode(b""), None);
        let mut bytes = Notice {
            origin: 1,
            stamp: Stamp::ZERO,
            change: Change::All,
        }
        .encode()
        .to_vec();
        bytes[3] = b'?';
        assert_eq!(Notice::decode(&bytes), None);
        bytes[3] = b'N';
        bytes[21] = 200; // namespace longer than the message
        assert_eq!(Notice::decode(&bytes), None);
    }
}
