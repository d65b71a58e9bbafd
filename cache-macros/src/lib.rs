//! The `#[cached]` attribute macro of `tiered-cache`. Use it through the `tiered-cache` crate.
