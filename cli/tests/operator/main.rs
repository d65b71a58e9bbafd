//! The `tiered-cache` binary run as a process against real Redis servers (standalone, and the
//! shared 3-master cluster), next to real `TieredCache` instances in this process.

#[path = "../../../tests/support/mod.rs"]
mod support;

mod failures;
mod harness;
mod inspect;
mod ls;
mod stats;
mod watch;
mod write;
