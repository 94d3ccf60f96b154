//! How the write task puts a batch of frames on the socket.
//!
//! Small frames are copied next to their headers, so that a batch of many goes out in one
//! `writev` of a few slices; large payloads go as slices of their own memory. The copy is
//! made in a buffer of the thread's, not of the connection's: most batches go out whole in
//! one system call, and then the connection keeps nothing between batches (a per-connection
//! copy buffer cost a busy connection as much as its read buffer). Only what the socket does
//! not take at once is kept by the connection, as chunks, until the socket takes it.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use mywebsocket_proto::Frame;

use super::write_task::BoxedWrite;

/// Payloads up to this size are copied next to their header into one buffer; larger ones are
/// written from their own memory with `writev`, since a copy would cost more than a slice.
/// Measured with `bench --payloads 1024,16384`: 16 KiB here made 16 KiB echoes 40% slower
/// than 4 KiB (batches of them grew the copy buffer past a megabyte, and glibc mapped and
/// unmapped it for every batch), while 1 KiB here slowed 1 KiB echoes.
const COPY_THRESHOLD: usize = 4 << 10;

/// A copy buffer handed to the kernel once it holds this much, so that a batch of many small
/// frames never needs one large allocation.
const MAX_COPY: usize = 64 << 10;

/// The most slices handed to one `writev` (Linux allows 1024; beyond a few dozen there is no
/// gain).
const MAX_IOV: usize = 64;

thread_local! {
    /// The thread's copy buffer: for the write task's batches and for direct writes
    /// (`direct.rs`).
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with the thread's copy buffer, emptied. Taken out of its cell meanwhile: a write
/// can call into another (a WebSocket tunnelled through another's `Writer` writes to it from
/// inside its own `poll_write`), and the inner one then gets a buffer of its own.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut scratch = SCRATCH.take();
    scratch.clear();
    let result = f(&mut scratch);
    SCRATCH.set(scratch);
    result
}

/// One slice of a `writev`: a range of the copy buffer, or the payload of a frame.
#[derive(Clone, Copy)]
enum Piece {
    Copied { start: usize, end: usize },
    Payload(usize),
}

/// What the socket has not taken yet of the batch in progress.
#[derive(Default)]
pub(crate) struct Batch {
    chunks: VecDeque<Bytes>,
}

impl Batch {
    /// Bytes to write before the next batch's frames (the rest of a half-written frame).
    pub(crate) fn push_front_chunks(&mut self, chunks: &mut VecDeque<Bytes>) {
        debug_assert!(
            self.chunks.is_empty(),
            "a batch starts with nothing lined up"
        );
        self.chunks.append(chunks);
    }

    /// Writes `frames` (emptying it) after the chunks already lined up, as far as the socket
    /// takes them now, then flushes. `Ready` when all of it is on the socket, or the socket
    /// failed; `Pending` with the rest lined up for [`Batch::poll_write`].
    pub(crate) fn poll_start(
        &mut self,
        io: &mut BoxedWrite,
        frames: &mut VecDeque<Frame>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if self.chunks.is_empty() {
            if let Err(e) = with_scratch(|scratch| self.write_from_scratch(io, frames, scratch, cx))
            {
                frames.clear();
                return Poll::Ready(Err(e));
            }
        }
        self.line_up(frames);
        self.poll_write(io, cx)
    }

    /// Writes frames from the front of `frames`, small ones copied into `scratch`, group by
    /// group, until all are written or the socket takes less than a group: the rest of that
    /// group is then lined up as chunks, and the frames not reached stay in `frames`.
    fn write_from_scratch(
        &mut self,
        io: &mut BoxedWrite,
        frames: &mut VecDeque<Frame>,
        scratch: &mut Vec<u8>,
        cx: &mut Context<'_>,
    ) -> io::Result<()> {
        while !frames.is_empty() {
            let group = frames.make_contiguous();
            let (taken, whole) =
                write_group(io, group, COPY_THRESHOLD, scratch, cx, &mut self.chunks)?;
            frames.drain(..taken);
            if !whole {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Lines up `frames` (emptying it) as chunks after those already there.
    fn line_up(&mut self, frames: &mut VecDeque<Frame>) {
        // Local: the chunks hold what they need, and a copy buffer kept would sit idle
        // between batches.
        let mut copy = BytesMut::new();
        for frame in frames.drain(..) {
            copy.extend_from_slice(frame.head());
            if frame.payload().len() <= COPY_THRESHOLD {
                copy.extend_from_slice(frame.payload());
                if copy.len() >= MAX_COPY {
                    self.chunks.push_back(copy.split().freeze());
                }
            } else {
                self.chunks.push_back(copy.split().freeze());
                self.chunks.push_back(frame.payload().clone());
            }
        }
        if !copy.is_empty() {
            self.chunks.push_back(copy.freeze());
        }
        self.chunks.retain(|c| !c.is_empty());
    }

    /// Writes the chunks lined up, then flushes; ready once all of them are on the socket (or
    /// the socket failed, which drops the rest). Polled again after `Pending`, it carries on.
    pub(crate) fn poll_write(
        &mut self,
        io: &mut BoxedWrite,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let result = ready!(self.poll_write_chunks(io, cx));
        if result.is_err() {
            self.chunks.clear();
            return Poll::Ready(result);
        }
        Pin::new(&mut **io).poll_flush(cx)
    }

    fn poll_write_chunks(
        &mut self,
        io: &mut BoxedWrite,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let chunks = &mut self.chunks;
        while !chunks.is_empty() {
            // The slices live on the stack of each poll, not in the task's future, so an idle
            // connection does not carry a kilobyte of them.
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let mut count = 0;
            for (slot, chunk) in slices.iter_mut().zip(chunks.iter()) {
                *slot = IoSlice::new(chunk);
                count += 1;
            }
            let written = ready!(Pin::new(&mut **io).poll_write_vectored(cx, &slices[..count]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            let mut left = written;
            while left > 0 {
                let front = chunks
                    .front_mut()
                    .expect("the kernel wrote no more than we gave it");
                if front.len() <= left {
                    left -= front.len();
                    chunks.pop_front();
                } else {
                    front.advance(left);
                    left = 0;
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// One non-blocking write of as many of `frames` as one `writev` takes (`MAX_IOV` slices,
/// about `MAX_COPY` copied bytes): payloads up to `copy_up_to` bytes copied next to their
/// header into `scratch`, larger ones as slices of their own memory. Gives how many frames it
/// took and whether the socket took all of them; what it did not take of those is appended to
/// `rest` (copies of what was copied, slices of the payloads).
pub(crate) fn write_group(
    io: &mut BoxedWrite,
    frames: &[Frame],
    copy_up_to: usize,
    scratch: &mut Vec<u8>,
    cx: &mut Context<'_>,
    rest: &mut VecDeque<Bytes>,
) -> io::Result<(usize, bool)> {
    scratch.clear();
    let mut pieces = [Piece::Payload(0); MAX_IOV];
    let mut count = 0;
    let mut taken = 0;
    for frame in frames {
        if count + 2 > MAX_IOV || scratch.len() >= MAX_COPY {
            break;
        }
        let start = scratch.len();
        scratch.extend_from_slice(frame.head());
        let small = frame.payload().len() <= copy_up_to;
        if small {
            scratch.extend_from_slice(frame.payload());
        }
        let end = scratch.len();
        match count.checked_sub(1).map(|last| &mut pieces[last]) {
            Some(Piece::Copied { end: last_end, .. }) => *last_end = end,
            _ => {
                pieces[count] = Piece::Copied { start, end };
                count += 1;
            }
        }
        if !small {
            pieces[count] = Piece::Payload(taken);
            count += 1;
        }
        taken += 1;
    }
    let mut slices = [IoSlice::new(&[]); MAX_IOV];
    let mut total = 0;
    for (slot, piece) in slices.iter_mut().zip(&pieces[..count]) {
        let bytes = match *piece {
            Piece::Copied { start, end } => &scratch[start..end],
            Piece::Payload(i) => &frames[i].payload()[..],
        };
        total += bytes.len();
        *slot = IoSlice::new(bytes);
    }
    // One buffer goes with `write`: a `writev` of one slice costs a little more.
    let attempt = match count {
        1 => Pin::new(&mut **io).poll_write(cx, &slices[0]),
        _ => Pin::new(&mut **io).poll_write_vectored(cx, &slices[..count]),
    };
    let written = match attempt {
        Poll::Ready(Ok(0)) if total > 0 => return Err(io::ErrorKind::WriteZero.into()),
        Poll::Ready(Ok(n)) => n,
        Poll::Ready(Err(e)) => return Err(e),
        Poll::Pending => 0,
    };
    let mut skip = written;
    for (piece, slice) in pieces[..count].iter().zip(&slices) {
        if skip >= slice.len() {
            skip -= slice.len();
            continue;
        }
        rest.push_back(match *piece {
            Piece::Copied { .. } => Bytes::copy_from_slice(&slice[skip..]),
            Piece::Payload(i) => frames[i].payload().slice(skip..),
        });
        skip = 0;
    }
    Ok((taken, written == total))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::task::Waker;

    use mywebsocket_proto::OpCode;
    use tokio::io::AsyncWrite;

    use super::*;

    /// Takes at most `step` bytes per call, and answers every `pending_every`-th call with
    /// `Pending`; records what it took.
    struct Stingy {
        out: Arc<Mutex<Vec<u8>>>,
        step: usize,
        pending_every: usize,
        calls: usize,
        vectored: bool,
    }

    impl AsyncWrite for Stingy {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.calls += 1;
            if self.pending_every > 0 && self.calls.is_multiple_of(self.pending_every) {
                return Poll::Pending;
            }
            let n = buf.len().min(self.step);
            self.out.lock().unwrap().extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            // Without vectored writes (TLS), only the first non-empty slice goes, as in
            // tokio's default.
            let step = if self.vectored {
                self.step
            } else {
                let first = bufs.iter().find(|b| !b.is_empty()).map_or(0, |b| b.len());
                first.min(self.step)
            };
            let all: Vec<u8> = bufs
                .iter()
                .flat_map(|b| b.iter().copied())
                .take(step)
                .collect();
            self.as_mut().poll_write(cx, &all)
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn frames(sizes: &[usize]) -> VecDeque<Frame> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let payload: Vec<u8> = (0..n).map(|j| (i * 31 + j) as u8).collect();
                Frame::single(OpCode::Binary, Bytes::from(payload), None)
            })
            .collect()
    }

    /// Whatever the socket takes at a time, the bytes arrive whole and in order, and the
    /// batch keeps nothing once written.
    #[test]
    fn every_byte_arrives_in_order() {
        let small = [0, 1, 20, 125, 126, 1000, 4096];
        let large = [4097, 70_000];
        let mut mixes: Vec<Vec<usize>> = vec![
            small.to_vec(),
            large.to_vec(),
            small.iter().chain(&large).copied().collect(),
            // More slices than one `writev` takes, and more copies than one copy buffer.
            std::iter::repeat_n([10, 5000], 50).flatten().collect(),
            std::iter::repeat_n(2000, 100).collect(),
        ];
        mixes.push(vec![3; 500]);
        for sizes in &mixes {
            let cases = [
                (usize::MAX, 0, true),
                (1 << 20, 2, true),
                (97, 3, true),
                (1000, 0, true),
                (usize::MAX, 0, false),
                (1000, 2, false),
            ];
            for (step, pending_every, vectored) in cases {
                let out = Arc::new(Mutex::new(Vec::new()));
                let mut io: BoxedWrite = Box::new(Stingy {
                    out: Arc::clone(&out),
                    step,
                    pending_every,
                    calls: 0,
                    vectored,
                });
                let mut queued = frames(sizes);
                let expected: Vec<u8> = queued.iter().flat_map(|f| f.to_bytes()).collect();
                let mut batch = Batch::default();
                let mut cx = Context::from_waker(Waker::noop());
                let mut done = batch.poll_start(&mut io, &mut queued, &mut cx);
                assert!(queued.is_empty(), "every frame is taken");
                let mut polls = 0;
                while done.is_pending() {
                    polls += 1;
                    assert!(polls < 1_000_000, "no progress");
                    done = batch.poll_write(&mut io, &mut cx);
                }
                assert!(matches!(done, Poll::Ready(Ok(()))));
                let got = out.lock().unwrap();
                assert!(
                    *got == expected,
                    "sizes {sizes:?}, step {step}, pending every {pending_every}, vectored {vectored}"
                );
                assert!(batch.chunks.is_empty());
            }
        }
    }

    /// A chunk left from an earlier write goes out before the batch.
    #[test]
    fn chunks_lined_up_go_first() {
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut io: BoxedWrite = Box::new(Stingy {
            out: Arc::clone(&out),
            step: 5,
            pending_every: 0,
            calls: 0,
            vectored: true,
        });
        let mut batch = Batch::default();
        batch.push_front_chunks(&mut VecDeque::from([Bytes::from_static(b"rest")]));
        let mut queued = frames(&[3]);
        let mut expected = b"rest".to_vec();
        expected.extend_from_slice(&queued[0].to_bytes());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(
            batch.poll_start(&mut io, &mut queued, &mut cx),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(*out.lock().unwrap(), expected);
    }

    /// A socket that fails drops the batch and reports the error.
    #[test]
    fn a_failed_write_is_reported() {
        struct Broken;
        impl AsyncWrite for Broken {
            fn poll_write(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                _: &[u8],
            ) -> Poll<io::Result<usize>> {
                Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }
        let mut io: BoxedWrite = Box::new(Broken);
        let mut batch = Batch::default();
        let mut queued = frames(&[10, 5000, 10]);
        let mut cx = Context::from_waker(Waker::noop());
        match batch.poll_start(&mut io, &mut queued, &mut cx) {
            Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::BrokenPipe),
            _ => panic!("the error is reported"),
        }
        assert!(queued.is_empty() && batch.chunks.is_empty());
    }
}
