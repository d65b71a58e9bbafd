//! Writing results: stdout for data (a closed pipe, as with `| head`, ends the command quietly
//! instead of panicking), stderr for progress and notes.

use std::io::{IsTerminal, Write};

use crate::error::{CliError, Exit};

/// Writes one line to stdout.
///
/// # Errors
/// A quiet success-coded error when the reader went away, so the command stops.
pub fn line(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}").map_err(|error| {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            CliError::pipe_closed()
        } else {
            CliError::with_exit(Exit::Failure, format!("cannot write to stdout: {error}"))
        }
    })
}

/// A note on stderr (failures to write it are ignored: stderr is for humans).
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// A progress counter on stderr, drawn only when stderr is a terminal (plain output when piped).
pub struct Progress {
    live: bool,
    drawn: bool,
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            live: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    pub fn show(&mut self, text: &str) {
        if self.live {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K{text}");
            self.drawn = true;
        }
    }

    /// Erases the counter, so the next line starts clean.
    pub fn clear(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}
