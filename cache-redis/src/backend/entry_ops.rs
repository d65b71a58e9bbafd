//! The entry's conditional write and its load lock: the scripts a cold miss runs. The lock is
//! taken together with a read of the entry, and released by the lock holder's write, one script
//! each; only where a Cluster keeps the lock in another slot than the entry (a user key with `}`
//! and no hash tag, see [`Layout::lock_shares_slot`](crate::layout::Layout::lock_shares_slot))
//! is each a round trip of its own.

use bytes::Bytes;
use fred::prelude::*;
use fred::types::scripts::Script;
use tiered_cache_core::Stamp;
use tiered_cache_core::keys::KeyRef;
use tiered_cache_core::l2::{L2Error, LockTaken, Undecodable, WriteOutcome};

use super::{RedisL2, millis};
use crate::reply::map_error;

impl RedisL2 {
    /// Runs a lock script (take or renew) for `token` with `ttl_ms`; true when it took effect.
    pub(super) async fn lock_script(
        &self,
        script: &Script,
        key: KeyRef<'_>,
        token: u64,
        ttl_ms: u64,
    ) -> Result<bool, L2Error> {
        let done: i64 = self
            .eval(
                script,
                vec![self.layout.lock(key.namespace, key.key)],
                vec![token.to_string().into(), Value::Integer(millis(ttl_ms))],
            )
            .await
            .map_err(map_error)?;
        Ok(done == 1)
    }

    /// Whether the load lock of `key` lives in another cluster slot than its entry, so that no
    /// script can touch both: the one place that decides between one round trip and two.
    fn lock_apart(&self, key: KeyRef<'_>) -> bool {
        self.clustered && !self.layout.lock_shares_slot(key.key)
    }

    /// The conditional write of an envelope (see `scripts::PUT_IF_NEWER`); with `release`, also
    /// the release of the load lock that token holds, in the same script (never where
    /// [`lock_apart`](Self::lock_apart)).
    #[allow(clippy::too_many_arguments)] // `put`'s arguments, and the lock's token
    pub(super) async fn write(
        &self,
        key: KeyRef<'_>,
        envelope: Bytes,
        created: Stamp,
        ttl_ms: u64,
        notice: Option<Bytes>,
        overwrite: Option<Undecodable>,
        release: Option<u64>,
    ) -> Result<WriteOutcome, L2Error> {
        let mut args = vec![
            Value::Bytes(envelope),
            Value::Bytes(Bytes::copy_from_slice(&created.raw().to_be_bytes())),
            Value::Integer(millis(ttl_ms)),
        ];
        args.extend(self.notice_args(notice));
        match overwrite {
            Some(junk) => args.extend([
                Value::from(junk.len.to_string()),
                Value::Bytes(Bytes::copy_from_slice(&junk.stamp_bytes)),
            ]),
            None => args.extend([Value::from(""), Value::from("")]),
        }
        let mut keys = vec![self.layout.entry(key.namespace, key.key)];
        let script = match release {
            Some(token) => {
                keys.push(self.layout.lock(key.namespace, key.key));
                args.push(token.to_string().into());
                &self.put_unlock_script
            }
            None => &self.put_script,
        };
        let written: i64 = self.eval(script, keys, args).await.map_err(map_error)?;
        Ok(if written == 1 {
            WriteOutcome::Written
        } else {
            WriteOutcome::Superseded
        })
    }

    /// Takes the load lock of `key` for `token` and, with it taken, reads the entry in the same
    /// script; where [`lock_apart`](Self::lock_apart), takes the lock alone (`entry: None`).
    pub(super) async fn lock_and_read(
        &self,
        key: KeyRef<'_>,
        token: u64,
        ttl_ms: u64,
    ) -> Result<LockTaken, L2Error> {
        if self.lock_apart(key) {
            return Ok(LockTaken {
                acquired: self
                    .lock_script(&self.try_lock_script, key, token, ttl_ms)
                    .await?,
                entry: None,
            });
        }
        let reply: Value = self
            .eval(
                &self.try_lock_and_read_script,
                vec![
                    self.layout.lock(key.namespace, key.key),
                    self.layout.entry(key.namespace, key.key),
                ],
                vec![token.to_string().into(), Value::Integer(millis(ttl_ms))],
            )
            .await
            .map_err(map_error)?;
        crate::reply::lock_taken(reply)
    }

    /// Releases the load lock of `key` if `token` holds it.
    pub(super) async fn release_lock(&self, key: KeyRef<'_>, token: u64) -> Result<(), L2Error> {
        self.eval::<i64>(
            &self.unlock_script,
            vec![self.layout.lock(key.namespace, key.key)],
            vec![token.to_string().into()],
        )
        .await
        .map(|_| ())
        .map_err(map_error)
    }

    /// The lock holder's write, and the release of its lock whatever the write's outcome: in
    /// one script, or the write then the release where [`lock_apart`](Self::lock_apart).
    #[allow(clippy::too_many_arguments)] // `put`'s arguments, and the lock's token
    pub(super) async fn write_and_release(
        &self,
        key: KeyRef<'_>,
        envelope: Bytes,
        created: Stamp,
        ttl_ms: u64,
        notice: Option<Bytes>,
        overwrite: Option<Undecodable>,
        token: u64,
    ) -> Result<(WriteOutcome, bool), L2Error> {
        if self.lock_apart(key) {
            let outcome = self
                .write(key, envelope, created, ttl_ms, notice, overwrite, None)
                .await?;
            return Ok((outcome, self.release_lock(key, token).await.is_ok()));
        }
        let outcome = self
            .write(
                key,
                envelope,
                created,
                ttl_ms,
                notice,
                overwrite,
                Some(token),
            )
            .await?;
        Ok((outcome, true))
    }
}
