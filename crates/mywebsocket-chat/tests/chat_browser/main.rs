//! Two people chat through the page, each in headless Chromium on a different node of a
//! two-node cluster sharing a private redis-server; then one node is killed and its user's
//! page reconnects to the other node and shows what it missed, exactly once. And an upload
//! whose connection is cut halfway resumes by itself ([`resume`]).
//!
//! Needs redis-server, chromium and chromedriver: `scripts/chat-browser.sh` (or
//! `just chat-browser`) installs what is missing and runs it. Screenshots go to
//! `target/chat-browser/` (or `$CHAT_BROWSER_OUT`).

#[path = "../common/http.rs"]
mod http;
mod page;
mod procs;
mod proxy;
mod resume;

use std::path::PathBuf;
use std::sync::Arc;

use page::ChatPage;
use procs::{free_port, ChromeDriver, Node, Redis};
use serde_json::json;

/// A dead node leaves presence within this (plus a reap interval) on the live ones.
const PRESENCE_TTL_MS: u64 = 2000;
/// The tests run one after the other: each drives browsers against timeouts, and two at
/// once on a small CI machine would mostly measure each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Messages A sends while B's node dies and B's page reconnects.
const TICKS: u64 = 20;
const ROOM: &str = "browser-test";

fn screenshot_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CHAT_BROWSER_OUT") {
        return dir.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("chat-browser")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server, chromium and chromedriver: run scripts/chat-browser.sh"]
async fn two_browsers_on_two_nodes_chat_and_recover_from_a_dead_node() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let redis = Redis::start();
    let node1 = Node::start(Some(&redis.url), PRESENCE_TTL_MS);
    let node2 = Node::start(Some(&redis.url), PRESENCE_TTL_MS);
    assert_ne!(node1.id, node2.id);
    let driver = ChromeDriver::start();
    // B's list has a port nobody listens on between its node and the other one: when its
    // node dies, the page must move past a refused connection too.
    let dead = format!("ws://127.0.0.1:{}/ws", free_port());
    let a_url = node1.page_url(&[node1.ws_url(), node2.ws_url()]);
    let b_url = node2.page_url(&[node2.ws_url(), dead, node1.ws_url()]);
    // A on a desktop-sized window, B on a phone-sized one.
    let a = Arc::new(ChatPage::open(&driver.url, "A", &a_url, 1100, 700).await);
    let b = Arc::new(ChatPage::open(&driver.url, "B", &b_url, 390, 760).await);

    let scenario = tokio::spawn(scenario(Arc::clone(&a), Arc::clone(&b), node1, node2));
    let outcome = scenario.await;
    // Close the browsers whatever happened: chromedriver's kill would orphan them.
    for page in [a, b] {
        if let Ok(page) = Arc::try_unwrap(page) {
            page.close().await;
        }
    }
    drop(driver);
    drop(redis);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn scenario(a: Arc<ChatPage>, b: Arc<ChatPage>, node1: Node, node2: Node) {
    let shots = screenshot_dir();
    b.wait_for("the welcome form", || async {
        b.eval("return !document.getElementById('welcome').hidden", vec![])
            .await
            .as_bool()
            == Some(true)
    })
    .await;
    b.screenshot(&shots, "0-bob-welcome.png").await;
    a.enter("ann", ROOM).await;
    b.enter("bob", ROOM).await;

    // Each page shows its own node and, live, both people.
    for (page, node) in [(&a, &node1), (&b, &node2)] {
        page.wait_for(&format!("node id {}", node.id), || async {
            page.status().await == "connected" && page.node().await == node.id
        })
        .await;
    }
    for page in [&a, &b] {
        page.wait_for("ann and bob in presence", || async {
            page.present().await == ["ann", "bob"]
        })
        .await;
    }

    // Both ways, across the nodes.
    a.say("hello from ann").await;
    b.wait_for("ann's hello", || async {
        b.messages().await == ["ann: hello from ann"]
    })
    .await;
    b.say("hi ann, bob <b>here</b> & \"there\"").await;
    let chat = [
        "ann: hello from ann".to_owned(),
        "bob: hi ann, bob <b>here</b> & \"there\"".to_owned(),
    ];
    for page in [&a, &b] {
        page.wait_for("both messages", || async { page.messages().await == chat })
            .await;
    }
    // Markup in a message is shown as text, never parsed.
    assert!(b.texts(".msg .text b").await.is_empty());
    a.screenshot(&shots, "1-ann-node1.png").await;
    b.screenshot(&shots, "1-bob-node2.png").await;

    // Several rooms at once: A joins a second one, talks there alone, and leaves it again;
    // B, who is not in it, sees nothing of it.
    a.join_room("side room").await;
    a.wait_for("the side room, joined, with ann alone", || async {
        a.rooms().await == [ROOM, "side room"] && a.present().await == ["ann"]
    })
    .await;
    a.say("only ann here").await;
    a.wait_for("ann's side-room message", || async {
        a.messages().await == ["ann: only ann here"]
    })
    .await;
    a.click(&format!("#room-list li[data-room='{ROOM}'] .open"))
        .await;
    a.wait_for("the first room again", || async {
        a.messages().await == chat && a.present().await == ["ann", "bob"]
    })
    .await;
    a.click("#room-list li[data-room='side room'] .leave").await;
    a.wait_for("the side room left", || async { a.rooms().await == [ROOM] })
        .await;
    assert_eq!(b.rooms().await, [ROOM]);
    assert_eq!(b.messages().await, chat);

    // A keeps sending, from its page, one message every 100 ms.
    a.eval(
        "const total = arguments[0];
         window.ticksSent = 0;
         const timer = setInterval(() => {
           const input = document.getElementById('text');
           input.value = 'tick ' + (window.ticksSent + 1);
           document.getElementById('send-form').requestSubmit();
           if (input.value === '') window.ticksSent += 1;
           if (window.ticksSent >= total) clearInterval(timer);
         }, 100);",
        vec![json!(TICKS)],
    )
    .await;
    b.wait_for("the first ticks, live", || async {
        b.messages().await.iter().any(|m| m == "ann: tick 3")
    })
    .await;
    node2.kill();

    let mut expected = chat.to_vec();
    expected.extend((1..=TICKS).map(|i| format!("ann: tick {i}")));
    a.wait_for("every tick sent", || async {
        a.eval("return window.ticksSent", vec![]).await == json!(TICKS)
    })
    .await;
    b.wait_for("bob reconnected to node 1", || async {
        b.status().await == "connected" && b.node().await == node1.id
    })
    .await;
    b.wait_for("every tick, once each", || async {
        b.messages().await.len() >= expected.len()
    })
    .await;
    assert_eq!(
        b.messages().await,
        expected,
        "B sees each message exactly once, in order"
    );
    assert_eq!(a.messages().await, expected);
    for page in [&a, &b] {
        let duplicates = page
            .eval(
                "return document.documentElement.dataset.duplicates || '0'",
                vec![],
            )
            .await;
        assert_eq!(
            duplicates,
            json!("0"),
            "{}: no message delivered twice",
            page.name
        );
    }

    // Some ticks were sent while B was away; the page says how many it recovered.
    let notices = b.texts(".notice").await;
    let recovered: Vec<u64> = notices
        .iter()
        .filter_map(|n| n.strip_prefix("Reconnected: "))
        .filter_map(|n| n.split(' ').next()?.parse().ok())
        .collect();
    eprintln!("B's notices after the reconnection: {notices:?}");
    assert_eq!(recovered.len(), 1, "one reconnection notice: {notices:?}");
    assert!(
        (1..TICKS).contains(&recovered[0]),
        "B missed some ticks and recovered them: {notices:?}"
    );

    // B's old connection leaves presence when node 2's entries expire.
    for page in [&a, &b] {
        page.wait_for("one ann and one bob in presence", || async {
            page.present().await == ["ann", "bob"]
        })
        .await;
    }
    b.say("back, through node 1").await;
    a.wait_for("bob's message after the reconnection", || async {
        a.messages().await.last().map(String::as_str) == Some("bob: back, through node 1")
    })
    .await;
    a.screenshot(&shots, "2-ann-after.png").await;
    b.screenshot(&shots, "2-bob-recovered-on-node1.png").await;

    share_a_file(&a, &b, &node1).await;
    a.screenshot(&shots, "3-ann-shared-a-file.png").await;
    b.screenshot(&shots, "3-bob-sees-the-file.png").await;
    drop(node1);
}

/// The size of the file A shares.
const SHARED_LEN: usize = 3 << 20;

/// Byte `i` of the file A shares (the page generates the same).
fn shared_byte(i: usize) -> u8 {
    (i * 7 % 251) as u8
}

/// A picks a file (as the file input would give it); the page uploads it to its node with
/// the file-transfer protocol, showing a progress bar, and posts its link; B's page shows the
/// link, and what the link serves is the file, byte for byte.
async fn share_a_file(a: &ChatPage, b: &ChatPage, node: &Node) {
    a.eval(
        "const len = arguments[0];
         const bytes = new Uint8Array(len);
         for (let i = 0; i < len; i++) bytes[i] = (i * 7) % 251;
         const picked = new DataTransfer();
         picked.items.add(new File([bytes], 'shared.bin', { type: 'application/octet-stream' }));
         const input = document.getElementById('file');
         input.files = picked.files;
         input.dispatchEvent(new Event('change'));",
        vec![json!(SHARED_LEN)],
    )
    .await;
    let link = ".list:not([hidden]) .msg .file a";
    for page in [a, b] {
        page.wait_for("the shared file's link", || async {
            page.texts(link).await == ["\u{1F4CE} shared.bin"]
        })
        .await;
    }
    let failed = a.texts(".upload.failed .state").await;
    assert!(failed.is_empty(), "{failed:?}");
    let href = b
        .eval(
            "return document.querySelector(arguments[0]).href",
            vec![json!(link)],
        )
        .await;
    let href = href.as_str().expect("a link").to_owned();
    let path = href
        .strip_prefix(&format!("http://{}", node.addr))
        .unwrap_or_else(|| panic!("{href} is not on the node A uploaded to"));
    let (head, body) = http::http_get(&node.addr, path).await;
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    assert_eq!(body.len(), SHARED_LEN);
    assert!(
        body.iter().enumerate().all(|(i, &b)| b == shared_byte(i)),
        "the shared file differs"
    );
}
