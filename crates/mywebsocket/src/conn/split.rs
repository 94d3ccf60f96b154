//! Splitting a stream into the halves the reader and the write task own.

use std::any::Any;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::reader::BoxedRead;
use super::write_task::BoxedWrite;

/// Splits `stream` for concurrent reading and writing. A `TcpStream` splits into owned halves
/// that need no lock; any other stream goes through `tokio::io::split`, whose halves share a
/// mutex taken on every poll.
pub(crate) fn split<S>(stream: S) -> (BoxedRead, BoxedWrite)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let stream: Box<dyn Any + Send> = Box::new(stream);
    match stream.downcast::<TcpStream>() {
        Ok(tcp) => {
            let (read, write) = tcp.into_split();
            (Box::new(read), Box::new(write))
        }
        Err(other) => {
            let stream = *other
                .downcast::<S>()
                .expect("the box holds the S it was made from");
            let (read, write) = tokio::io::split(stream);
            (Box::new(read), Box::new(write))
        }
    }
}
