//! Every server, in this process, answers the load generator: echo, broadcast, and
//! permessage-deflate where it should.

use std::sync::Arc;
use std::time::Duration;

use mywebsocket_bench::json;
use mywebsocket_bench::loadgen::conn::connect_many;
use mywebsocket_bench::loadgen::echo::{self, EchoPlan};
use mywebsocket_bench::loadgen::frames::{client_frame, payload, MASK_KEY, OP_BINARY, OP_TEXT};
use mywebsocket_bench::loadgen::{broadcast, one_in_flight, Timing};
use mywebsocket_bench::process::cpu_time;
use mywebsocket_bench::servers::{self, Impl, Mode};

const TIMING: Timing = Timing {
    warmup: Duration::from_millis(20),
    measure: Duration::from_millis(100),
};

async fn start(which: Impl, mode: Mode) -> std::net::SocketAddr {
    let listener = servers::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(servers::serve(which, listener, mode));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_echoes_small_and_fragmentable_messages() {
    for which in Impl::ALL.into_iter().filter(|i| !i.is_external()) {
        let addr = start(which, Mode::Echo).await;
        for len in [16, 70_000] {
            let frame = client_frame(OP_BINARY, false, &payload(len), MASK_KEY);
            let plan = Arc::new(EchoPlan::new(&frame, 8, Some(len as u64)));
            let conns = connect_many(addr, 3, false).await.unwrap();
            let rates = echo::run(conns, plan, TIMING).await;
            let rates = rates.unwrap_or_else(|e| panic!("{}: {e}", which.name()));
            assert!(rates.messages_per_s > 0.0);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_answers_one_message_at_a_time() {
    for which in Impl::ONE_IN_FLIGHT.into_iter().filter(|i| !i.is_external()) {
        let addr = start(which, Mode::Echo).await;
        for len in [20, 70_000] {
            let frame = Arc::new(client_frame(OP_BINARY, false, &payload(len), MASK_KEY));
            let conns = connect_many(addr, 4, false).await.unwrap();
            // The servers run in this process: its CPU time stands in for theirs.
            let cpu = || cpu_time(std::process::id());
            let rates = one_in_flight::run(conns, frame, len as u64, TIMING, cpu).await;
            let rates = rates.unwrap_or_else(|e| panic!("{}: {e}", which.name()));
            assert!(rates.messages_per_s > 0.0, "{}", which.name());
            assert!(rates.p50_us > 0.0 && rates.p50_us <= rates.p99_us);
            // The sum over this process's live threads: a thread of another test's runtime
            // that ends during the window takes its time with it, so only a finite,
            // non-negative figure can be asserted here (reading it is tested in process.rs;
            // the bench's servers are processes of their own).
            assert!(rates.server_cpu_us.is_finite() && rates.server_cpu_us >= 0.0);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_broadcasts_to_all() {
    for which in Impl::PLAIN {
        let addr = start(which, Mode::Broadcast).await;
        let conns = connect_many(addr, 20, false).await.unwrap();
        let times = broadcast::run(conns, 3).await;
        let times = times.unwrap_or_else(|e| panic!("{}: {e}", which.name()));
        assert_eq!(times.len(), 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressing_servers_negotiate_and_echo_precompressed_json() {
    let doc = json::document(1 << 10);
    for which in Impl::COMPRESSION {
        let addr = start(which, Mode::Echo).await;
        let conns = connect_many(addr, 2, true).await.unwrap();
        let deflate = conns[0].deflate;
        assert_eq!(deflate, which != Impl::Mine, "{}", which.name());
        let frame = if deflate {
            client_frame(
                OP_TEXT,
                true,
                &json::compress_message(doc.as_bytes()),
                MASK_KEY,
            )
        } else {
            client_frame(OP_TEXT, false, doc.as_bytes(), MASK_KEY)
        };
        let plan = Arc::new(EchoPlan::new(
            &frame,
            4,
            (!deflate).then_some(doc.len() as u64),
        ));
        let rates = echo::run(conns, plan, TIMING).await;
        let rates = rates.unwrap_or_else(|e| panic!("{}: {e}", which.name()));
        if deflate {
            assert!(
                rates.wire_down_per_msg < doc.len() as f64 / 2.0,
                "{}",
                which.name()
            );
        }
    }
}
