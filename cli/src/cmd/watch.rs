//! `watch`: every backplane notice, decoded with the library's `Notice::decode`, one line each
//! with the time it arrived, until Ctrl-C.

use fred::prelude::*;
use tiered_cache::CacheConfig;
use tiered_cache::engine::notice::{Change, Notice};
use tokio::sync::broadcast::error::RecvError;

use crate::error::CliError;
use crate::output::{line, note};
use crate::redis::{self, Mode, Redis};
use crate::timefmt;

pub async fn run(config: &CacheConfig) -> Result<(), CliError> {
    let redis = redis::connect(config, Mode::Follow).await?;
    let result = watch(&redis).await;
    redis.close().await;
    result
}

async fn watch(redis: &Redis) -> Result<(), CliError> {
    let channel = redis.layout.bus();
    let mut messages = redis.client.message_rx();
    let mut reconnects = redis.client.reconnect_rx();
    subscribe(redis, &channel).await?;
    note(&format!(
        "watching `{channel}` on {} (Ctrl-C to stop)",
        redis.endpoint
    ));
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            message = messages.recv() => match message {
                Ok(message) if message.channel == channel => {
                    let bytes = message.value.as_bytes().unwrap_or_default();
                    line(&describe(timefmt::now_ms(), bytes))?;
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    note(&format!("{missed} notices were dropped: this terminal fell behind"));
                }
                Err(RecvError::Closed) => {
                    return Err(CliError::failure("the connection to Redis was closed"));
                }
            },
            server = reconnects.recv() => {
                if matches!(server, Err(RecvError::Closed)) {
                    return Err(CliError::failure("the connection to Redis was closed"));
                }
                note("reconnected to Redis: notices sent while disconnected were missed");
                subscribe(redis, &channel).await?;
            }
        }
    }
}

async fn subscribe(redis: &Redis, channel: &str) -> Result<(), CliError> {
    redis
        .client
        .subscribe(channel)
        .await
        .map_err(|error| CliError::redis(&format!("SUBSCRIBE {channel}"), &error))
}

/// `<arrival time>  <kind>  <what>  stamp <time> (<raw>)  origin <instance>`.
pub fn describe(now_ms: u64, bytes: &[u8]) -> String {
    let arrived = timefmt::wall(now_ms);
    let Some(notice) = Notice::decode(bytes) else {
        return format!(
            "{arrived}  unreadable  a {}-byte message that is not a notice this build reads",
            bytes.len()
        );
    };
    let (kind, what) = match &notice.change {
        Change::Key { namespace, key } => ("key", format!("{namespace}/{key}")),
        Change::Namespace(namespace) => ("namespace", namespace.clone()),
        Change::All => ("all", "every namespace".to_owned()),
        Change::Tag(tag) => ("tag", tag.clone()),
    };
    format!(
        "{arrived}  {kind:<9}  {what}  stamp {} ({:016x})  origin {:016x}",
        timefmt::wall(notice.stamp.millis()),
        notice.stamp.raw(),
        notice.origin
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiered_cache::engine::Stamp;

    #[test]
    fn notices_read_as_one_line() {
        let notice = Notice {
            origin: 7,
            stamp: Stamp::from_millis(1_000),
            change: Change::Key {
                namespace: "users".to_owned(),
                key: "user:1".to_owned(),
            },
        };
        let text = describe(2_000, &notice.encode());
        assert_eq!(
            text,
            "1970-01-01T00:00:02.000Z  key        users/user:1  stamp \
             1970-01-01T00:00:01.000Z (0000000003e80000)  origin 0000000000000007"
        );
        assert!(describe(0, b"junk").contains("unreadable"));
    }
}
