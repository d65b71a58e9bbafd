//! What Redis's replies mean to the cache: the one place that decides what counts as Redis
//! being unusable (it opens the breaker) and what is a refused command (counted, and the tier
//! stays up).

use fred::error::{Error, ErrorKind};
use fred::types::Value;
use tiered_cache_core::l2::{L2Error, LockTaken, Refusal};

/// Maps a fred error to what the engine needs to know: the one place that decides what counts
/// as Redis being unusable (it opens the breaker) and what is a refused command (counted, and
/// the tier stays up).
pub(crate) fn map_error(error: Error) -> L2Error {
    let details = error.details();
    match error.kind() {
        ErrorKind::Timeout => return L2Error::Timeout,
        // The socket failed, or fred refused the command at once because the connection is
        // down (`fail_fast`): nothing sent on it now will be answered.
        ErrorKind::IO | ErrorKind::Canceled => return L2Error::Disconnected(details.to_owned()),
        // Server replies arrive as these kinds, their text starting with the reply's code.
        ErrorKind::Unknown | ErrorKind::InvalidArgument | ErrorKind::InvalidCommand => {}
        kind => return L2Error::Unavailable(format!("{kind:?}: {details}")),
    }
    let code = details.split_whitespace().next().unwrap_or_default();
    let refused = |kind| L2Error::Refused {
        kind,
        message: details.to_owned(),
    };
    match code {
        "WRONGTYPE" => L2Error::Data(details.to_owned()),
        "OOM" => refused(Refusal::OutOfMemory),
        "READONLY" => refused(Refusal::ReadOnly),
        "NOPERM" => refused(Refusal::NoPermission),
        // The server can serve nothing for now: as good as down.
        "LOADING" | "BUSY" | "MASTERDOWN" | "CLUSTERDOWN" | "NOAUTH" | "WRONGPASS" => {
            L2Error::Unavailable(details.to_owned())
        }
        code if !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase()) => {
            refused(Refusal::Other)
        }
        _ => L2Error::Unavailable(format!("{:?}: {details}", error.kind())),
    }
}

/// Reads the reply of the lock-and-read script (`scripts::TRY_LOCK_AND_READ`).
pub(crate) fn lock_taken(reply: Value) -> Result<LockTaken, L2Error> {
    let mut items = reply.into_array().into_iter();
    let status = items.next().and_then(|status| status.as_i64());
    let entry = items.next();
    match (status, entry) {
        (Some(0), None) => Ok(LockTaken {
            acquired: false,
            entry: None,
        }),
        (Some(1), None | Some(Value::Null)) => Ok(LockTaken {
            acquired: true,
            entry: Some(Ok(None)),
        }),
        (Some(1), Some(value)) => match value.into_bytes() {
            Some(bytes) => Ok(LockTaken {
                acquired: true,
                entry: Some(Ok(Some(bytes))),
            }),
            None => Err(unexpected()),
        },
        (Some(2), None) => Ok(LockTaken {
            acquired: true,
            entry: Some(Err(L2Error::Data(
                "WRONGTYPE the entry's key holds a value that is not a string".to_owned(),
            ))),
        }),
        _ => Err(unexpected()),
    }
}

/// A reply of a shape our own script never sends (another program's script under its hash?):
/// refused, not a sign that Redis is down.
fn unexpected() -> L2Error {
    L2Error::Refused {
        kind: Refusal::Other,
        message: "unexpected reply to the lock script".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn the_lock_and_read_reply_says_whether_the_lock_was_taken_and_what_the_entry_held() {
        let taken = |reply: Vec<Value>| lock_taken(Value::Array(reply));
        let not = taken(vec![Value::Integer(0)]).expect("a reply");
        assert!(!not.acquired && not.entry.is_none());
        let empty = taken(vec![Value::Integer(1)]).expect("a reply");
        assert!(empty.acquired && matches!(empty.entry, Some(Ok(None))));
        let held = taken(vec![
            Value::Integer(1),
            Value::Bytes(Bytes::from_static(b"\x00env")),
        ])
        .expect("a reply");
        assert!(
            matches!(held.entry, Some(Ok(Some(ref b))) if b.as_ref() == b"\x00env"),
            "{held:?}"
        );
        let hash = taken(vec![Value::Integer(2)]).expect("a reply");
        assert!(hash.acquired && matches!(hash.entry, Some(Err(L2Error::Data(_)))));
        for odd in [
            vec![],
            vec![Value::Integer(7)],
            vec![Value::Integer(0), Value::Integer(1)],
        ] {
            let error = taken(odd).expect_err("not our script's reply");
            assert!(!error.is_connectivity());
        }
    }

    fn reply(kind: ErrorKind, text: &str) -> L2Error {
        map_error(Error::new(kind, text.to_owned()))
    }

    fn refusal(error: &L2Error) -> Option<Refusal> {
        match error {
            L2Error::Refused { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Regression: every error reply counted as "L2 unavailable" and opened the breaker, so an
    /// OOM under `noeviction` or a READONLY during a failover switched L2 reads off for all.
    #[test]
    fn regression_refused_commands_are_not_connectivity_failures() {
        let oom = reply(
            ErrorKind::Unknown,
            "OOM command not allowed when used memory > 'maxmemory'.",
        );
        assert_eq!(refusal(&oom), Some(Refusal::OutOfMemory));
        assert!(!oom.is_connectivity());
        let readonly = reply(
            ErrorKind::Unknown,
            "READONLY You can't write against a read only replica.",
        );
        assert_eq!(refusal(&readonly), Some(Refusal::ReadOnly));
        let noperm = reply(
            ErrorKind::Unknown,
            "NOPERM this user has no permissions to run the 'evalsha' command",
        );
        assert_eq!(refusal(&noperm), Some(Refusal::NoPermission));
        let range = reply(
            ErrorKind::Unknown,
            "ERR invalid expire time in 'set' command",
        );
        assert_eq!(refusal(&range), Some(Refusal::Other));
        assert!(matches!(
            reply(
                ErrorKind::InvalidArgument,
                "WRONGTYPE Operation against a key"
            ),
            L2Error::Data(_)
        ));
    }

    #[test]
    fn a_server_that_can_serve_nothing_and_a_broken_connection_are_connectivity() {
        for text in [
            "LOADING Redis is loading the dataset in memory",
            "BUSY Redis is busy running a script.",
            "MASTERDOWN Link with MASTER is down",
        ] {
            assert!(reply(ErrorKind::Unknown, text).is_connectivity(), "{text}");
        }
        for (kind, text) in [
            (ErrorKind::IO, "Connection reset by peer"),
            (ErrorKind::Canceled, "Connection closed unexpectedly."),
        ] {
            let error = reply(kind, text);
            assert!(matches!(error, L2Error::Disconnected(_)), "{error:?}");
            assert!(error.is_connectivity());
        }
        assert!(reply(ErrorKind::Auth, "WRONGPASS invalid username-password").is_connectivity());
        assert_eq!(
            reply(ErrorKind::Timeout, "Request timed out."),
            L2Error::Timeout
        );
        assert!(reply(ErrorKind::Unknown, "something else went wrong").is_connectivity());
    }
}
