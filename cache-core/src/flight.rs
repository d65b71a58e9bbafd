//! Single-flight: at most one load per key at a time; everyone else waits for its outcome.
//!
//! The leader holds a [`FlightGuard`]. Completing it publishes the outcome; dropping it without
//! completing (the caller was cancelled, or the loader panicked) closes the channel, and each
//! waiter then retries, one of them becoming the new leader. An invalidation *detaches* the
//! flight: later callers start a new one (the old leader's result reaches only the callers that
//! were already waiting; whether it may enter the cache is `cache::admit`'s decision).

use std::any::Any;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::keys::{EntryKey, KeyRef};
use crate::l1::Entry;
use crate::source::Source;

const SHARDS: usize = 16;

/// What a finished load hands to its waiters.
#[derive(Clone)]
pub(crate) enum Outcome {
    /// The value (an L1-shaped entry, whether or not it was cached); `loaded` when a loader ran
    /// for it (even one that failed and left a fail-safe stand-in): the waiters count a miss.
    /// `source` is where the leader's answer came from.
    Value {
        entry: Entry,
        loaded: bool,
        source: Source,
    },
    /// The loader's error, an `Arc<E>` behind `Any`.
    Failed(Arc<dyn Any + Send + Sync>),
    /// The loader failed and its error stays with the caller that ran it (the load did not share
    /// errors): each waiter runs its own loader.
    FailedUnshared,
    /// The load hit the hard timeout.
    TimedOut(Duration),
}

struct Flight {
    outcome: watch::Sender<Option<Outcome>>,
}

type Shard = hashbrown::HashMap<EntryKey, Arc<Flight>, quick_cache::DefaultHashBuilder>;

/// The loads in progress, by key.
pub(crate) struct Flights {
    shards: Box<[Mutex<Shard>]>,
    hasher: quick_cache::DefaultHashBuilder,
}

/// Either lead the load, or wait for the current leader.
pub(crate) enum Join {
    Lead(FlightGuard),
    Wait(Waiter),
}

/// A waiter's view of somebody else's load.
pub(crate) struct Waiter {
    outcome: watch::Receiver<Option<Outcome>>,
}

impl Waiter {
    /// The outcome, or `None` when the leader gave up without one (then retry).
    pub(crate) async fn outcome(mut self) -> Option<Outcome> {
        match self.outcome.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone(),
            Err(_) => None,
        }
    }
}

impl Default for Flights {
    fn default() -> Self {
        Flights {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: quick_cache::DefaultHashBuilder::default(),
        }
    }
}

impl Flights {
    fn shard(&self, key: KeyRef<'_>) -> MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        // Critical sections below cannot panic; recover from poison instead of spreading it.
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the load of `key`, or starts leading one.
    pub(crate) fn join(self: &Arc<Self>, key: KeyRef<'_>) -> Join {
        let mut shard = self.shard(key);
        if let Some(flight) = shard.get(&key) {
            return Join::Wait(Waiter {
                outcome: flight.outcome.subscribe(),
            });
        }
        Join::Lead(self.lead_locked(&mut shard, key))
    }

    /// Starts leading a load of `key` unless one is running.
    pub(crate) fn try_lead(self: &Arc<Self>, key: KeyRef<'_>) -> Option<FlightGuard> {
        let mut shard = self.shard(key);
        if shard.contains_key(&key) {
            return None;
        }
        Some(self.lead_locked(&mut shard, key))
    }

    fn lead_locked(self: &Arc<Self>, shard: &mut Shard, key: KeyRef<'_>) -> FlightGuard {
        let key = EntryKey::new(key.namespace, key.key);
        let (outcome, _) = watch::channel(None);
        let flight = Arc::new(Flight { outcome });
        shard.insert(key.clone(), flight.clone());
        FlightGuard {
            flights: self.clone(),
            key,
            flight,
        }
    }

    /// Whether a load of `key` is running.
    #[cfg(test)]
    pub(crate) fn is_loading(&self, key: KeyRef<'_>) -> bool {
        self.shard(key).contains_key(&key)
    }

    /// Detaches the load of `key`, if any: later callers start a new one.
    pub(crate) fn detach(&self, key: KeyRef<'_>) {
        let detached = self.shard(key).remove(&key);
        drop(detached);
    }

    /// Detaches every load in `namespace` (or every load, with `None`).
    pub(crate) fn detach_where(&self, namespace: Option<&str>) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            shard.retain(|key, _| namespace.is_some_and(|ns| key.namespace() != ns));
        }
    }
}

/// The right (and duty) to run one load of a key.
pub(crate) struct FlightGuard {
    flights: Arc<Flights>,
    key: EntryKey,
    flight: Arc<Flight>,
}

impl FlightGuard {
    pub(crate) fn key(&self) -> KeyRef<'_> {
        self.key.as_ref()
    }

    /// Gives the waiters so far an interim outcome (a fallback) while the load goes on.
    pub(crate) fn publish(&self, outcome: Outcome) {
        self.flight.outcome.send_replace(Some(outcome));
    }

    /// Publishes the outcome to every waiter and ends the flight.
    pub(crate) fn complete(self, outcome: Outcome) {
        self.flight.outcome.send_replace(Some(outcome));
        // Drop removes the flight from the map.
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let key = self.key.as_ref();
        let mut shard = self.flights.shard(key);
        if shard
            .get(&self.key)
            .is_some_and(|current| Arc::ptr_eq(current, &self.flight))
        {
            shard.remove(&self.key);
        }
        // Dropping the last sender wakes waiters that got no outcome, so they retry.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> KeyRef<'_> {
        KeyRef {
            namespace: "ns",
            key: k,
        }
    }

    #[tokio::test]
    async fn one_leader_and_waiters_get_its_outcome() {
        let flights = Arc::new(Flights::default());
        let Join::Lead(guard) = flights.join(key("a")) else {
            panic!("first caller leads")
        };
        let Join::Wait(waiter) = flights.join(key("a")) else {
            panic!("second caller waits")
        };
        assert!(flights.try_lead(key("a")).is_none());
        let waited = tokio::spawn(waiter.outcome());
        guard.complete(Outcome::Failed(Arc::new(7u8)));
        let outcome = waited.await.expect("task");
        assert!(matches!(outcome, Some(Outcome::Failed(_))));
        assert!(!flights.is_loading(key("a")), "completed flight is removed");
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_waiters() {
        let flights = Arc::new(Flights::default());
        let Join::Lead(guard) = flights.join(key("a")) else {
            panic!("leads")
        };
        let Join::Wait(waiter) = flights.join(key("a")) else {
            panic!("waits")
        };
        drop(guard);
        assert!(waiter.outcome().await.is_none());
        assert!(
            matches!(flights.join(key("a")), Join::Lead(_)),
            "the key is free again"
        );
    }

    #[tokio::test]
    async fn detaching_frees_the_key_and_the_old_leader_keeps_its_waiters() {
        let flights = Arc::new(Flights::default());
        let Join::Lead(old) = flights.join(key("a")) else {
            panic!("leads")
        };
        let Join::Wait(early) = flights.join(key("a")) else {
            panic!("waits")
        };
        let Join::Lead(_other) = flights.join(key("b")) else {
            panic!("leads")
        };
        flights.detach(key("a"));
        assert!(
            flights.is_loading(key("b")),
            "other keys keep their flights"
        );
        let Join::Lead(new) = flights.join(key("a")) else {
            panic!("a new flight starts")
        };
        old.complete(Outcome::Failed(Arc::new(1u8)));
        assert!(
            matches!(early.outcome().await, Some(Outcome::Failed(_))),
            "an early waiter gets the old leader's outcome"
        );
        assert!(
            flights.is_loading(key("a")),
            "the old leader leaves the new flight alone"
        );
        drop(new);
        flights.detach_where(Some("ns"));
        assert!(!flights.is_loading(key("b")));
    }
}
