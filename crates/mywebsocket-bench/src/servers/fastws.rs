//! fastwebsockets: hyper 1 serves the upgrade (`upgrade` feature), then a `FragmentCollector`
//! reassembles messages, as in its `echo_server` example (without its
//! `tokio::task::unconstrained`, which no other server gets). Broadcast: the connection is split
//! (`unstable-split`) and the write half is owned by a writer task fed through an unbounded
//! channel, as in its `echo_server_split` example.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use fastwebsockets::upgrade::{upgrade, UpgradeFut};
use fastwebsockets::{
    FragmentCollector, FragmentCollectorRead, Frame, OpCode, Payload, WebSocketError,
};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::hub::{trigger_count, Hub, Queue};
use super::{hyper_accept_loop, Mode};

type Members = Hub<Queue>;

pub(super) async fn serve(listener: TcpListener, mode: Mode) -> io::Result<()> {
    let hub = Arc::new(Hub::new());
    hyper_accept_loop(listener, move |req| on_request(req, mode, Arc::clone(&hub))).await
}

async fn on_request(
    mut req: Request<Incoming>,
    mode: Mode,
    hub: Arc<Members>,
) -> Result<Response<Empty<hyper::body::Bytes>>, WebSocketError> {
    let (response, fut) = upgrade(&mut req)?;
    tokio::spawn(async move {
        let _ = match mode {
            Mode::Echo => echo(fut).await,
            Mode::Broadcast => broadcast(fut, &hub).await,
        };
    });
    Ok(response)
}

async fn echo(fut: UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

async fn broadcast(fut: UpgradeFut, hub: &Members) -> Result<(), WebSocketError> {
    let (rx, mut tx) = fut.await?.split(tokio::io::split);
    let mut rx = FragmentCollectorRead::new(rx);
    let (sender, mut queue) = mpsc::unbounded_channel::<Bytes>();
    hub.join(sender);
    tokio::spawn(async move {
        while let Some(payload) = queue.recv().await {
            let frame = Frame::binary(Payload::Borrowed(&payload));
            if tx.write_frame(frame).await.is_err() {
                break;
            }
        }
    });
    loop {
        // The load generator sends no pings or closes, so no obligated writes arise.
        let frame = rx
            .read_frame::<_, WebSocketError>(&mut |_| async { Ok(()) })
            .await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Binary => {
                let payload = Bytes::copy_from_slice(&frame.payload);
                hub.fan_out(trigger_count(&payload), payload).await;
            }
            _ => {}
        }
    }
}
