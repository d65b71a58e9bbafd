//! What Redis's replies mean to the cache: the one place that decides what counts as Redis
//! being unusable (it opens the breaker) and what is a refused command (counted, and the tier
//! stays up).

use fred::error::{Error, ErrorKind};
use tiered_cache_core::l2::{L2Error, Refusal};

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

#[cfg(test)]
mod tests {
    use super::*;

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
