//! The value every latency measurement stores: a small record, the shape of a cached row.

use serde::{Deserialize, Serialize};

/// A small cached record (an id and a 21-byte name; 23 bytes in bincode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The record's id.
    pub id: u64,
    /// Its name.
    pub name: String,
}

impl Item {
    /// The record with id `id`.
    pub fn new(id: u64) -> Self {
        Item {
            id,
            name: format!("user-{id:08}-profile"),
        }
    }
}

/// Encodes `item` the way a hand-written Redis cache would: bincode 2, standard config (the
/// raw-client contenders' codec; the cache's own is its configured `codec`).
pub fn encode(item: &Item) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(item, bincode::config::standard())
}

/// Decodes what [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> Result<Item, bincode::error::DecodeError> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard()).map(|(item, _)| item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_23_bytes() {
        let item = Item::new(42);
        let bytes = encode(&item).expect("encodes");
        assert_eq!(bytes.len(), 23);
        assert_eq!(decode(&bytes).expect("decodes"), item);
    }
}
