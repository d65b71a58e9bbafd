//! The receiving side of the backplane: other instances' notices evict L1 copies here, and a
//! reconnection (notices may have been missed) drops all of L1.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Inner;
use crate::keys::{self, KeyRef};
use crate::l2::{BusEvent, BusSink};
use crate::notice::{Change, Notice};

/// Subscribes to the backplane, when it is on.
pub(super) async fn start(inner: &Arc<Inner>) {
    let Some(tier) = &inner.l2 else {
        return;
    };
    if !inner.config.backplane {
        return;
    }
    // The backend holds the sink; a weak handle keeps it from keeping the cache alive.
    let weak = Arc::downgrade(inner);
    let sink: BusSink = Arc::new(move |event| {
        if let Some(inner) = weak.upgrade() {
            inner.on_bus(event);
        }
    });
    if let Err(error) = tier.backend.subscribe(sink).await {
        tracing::warn!(%error, "backplane not live yet; until it is, other instances' writes reach this L1 within l1_ttl");
    }
}

impl Inner {
    fn on_bus(&self, event: BusEvent) {
        let bytes = match event {
            BusEvent::Gap => return self.after_gap(),
            BusEvent::Notice(bytes) => bytes,
        };
        let Some(notice) = Notice::decode(&bytes) else {
            tracing::debug!("ignoring a backplane message this build does not read");
            return;
        };
        if notice.origin == self.origin {
            return;
        }
        self.counters.notices_received.incr();
        self.stamps.observe(notice.stamp);
        match notice.change {
            Change::Key { namespace, key } => {
                if keys::validate_namespace(&namespace).is_ok() {
                    let key = KeyRef {
                        namespace: &namespace,
                        key: &key,
                    };
                    self.changed_elsewhere(key, notice.stamp);
                    // A local waiter for the other instance's load finds its value now.
                    self.peers.wake(key);
                }
            }
            Change::Namespace(namespace) => {
                if keys::validate_namespace(&namespace).is_ok() {
                    self.apply_clear(Some(&namespace), notice.stamp);
                }
            }
            Change::All => self.apply_clear(None, notice.stamp),
            Change::Tag(tag) => self.apply_tag(&tag, notice.stamp),
        }
    }

    /// Notices may have been missed before this subscription: stop trusting L1. The first
    /// subscription, made while the cache is being built, is no gap: nothing was served yet.
    fn after_gap(&self) {
        if !self.serving.load(Ordering::Acquire) {
            return;
        }
        self.counters.backplane_gaps.incr();
        // Keep L1 warm, but trust nothing in it blindly: each copy is checked against L2 on its
        // next read (dropping all of L1 sent every instance to the origin at once after a
        // Redis restart, the worst moment for the origin).
        let marked = self.distrust_l1(self.stamps.next());
        self.tags.distrust_all();
        self.flights.detach_where(None);
        self.peers.wake_all();
        tracing::debug!(
            marked,
            "backplane subscribed; L1 copies are checked against L2 on their next read"
        );
    }
}
