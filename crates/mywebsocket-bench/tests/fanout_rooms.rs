//! `bench-fanout --smoke --rooms` against real processes: two chat nodes and a private
//! redis-server, 60 clients in 12 rooms. The binary exits 0 only when every delivery arrived
//! once and in order and each node's `/stats` counters (messages received from Redis,
//! deliveries) equal what the placement says: a node receives the messages of the rooms it
//! hosts, and only those.
//!
//! Needs `redis-server` on PATH (`apt-get install redis-server`; `just cluster` installs it
//! and runs this test with `--ignored`, as does `just bench-fanout`'s setup) and the
//! `mywebsocket-chat` binary of this build profile (`cargo test --workspace` builds it; alone:
//! `cargo build -p mywebsocket-chat`), or its path in `MYWEBSOCKET_CHAT_BIN`. Without them the
//! test fails and says which is missing.
//!
//! The same through a Redis Cluster (`--cluster`) when `REDIS_CLUSTER_URLS` is set, as
//! `scripts/redis-cluster.sh` sets it: `bash scripts/redis-cluster.sh cargo test -p
//! mywebsocket-bench --test fanout_rooms -- --ignored`. Without it that test passes at once,
//! saying so.

use std::path::PathBuf;
use std::process::Command;

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

#[test]
#[ignore = "needs redis-server; `just cluster` installs it and runs this test"]
fn the_rooms_smoke_run_matches_the_plan_on_every_node() {
    assert!(
        on_path("redis-server"),
        "redis-server is not on PATH: install it (apt-get install redis-server, or `just cluster`, \
         which installs it) to run the many-rooms fan-out test"
    );
    let table = smoke_run(&[], "fanout-rooms.md");
    assert!(table.contains("through one Redis"), "{table}");
    assert!(table.contains("| redis-server CPU |"), "{table}");
}

#[test]
#[ignore = "needs a Redis Cluster: `bash scripts/redis-cluster.sh cargo test -p mywebsocket-bench --test fanout_rooms -- --ignored`"]
fn the_rooms_smoke_run_matches_the_plan_through_a_redis_cluster() {
    if std::env::var("REDIS_CLUSTER_URLS").map_or(true, |u| u.trim().is_empty()) {
        eprintln!("REDIS_CLUSTER_URLS is not set: no cluster to run through, nothing checked");
        return;
    }
    let table = smoke_run(&["--cluster"], "fanout-rooms-cluster.md");
    assert!(table.contains("through a Redis Cluster ("), "{table}");
    // One row per master, then the masters' sum; every published message stored once.
    let masters: Vec<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with("| master | pid |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(masters.len() >= 2, "{table}");
    let all = masters.last().expect("the sum row");
    assert!(all.starts_with("| all | | 30 |"), "{table}");
}

/// Runs `bench-fanout --smoke --rooms` with `extra`, checks the per-node table, and returns
/// the report it wrote to `file` (the same as it printed).
fn smoke_run(extra: &[&str], file: &str) -> String {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_bench-fanout"));
    let chat = std::env::var_os("MYWEBSOCKET_CHAT_BIN")
        .map_or_else(|| bench.with_file_name("mywebsocket-chat"), PathBuf::from);
    assert!(
        chat.is_file(),
        "{} is missing: build it with `cargo build -p mywebsocket-chat` (same profile as this \
         test; `cargo test --workspace` does) or set MYWEBSOCKET_CHAT_BIN",
        chat.display()
    );
    let out = std::env::temp_dir().join(format!(
        "fanout-rooms-test-{}-{}",
        std::process::id(),
        extra.len()
    ));
    let run = Command::new(&bench)
        .args(["--smoke", "--rooms"])
        .args(extra)
        .arg("--out")
        .arg(&out)
        .arg("--chat")
        .arg(&chat)
        .output()
        .expect("bench-fanout starts");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let table = std::fs::read_to_string(out.join(file));
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        run.status.success(),
        "bench-fanout --smoke --rooms {} failed ({}):\n{stdout}\n{}",
        extra.join(" "),
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let table = table.expect("the table was written");
    assert_eq!(table, stdout);
    assert!(table.contains("| node | connections | rooms hosted | received from Redis |"));
    // Two nodes, then the totals; no count differs from the plan (the binary's exit status
    // says so too), nothing lost or repeated.
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| 1 |") || l.starts_with("| 2 |") || l.starts_with("| all | 60"))
        .collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(rows.iter().all(|r| !r.contains(" of ")), "{table}");
    assert!(
        table.contains("Lost deliveries: 0 (in 0 messages); repeated or out of order: 0;"),
        "{table}"
    );
    table
}
