//! One user's browser: a headless Chromium session on the chat page, driven like a person
//! would (typing into the fields, clicking the buttons) through WebDriver.

use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// How long a page may take to show what the test waits for.
const WAIT: Duration = Duration::from_secs(20);

/// A chat page in its own browser.
pub(crate) struct ChatPage {
    client: Client,
    /// Who this is, for failure messages.
    pub(crate) name: &'static str,
}

impl ChatPage {
    /// Opens a new headless Chromium with a `width`×`height` window on `url`.
    pub(crate) async fn open(
        driver: &str,
        name: &'static str,
        url: &str,
        width: u32,
        height: u32,
    ) -> Self {
        let mut options = json!({
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                format!("--window-size={width},{height}"),
            ]
        });
        if let Ok(binary) = std::env::var("CHROMIUM") {
            options["binary"] = json!(binary);
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(driver)
            .await
            .unwrap_or_else(|e| panic!("{name}: start a Chromium session: {e}"));
        client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{name}: open {url}: {e}"));
        Self { client, name }
    }

    /// Chooses a nickname and enters the first room through the welcome form.
    pub(crate) async fn enter(&self, nick: &str, room: &str) {
        self.type_into("#nick", nick).await;
        let room_field = self.find("#first-room").await;
        room_field.clear().await.expect("clear the room field");
        room_field.send_keys(room).await.expect("type the room");
        self.find("#enter")
            .await
            .click()
            .await
            .expect("click Enter");
    }

    /// Types `text` in the message field and clicks Send, once the page can send.
    pub(crate) async fn say(&self, text: &str) {
        self.wait_for(&format!("send enabled to say {text:?}"), || async {
            self.eval("return !document.getElementById('send').disabled", vec![])
                .await
                .as_bool()
                == Some(true)
        })
        .await;
        self.type_into("#text", text).await;
        self.find("#send").await.click().await.expect("click Send");
        // The field empties once the page handed the text to the socket.
        self.wait_for(&format!("{text:?} sent"), || async {
            self.eval("return document.getElementById('text').value", vec![])
                .await
                .as_str()
                == Some("")
        })
        .await;
    }

    /// Joins another room through the room list's form; the page switches to it.
    pub(crate) async fn join_room(&self, room: &str) {
        self.type_into("#join-room", room).await;
        self.click("#join").await;
    }

    /// Clicks the element matching `css`.
    pub(crate) async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("{}: click {css}: {e}", self.name));
    }

    /// The rooms in the room list, in order.
    pub(crate) async fn rooms(&self) -> Vec<String> {
        let value = self
            .eval(
                "return [...document.querySelectorAll('#room-list li')].map(li => li.dataset.room)",
                vec![],
            )
            .await;
        serde_json::from_value(value).expect("a list of strings")
    }

    /// The text of every element matching `selector`, in document order.
    pub(crate) async fn texts(&self, selector: &str) -> Vec<String> {
        let value = self
            .eval(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)",
                vec![json!(selector)],
            )
            .await;
        serde_json::from_value(value).expect("a list of strings")
    }

    /// The messages shown in the active room, as `from: text`.
    pub(crate) async fn messages(&self) -> Vec<String> {
        let value = self
            .eval(
                "return [...document.querySelectorAll('.list:not([hidden]) .msg')]
                    .map(m => m.querySelector('.from').textContent + ': '
                        + m.querySelector('.text').textContent)",
                vec![],
            )
            .await;
        serde_json::from_value(value).expect("a list of strings")
    }

    /// The nicknames in the presence list of the active room.
    pub(crate) async fn present(&self) -> Vec<String> {
        self.texts("#presence .member .nick").await
    }

    /// The connection status shown (`connected`, `connecting`, `offline`).
    pub(crate) async fn status(&self) -> String {
        self.eval(
            "return document.getElementById('status').dataset.state",
            vec![],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// The node id shown in the header.
    pub(crate) async fn node(&self) -> String {
        self.texts("#node").await.concat()
    }

    /// Waits until `ready` holds, polling; panics with `what` after [`WAIT`].
    pub(crate) async fn wait_for<F, Fut>(&self, what: &str, mut ready: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + WAIT;
        while !ready().await {
            assert!(
                Instant::now() < deadline,
                "{}: timed out waiting for {what}; messages {:?}, presence {:?}, status {:?}",
                self.name,
                self.messages().await,
                self.present().await,
                self.status().await,
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `script` in the page.
    pub(crate) async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("{}: script failed: {e}", self.name))
    }

    /// Saves a PNG screenshot as `dir/file`.
    pub(crate) async fn screenshot(&self, dir: &Path, file: &str) {
        let png = self.client.screenshot().await.expect("take a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
        std::fs::create_dir_all(dir).expect("create the screenshot directory");
        std::fs::write(dir.join(file), png).expect("write the screenshot");
    }

    /// Ends the browser session.
    pub(crate) async fn close(self) {
        let _ = self.client.close().await;
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{}: no {css}: {e}", self.name))
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.find(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("{}: type into {css}: {e}", self.name));
    }
}
