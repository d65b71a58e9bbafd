//! The backplane subscription: a dedicated connection subscribed to `<prefix>:#bus`, that
//! resubscribes after every reconnection of the connection that carries it and reports each
//! subscription as a gap: notices sent before it (while it was down, or before it first
//! started) were missed.

use std::time::Duration;

use bytes::Bytes;
use fred::prelude::*;
use tiered_cache_core::l2::{BusEvent, BusSink};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// Pause between attempts to (re)subscribe.
const RETRY: Duration = Duration::from_millis(100);

/// Runs until the client is closed; `live` fires once the first subscription is active.
pub(crate) async fn run(
    client: Client,
    channel: String,
    sink: BusSink,
    live: tokio::sync::oneshot::Sender<()>,
) {
    let mut live = Some(live);
    let mut subscribed_on: Option<Server> = None;
    // Take the receivers before connecting so the first connection is not missed.
    let mut reconnects = client.reconnect_rx();
    let mut messages = client.message_rx();
    client.connect();
    if client.wait_for_connect().await.is_ok() {
        // The first connections (one per primary on a cluster) are reported as reconnections
        // too, all before the client reports itself connected: they are not gaps.
        while !matches!(
            reconnects.try_recv(),
            Err(TryRecvError::Empty | TryRecvError::Closed)
        ) {}
        if !subscribe(&client, &channel, &sink, &mut live, &mut subscribed_on).await {
            return;
        }
    }
    loop {
        tokio::select! {
            event = reconnects.recv() => match event {
                // A cluster client reports every primary's reconnection here; only the one
                // that carries the subscription can have lost notices.
                Ok(server) if subscribed_on.as_ref().is_some_and(|on| {
                    *on != server && subscription_node(&client).as_ref() == Some(on)
                }) => {}
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    if !subscribe(&client, &channel, &sink, &mut live, &mut subscribed_on).await {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            message = messages.recv() => match message {
                Ok(message) => {
                    if let Some(bytes) = message.value.as_bytes() {
                        sink(BusEvent::Notice(Bytes::copy_from_slice(bytes)));
                    }
                }
                // Messages were dropped: as good as a disconnect.
                Err(RecvError::Lagged(_)) => sink(BusEvent::Gap),
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// (Re)subscribes, retrying while the client keeps trying to connect, then reports the gap
/// and, the first time, that the backplane is live. False when the client was closed.
async fn subscribe(
    client: &Client,
    channel: &str,
    sink: &BusSink,
    live: &mut Option<tokio::sync::oneshot::Sender<()>>,
    subscribed_on: &mut Option<Server>,
) -> bool {
    while let Err(error) = client.subscribe(channel).await {
        tracing::debug!(%error, "backplane subscribe failed; retrying");
        if !client.is_connected() && client.state() == ClientState::Disconnected {
            return false;
        }
        tokio::time::sleep(RETRY).await;
    }
    *subscribed_on = subscription_node(client);
    sink(BusEvent::Gap);
    if let Some(live) = live.take() {
        let _ = live.send(());
    }
    true
}

/// The primary that holds the subscription on a cluster (`None` standalone): fred sends
/// `SUBSCRIBE` to the owner of the client id's hash slot.
fn subscription_node(client: &Client) -> Option<Server> {
    if !client.is_clustered() {
        return None;
    }
    let slot = fred::util::redis_keyslot(client.id().as_bytes());
    client.cached_cluster_state()?.get_server(slot).cloned()
}
