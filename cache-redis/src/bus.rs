//! The backplane subscription: a dedicated connection subscribed to `<prefix>:#bus`, that
//! resubscribes after every reconnection and reports it as a gap (notices may have been missed
//! while it was down).

use std::time::Duration;

use bytes::Bytes;
use fred::prelude::*;
use tiered_cache_core::l2::{BusEvent, BusSink};
use tokio::sync::broadcast::error::RecvError;

/// Pause between attempts to (re)subscribe.
const RETRY: Duration = Duration::from_millis(100);

/// Runs until the client is closed.
pub(crate) async fn run(client: Client, channel: String, sink: BusSink) {
    // Take the receivers before connecting so the first connection is not missed.
    let mut reconnects = client.reconnect_rx();
    let mut messages = client.message_rx();
    client.connect();
    let mut subscribed_once = false;
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
                    if subscribed_once {
                        sink(BusEvent::Gap);
                    }
                    subscribed_once = true;
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
