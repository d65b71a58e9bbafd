//! Watching the pool's connections, so the engine learns of a dead connection or a new cluster
//! layout when fred does, not when a later call fails.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use fred::clients::{Client, Pool};
use fred::interfaces::{ClientLike, ClusterInterface, EventInterface};
use fred::types::config::Server;
use tiered_cache_core::l2::{ConnectionEvent, ConnectionSink};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

/// Why the last connection failed, for `health_check` while L2 is down.
pub(crate) type LastError = Arc<Mutex<Option<String>>>;

/// The cluster's primaries as last seen by any client of the pool: a failover is one change of
/// it, however many of the pool's connections notice.
type Layout = Arc<Mutex<Option<BTreeSet<String>>>>;

/// Spawns, per pool client, a task for its error stream (each error: the connection ended,
/// [`ConnectionEvent::Lost`]) and, on a cluster, one for its layout changes
/// ([`ConnectionEvent::Rerouted`] when the primaries differ from the last known set).
pub(crate) fn spawn(pool: &Pool, events: &ConnectionSink, last: &LastError) -> Vec<JoinHandle<()>> {
    let clustered = pool.inner().config.server.is_clustered();
    let layout: Layout = Arc::default();
    let mut tasks = Vec::new();
    for client in pool.clients() {
        tasks.push(tokio::spawn(watch_errors(
            client.clone(),
            events.clone(),
            last.clone(),
        )));
        if clustered {
            tasks.push(tokio::spawn(watch_layout(
                client.clone(),
                events.clone(),
                layout.clone(),
            )));
        }
    }
    tasks
}

async fn watch_errors(client: Client, events: ConnectionSink, last: LastError) {
    // fred reports a connection that ended (EOF, reset, refused) here as soon as its reader
    // sees it; commands in flight on it may otherwise wait for a reply that never comes.
    let mut errors = client.error_rx();
    loop {
        match errors.recv().await {
            Ok((error, _)) => {
                // Server replies and IO errors; neither carries the password.
                *last.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(error.details().to_owned());
                events(ConnectionEvent::Lost);
            }
            Err(RecvError::Lagged(_)) => events(ConnectionEvent::Lost),
            Err(RecvError::Closed) => return,
        }
    }
}

async fn watch_layout(client: Client, events: ConnectionSink, layout: Layout) {
    let mut changes = client.cluster_change_rx();
    remember(&layout, primaries(&client));
    loop {
        match changes.recv().await {
            Ok(_) | Err(RecvError::Lagged(_)) => {
                if remember(&layout, primaries(&client)) {
                    events(ConnectionEvent::Rerouted);
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

fn primaries(client: &Client) -> Option<BTreeSet<String>> {
    let state = client.cached_cluster_state()?;
    let nodes: BTreeSet<String> = state
        .unique_primary_nodes()
        .iter()
        .map(Server::to_string)
        .collect();
    (!nodes.is_empty()).then_some(nodes)
}

/// Records `seen` as the layout; true when it replaced a different known one (the first layout
/// a pool learns is not a change).
fn remember(layout: &Layout, seen: Option<BTreeSet<String>>) -> bool {
    let Some(seen) = seen else { return false };
    let mut known = layout.lock().unwrap_or_else(PoisonError::into_inner);
    let changed = known.as_ref().is_some_and(|known| *known != seen);
    if known.as_ref() != Some(&seen) {
        *known = Some(seen);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(nodes: &[&str]) -> Option<BTreeSet<String>> {
        Some(nodes.iter().map(|n| (*n).to_owned()).collect())
    }

    #[test]
    fn the_first_layout_is_not_a_change_and_a_new_primary_is() {
        let layout = Layout::default();
        assert!(!remember(&layout, None));
        assert!(!remember(&layout, set(&["a", "b", "c"])));
        assert!(
            !remember(&layout, set(&["a", "b", "c"])),
            "the same layout again"
        );
        assert!(remember(&layout, set(&["a2", "b", "c"])), "a failover");
        assert!(
            !remember(&layout, set(&["a2", "b", "c"])),
            "another connection saw it too"
        );
        assert!(!remember(&layout, None), "no state: nothing to compare");
    }
}
