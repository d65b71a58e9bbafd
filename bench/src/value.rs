//! The value every latency measurement stores: a small record, the shape of a cached row.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// A production-sized cached record: a catalogue product of ~470 bytes (144 inline, the rest
/// in nine heap blocks), so a clone allocates as a real row's does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// The product's id.
    pub id: u64,
    /// Its stock-keeping unit.
    pub sku: String,
    /// Its display name.
    pub name: String,
    /// Its description (the bulk of the bytes).
    pub description: String,
    /// Its category path.
    pub category: String,
    /// Its price in cents.
    pub price_cents: u64,
    /// Units in stock.
    pub stock: u32,
    /// Average review score.
    pub rating: f32,
    /// Search tags.
    pub tags: Vec<String>,
}

impl Product {
    /// The product with id `id`.
    pub fn new(id: u64) -> Self {
        Product {
            id,
            sku: format!("SKU-{id:08}"),
            name: format!("Stainless steel water bottle, model {id:08}"),
            description: format!(
                "Product {id:08}: double-walled, vacuum-insulated bottle that keeps drinks cold \
                 for a day and hot for twelve hours; leak-proof lid, dishwasher-safe, BPA-free."
            ),
            category: "kitchen/drinkware".to_owned(),
            price_cents: 1_999 + id % 1_000,
            stock: (id % 500) as u32,
            rating: 4.5,
            tags: vec![
                "steel".to_owned(),
                "bottle".to_owned(),
                "outdoor".to_owned(),
            ],
        }
    }

    /// Bytes the record occupies: inline plus every heap block's contents.
    pub fn footprint(&self) -> usize {
        let strings = [&self.sku, &self.name, &self.description, &self.category];
        std::mem::size_of::<Self>()
            + strings.iter().map(|s| s.len()).sum::<usize>()
            + self.tags.len() * std::mem::size_of::<String>()
            + self.tags.iter().map(String::len).sum::<usize>()
    }
}

/// A [`Product`] behind an `Arc`: reading it clones a pointer, not the record. (Serialized as
/// the record itself, without serde's `rc` feature, which would change the workspace's serde.)
#[derive(Debug, Clone, PartialEq)]
pub struct SharedProduct(pub Arc<Product>);

impl Serialize for SharedProduct {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SharedProduct {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Product::deserialize(deserializer).map(|product| SharedProduct(Arc::new(product)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_is_about_470_bytes() {
        let footprint = Product::new(12_345_678).footprint();
        assert!((450..=490).contains(&footprint), "{footprint} bytes");
    }

    #[test]
    fn round_trips_in_23_bytes() {
        let item = Item::new(42);
        let bytes = encode(&item).expect("encodes");
        assert_eq!(bytes.len(), 23);
        assert_eq!(decode(&bytes).expect("decodes"), item);
    }
}
