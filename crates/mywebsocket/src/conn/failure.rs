//! Why a connection's write task stopped, reported to every later caller.

use std::sync::Arc;
use std::{fmt, io};

use crate::error::{Error, TimeoutKind};

/// Why the write task stopped early.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// The socket failed; each caller gets an [`Error::Io`] that keeps this error's cause.
    Io(Arc<io::Error>),
    Timeout,
}

impl Failure {
    /// The error a caller gets once the write task has stopped.
    pub(crate) fn to_error(&self) -> Error {
        match self {
            Self::Io(e) => Error::Io(io::Error::new(e.kind(), SharedIoError(Arc::clone(e)))),
            Self::Timeout => Error::Timeout(TimeoutKind::Write),
        }
    }
}

/// The write task's I/O error, shared by the errors of every caller that sees it (an
/// `io::Error` cannot be cloned). It reads as the original, and its source is what the
/// original wraps (such as the `rustls::Error` of a failed TLS write), so the cause is not
/// flattened into a string.
#[derive(Debug)]
struct SharedIoError(Arc<io::Error>);

impl fmt::Display for SharedIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for SharedIoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.0.get_ref() {
            Some(inner) => Some(inner),
            None => self.0.source(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[derive(Debug)]
    struct Cause;

    impl fmt::Display for Cause {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the cause")
        }
    }

    impl std::error::Error for Cause {}

    #[test]
    fn every_caller_gets_the_kind_the_message_and_the_cause() {
        let failure = Failure::Io(Arc::new(io::Error::new(io::ErrorKind::BrokenPipe, Cause)));
        for _ in 0..2 {
            let Error::Io(io) = failure.to_error() else {
                panic!("an i/o failure is Error::Io")
            };
            assert_eq!(io.kind(), io::ErrorKind::BrokenPipe);
            assert_eq!(io.to_string(), "the cause");
            assert!(io.source().is_some_and(|cause| cause.is::<Cause>()));
        }
        let os = Failure::Io(Arc::new(io::Error::from(io::ErrorKind::ConnectionReset)));
        let Error::Io(io) = os.to_error() else {
            panic!("an i/o failure is Error::Io")
        };
        assert_eq!(io.kind(), io::ErrorKind::ConnectionReset);
        assert!(io.source().is_none());
    }
}
