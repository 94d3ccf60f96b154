//! `bench-fanout --smoke --rooms` against real processes: two chat nodes and a private
//! redis-server, 60 clients in 12 rooms. The binary exits 0 only when every delivery arrived
//! and each node's `/stats` counters (messages received from Redis, deliveries) equal what the
//! placement says: a node receives the messages of the rooms it hosts, and only those.
//!
//! Needs `redis-server` on PATH (`apt-get install redis-server`; `just cluster` installs it
//! and runs this test with `--ignored`, as does `just bench-fanout`'s setup) and the `mywebsocket-chat` binary of this build profile
//! (`cargo test --workspace` builds it; alone: `cargo build -p mywebsocket-chat`), or its path
//! in `MYWEBSOCKET_CHAT_BIN`. Without them the test fails and says which is missing.

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
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_bench-fanout"));
    let chat = std::env::var_os("MYWEBSOCKET_CHAT_BIN")
        .map_or_else(|| bench.with_file_name("mywebsocket-chat"), PathBuf::from);
    assert!(
        chat.is_file(),
        "{} is missing: build it with `cargo build -p mywebsocket-chat` (same profile as this \
         test; `cargo test --workspace` does) or set MYWEBSOCKET_CHAT_BIN",
        chat.display()
    );
    let out = std::env::temp_dir().join(format!("fanout-rooms-test-{}", std::process::id()));
    let run = Command::new(&bench)
        .args(["--smoke", "--rooms", "--out"])
        .arg(&out)
        .arg("--chat")
        .arg(&chat)
        .output()
        .expect("bench-fanout starts");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let table = std::fs::read_to_string(out.join("fanout-rooms.md"));
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        run.status.success(),
        "bench-fanout --smoke --rooms failed ({}):\n{stdout}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let table = table.expect("the table was written");
    assert_eq!(table, stdout);
    assert!(table.contains("| node | connections | rooms hosted | received from Redis |"));
    // Two nodes, then the totals; no count differs from the plan (the binary's exit status
    // says so too).
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| 1 |") || l.starts_with("| 2 |") || l.starts_with("| all |"))
        .collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(rows[2].starts_with("| all | 60 |"), "{table}");
    assert!(rows.iter().all(|r| !r.contains(" of ")), "{table}");
}
