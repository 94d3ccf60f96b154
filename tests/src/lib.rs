//! Shared helpers for the end-to-end tests.
//!
//! Every server here listens on `127.0.0.1:0` and serves one connection; every spawned task is
//! a [`Task`], aborted when dropped, so a failing test leaves nothing running. Wrap each test
//! body in [`bounded`] so a hang fails the test instead of blocking the run ([`tasks`]).
//!
//! Three kinds of peer:
//! - ours ([`ours`]): [`spawn_accept`], [`spawn_echo_server`], [`spawn_hyper_server`],
//!   [`connect_client`];
//! - tokio-tungstenite ([`tungstenite_peer`]): [`spawn_tungstenite_accept`],
//!   [`spawn_tungstenite_echo`], [`tungstenite_connect`];
//! - raw TCP speaking frames by hand ([`RawPeer`], in [`raw`]), parsed and encoded with
//!   tungstenite's frame code ([`frames`]) so that what our library writes is checked by an
//!   independent implementation, and [`raw_http`] ([`handshake`]) for handshakes that should
//!   be refused.
//!
//! Most tests start from a connected pair, ours against one of the others in either role
//! ([`pair`]: [`our_server_and_tungstenite_client`], [`our_client_and_raw_server`], …), so a
//! body generic over [`TungsteniteIo`] can run once per role; they end with the checks of
//! [`ending`] ([`assert_closed`], [`drain`], …). Their payloads come from [`payloads`]
//! ([`pattern`], [`json_text`], …), and [`server`] serves many connections at once.
//!
//! For permessage-deflate: [`Recorder`] keeps a copy of the bytes through a stream so a test
//! can inspect the frames a library hides ([`split_recording`], [`group_messages`], in
//! [`recording`]), and [`deflate_message`] / [`inflate_message`] ([`deflate`]) compress with
//! flate2 directly, independently of our codec.
//!
//! Over HTTP/2 ([`h2peer`]): the h2 crate's client and server open and answer extended
//! CONNECTs by hand ([`H2Client`], [`H2Server`]), each stream a byte stream ([`H2Io`]) or a
//! peer speaking frames by hand ([`H2Peer`]); [`spawn_our_h2_server`] is our side. The case
//! tables that run over both HTTP/1.1 and HTTP/2 are in [`cases`] (used by module path).
//!
//! Every helper is also re-exported here, at the crate root.

pub mod cases;
pub mod deflate;
pub mod ending;
pub mod frames;
pub mod h2peer;
pub mod handshake;
pub mod ours;
pub mod pair;
pub mod payloads;
pub mod raw;
pub mod recording;
pub mod server;
pub mod tasks;
pub mod tungstenite_peer;

pub use deflate::{deflate_message, first_message_compressed, inflate_message, DEFLATE_TAIL};
pub use ending::{
    assert_close_frame, assert_closed, assert_closed_by, assert_closed_without_frame, drain,
    read_close_code,
};
pub use frames::{encode_frame, raw_frame, rsv1_frame, take_frame, RawFrame};
pub use h2peer::{reset_reason, spawn_our_h2_server, H2Client, H2Io, H2Peer, H2Server};
pub use handshake::{
    find_header, raw_http, upgrade_by_hand, upgrade_request, HttpReply, SAMPLE_KEY,
};
pub use ours::{
    connect_client, echo, non_reading_config, spawn_accept, spawn_echo_server, spawn_hyper_server,
};
pub use pair::{
    our_client_and_raw_server, our_client_and_tungstenite_server, our_server_and_raw_client,
    our_server_and_tungstenite_client,
};
pub use payloads::{assert_same_bytes, json_text, pattern, random_bytes, text_pattern};
pub use raw::RawPeer;
pub use recording::{group_messages, split_recording, Recorder, Recording};
pub use tasks::{bounded, listen, ws_url, Task, TEST_TIMEOUT};
pub use tungstenite_peer::{
    spawn_tungstenite_accept, spawn_tungstenite_echo, tungstenite_connect, TungsteniteClient,
    TungsteniteIo, TungsteniteServer,
};

/// The README's examples, compiled and run as doctests so they cannot go stale. They live in
/// this crate because it depends on every crate the README shows.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Each published crate's own README (what crates.io shows), compiled and run as doctests.
#[cfg(doctest)]
pub mod crate_readmes {
    #[doc = include_str!("../../crates/mywebsocket/README.md")]
    pub struct Mywebsocket;
    #[doc = include_str!("../../crates/mywebsocket-proto/README.md")]
    pub struct MywebsocketProto;
    #[doc = include_str!("../../crates/mywebsocket-files-proto/README.md")]
    pub struct MywebsocketFilesProto;
    #[doc = include_str!("../../crates/mywebsocket-files/README.md")]
    pub struct MywebsocketFiles;
    #[doc = include_str!("../../crates/mywebsocket-hub/README.md")]
    pub struct MywebsocketHub;
    #[doc = include_str!("../../wasm-client/README.md")]
    pub struct MywebsocketWasm;
}

/// docs/migrating.md: tokio-tungstenite and axum code beside ours, both sides compiled and run.
#[cfg(doctest)]
#[doc = include_str!("../../docs/migrating.md")]
pub struct MigratingDoctests;
