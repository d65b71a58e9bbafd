//! The backplane subscription: a dedicated connection subscribed to `<prefix>:#bus`, that
//! resubscribes after every reconnection and reports each subscription as a gap: notices sent
//! before it (while it was down, or before it first started) were missed.

use std::time::Duration;

use bytes::Bytes;
use fred::prelude::*;
use tiered_cache_core::l2::{BusEvent, BusSink};
use tokio::sync::broadcast::error::RecvError;

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
    // Take the receivers before connecting so the first connection is not missed.
    let mut reconnects = client.reconnect_rx();
    let mut messages = client.message_rx();
    client.connect();
    loop {
        tokio::select! {
            event = reconnects.recv() => match event {
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    while let Err(error) = client.subscribe(channel.as_str()).await {
                        tracing::debug!(%error, "backplane subscribe failed; retrying");
                        if !client.is_connected() && client.state() == ClientState::Disconnected {
                            return;
                        }
                        tokio::time::sleep(RETRY).await;
                    }
                    sink(BusEvent::Gap);
                    if let Some(live) = live.take() {
                        let _ = live.send(());
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
