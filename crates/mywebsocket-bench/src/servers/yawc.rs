//! yawc: hyper 1 serves the upgrade (`WebSocket::upgrade_with_options`), then the `Stream` /
//! `Sink` of frames. Options: 64 MiB limits like the other libraries' defaults (yawc's own is
//! 1 MiB, exclusive), UTF-8 validation on (off by default; every other server validates), and
//! for the compressing variant its low-latency preset (level 1, like ours). Broadcast: a writer
//! task per connection fed through an unbounded channel.

use std::io;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use yawc::frame::{Frame, OpCode};
use yawc::{HttpWebSocket, Options, UpgradeFut, WebSocket};

use super::hub::{trigger_count, Hub, Queue};
use super::{hyper_accept_loop, Mode};

type Members = Hub<Queue>;

/// The incoming size limit given to yawc, matching the other libraries' 64 MiB defaults.
const MAX_MESSAGE: usize = 64 << 20;

fn options(deflate: bool) -> Options {
    let options = Options::default()
        .with_limits(MAX_MESSAGE, 2 * MAX_MESSAGE)
        .with_utf8()
        .with_no_delay();
    if deflate {
        options.with_low_latency_compression()
    } else {
        options.without_compression()
    }
}

pub(super) async fn serve(listener: TcpListener, mode: Mode, deflate: bool) -> io::Result<()> {
    let hub = Arc::new(Hub::new());
    hyper_accept_loop(listener, move |req| {
        on_request(req, mode, deflate, Arc::clone(&hub))
    })
    .await
}

async fn on_request(
    mut req: Request<Incoming>,
    mode: Mode,
    deflate: bool,
    hub: Arc<Members>,
) -> yawc::Result<Response<Empty<hyper::body::Bytes>>> {
    let (response, fut) = WebSocket::upgrade_with_options(&mut req, options(deflate))?;
    tokio::spawn(async move {
        let _ = match mode {
            Mode::Echo => echo(fut).await,
            Mode::Broadcast => broadcast(fut, &hub).await,
        };
    });
    Ok(response)
}

async fn echo(fut: UpgradeFut) -> yawc::Result<()> {
    let mut ws: HttpWebSocket = fut.await?;
    while let Some(frame) = ws.next().await {
        let reply = match frame.opcode() {
            OpCode::Text => Frame::text(frame.into_payload()),
            OpCode::Binary => Frame::binary(frame.into_payload()),
            OpCode::Close => break,
            _ => continue,
        };
        ws.send(reply).await?;
    }
    Ok(())
}

async fn broadcast(fut: UpgradeFut, hub: &Members) -> yawc::Result<()> {
    let ws: HttpWebSocket = fut.await?;
    let (sink, mut stream) = ws.split();
    hub.join_sink(sink, Frame::binary);
    while let Some(frame) = stream.next().await {
        if frame.opcode() == OpCode::Binary {
            let payload = frame.into_payload();
            hub.fan_out(trigger_count(&payload), payload).await;
        }
    }
    Ok(())
}
