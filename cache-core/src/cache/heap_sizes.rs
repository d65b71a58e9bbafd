//! What the calls that go past L1 put on the heap.
//!
//! Each such call is one boxed future (so that the future users hold, and an L1 hit, stay
//! small). glibc's per-thread cache hands out blocks of up to 1032 bytes without a lock; a
//! bigger block is a malloc and a free under an arena's lock, and when a task's block is freed
//! on another worker thread than the one that allocated it, the workers contend for that lock.
//! The L2 read's future was 1,384 bytes (it held its rare tag-mark read inline): 64 tasks
//! reading through two workers from a Redis on the same host made 0.6 `futex` calls per read,
//! 0.35 once it was 752 bytes (a plain boxed Redis `GET`: 0.37). These tests keep the blocks
//! of the calls that go to L2 under that size, for a 32-byte value.

use std::convert::Infallible;
use std::future::IntoFuture;

use super::load_future::LoadState;
use super::read::GetState;
use crate::{CacheConfig, NoL2, TieredCache};

/// The largest block glibc's per-thread cache serves, rounded down.
const SMALL_BLOCK: usize = 1024;

/// A 32-byte value: the engine's part of a future, not the value's, is what is measured.
type Value = [u64; 4];

fn cache() -> TieredCache<NoL2> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(TieredCache::<NoL2>::new(CacheConfig {
            redis_url: None,
            ..Default::default()
        }))
        .expect("an L1-only cache")
}

#[test]
fn a_read_that_goes_to_l2_allocates_a_small_block() {
    let cache = cache();
    let read = cache.get::<Value>("key").skip_l1().into_future();
    let GetState::Slow(slow) = &read.state else {
        panic!("a read that skips L1 takes the slow path");
    };
    let bytes = std::mem::size_of_val(&**slow);
    assert!(
        bytes <= SMALL_BLOCK,
        "the L2 read's future is {bytes} bytes"
    );
}

#[test]
fn a_load_that_goes_to_l2_allocates_a_small_block() {
    let cache = cache();
    let load = cache
        .get::<Value>("key")
        .refresh_with(|| async { Ok::<Value, Infallible>([0; 4]) })
        .into_future();
    let LoadState::Slow(slow) = &load.state else {
        panic!("a load of a key L1 does not hold takes the slow path");
    };
    let bytes = std::mem::size_of_val(&**slow);
    assert!(bytes <= SMALL_BLOCK, "the load's future is {bytes} bytes");
}

#[test]
fn a_write_allocates_a_small_block() {
    let cache = cache();
    let write = cache.set("key", &[0u64; 4]).into_future();
    let bytes = std::mem::size_of_val(&*write);
    assert!(bytes <= SMALL_BLOCK, "the write's future is {bytes} bytes");
}

#[test]
fn an_invalidation_allocates_a_small_block() {
    let cache = cache();
    let invalidation = cache.invalidate("key").into_future();
    let bytes = std::mem::size_of_val(&*invalidation);
    assert!(
        bytes <= SMALL_BLOCK,
        "the invalidation's future is {bytes} bytes"
    );
}
