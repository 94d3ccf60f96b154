//! The HTTP/2 workload's servers, in this process, answer MyWebsocket's client: ours and
//! axum's over one HTTP/2 connection (and so with extended CONNECT enabled), ours over
//! HTTP/1.1, one message in flight and pipelined.

use std::time::Duration;

use mywebsocket_bench::loadgen::h2::{self, Transport};
use mywebsocket_bench::loadgen::Timing;
use mywebsocket_bench::process::cpu_time;
use mywebsocket_bench::servers::{self, Impl, Mode};

const TIMING: Timing = Timing {
    warmup: Duration::from_millis(20),
    measure: Duration::from_millis(100),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_http2_server_echoes_over_its_transport() {
    for which in Impl::HTTP2 {
        let listener = servers::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(servers::serve(which, listener, Mode::Echo));
        let transport = if which.speaks_h2() {
            Transport::Http2
        } else {
            Transport::Http1
        };
        for (len, window) in [(20, 1), (70_000, 1), (16, 8)] {
            let sockets = h2::open(addr, transport, 5)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", which.name()));
            // The servers run in this process: its CPU time stands in for theirs.
            let cpu = || cpu_time(std::process::id());
            let rates = h2::run(sockets, len, window, TIMING, cpu).await;
            let rates = rates.unwrap_or_else(|e| panic!("{} {len} B: {e}", which.name()));
            assert!(rates.messages_per_s > 0.0, "{}", which.name());
            assert!(rates.p50_us > 0.0 && rates.p50_us <= rates.p99_us);
        }
        server.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http1_only_server_refuses_the_http2_client() {
    let listener = servers::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(servers::serve(Impl::Mine, listener, Mode::Echo));
    assert!(h2::open(addr, Transport::Http2, 1).await.is_err());
    server.abort();
}
