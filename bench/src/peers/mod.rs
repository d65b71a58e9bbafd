//! The Rust tiered caches over Redis, built as their documentation recommends for production,
//! so the families can put them beside ours.

pub mod amalgam;
pub mod multi_tier;
