//! A minimal Redis client for the bench's own look-ups (`INFO`, `CLUSTER NODES`, `CONFIG
//! GET`): one short connection per command, RESP2 answers, blocking with timeouts. The chat
//! nodes use the `redis` crate; the bench does not need it for a few commands.

use std::io::{BufRead, BufReader, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long one command may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// `CONFIG GET name`'s value.
pub(super) fn config_get(addr: SocketAddr, name: &str) -> Result<String, String> {
    let mut stream = connect(addr)?;
    send(&mut stream, &["CONFIG", "GET", name])?;
    let mut reader = BufReader::new(stream);
    match read_reply(&mut reader)? {
        Reply::Array(items) if items.len() == 2 => match &items[1] {
            Reply::Text(v) => Ok(v.clone()),
            other => Err(format!("CONFIG GET {name}: {other:?}")),
        },
        other => Err(format!("CONFIG GET {name}: {other:?}")),
    }
}

/// Sends `args` to `addr` and returns its answer, which must be a string.
pub(super) fn command(addr: SocketAddr, args: &[&str]) -> Result<String, String> {
    let mut stream = connect(addr)?;
    send(&mut stream, args)?;
    match read_reply(&mut BufReader::new(stream))? {
        Reply::Text(text) => Ok(text),
        other => Err(format!("{addr}: {}: {other:?}", args.join(" "))),
    }
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| format!("connecting to Redis at {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| format!("{addr}: {e}"))?;
    Ok(stream)
}

fn send(stream: &mut TcpStream, args: &[&str]) -> Result<(), String> {
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending {}: {e}", args.join(" ")))
}

/// A RESP2 answer, as far as these commands need.
#[derive(Debug)]
enum Reply {
    Text(String),
    /// An integer (none of these commands' answers needs its value).
    Int,
    Nil,
    Array(Vec<Reply>),
}

fn read_reply(reader: &mut impl BufRead) -> Result<Reply, String> {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| format!("reading from Redis: {e}"))?;
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(line.len().min(1));
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| format!("unexpected answer from Redis: {line:?}"))
    };
    match kind {
        "+" => Ok(Reply::Text(rest.to_owned())),
        "-" => Err(format!("Redis: {rest}")),
        ":" => number().map(|_| Reply::Int),
        "$" => {
            let Ok(len) = usize::try_from(number()?) else {
                return Ok(Reply::Nil);
            };
            let mut data = vec![0; len + 2];
            reader
                .read_exact(&mut data)
                .map_err(|e| format!("reading from Redis: {e}"))?;
            data.truncate(len);
            Ok(Reply::Text(String::from_utf8_lossy(&data).into_owned()))
        }
        "*" => {
            let Ok(n) = usize::try_from(number()?) else {
                return Ok(Reply::Nil);
            };
            (0..n)
                .map(|_| read_reply(reader))
                .collect::<Result<_, _>>()
                .map(Reply::Array)
        }
        _ => Err(format!("unexpected answer from Redis: {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed() {
        let mut input: &[u8] = b"*2\r\n$11\r\nappendfsync\r\n$6\r\nalways\r\n";
        match read_reply(&mut input).unwrap() {
            Reply::Array(items) => {
                assert!(matches!(&items[1], Reply::Text(v) if v == "always"));
            }
            other => panic!("{other:?}"),
        }
        let mut input: &[u8] = b"-ERR unknown\r\n";
        assert!(read_reply(&mut input).is_err());
        let mut input: &[u8] = b":5\r\n";
        assert!(matches!(read_reply(&mut input), Ok(Reply::Int)));
        let mut input: &[u8] = b"$-1\r\n";
        assert!(matches!(read_reply(&mut input), Ok(Reply::Nil)));
    }
}
