//! What every case needs: the server's address, session ids, and the server's report.

use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The test server's `host:port`, fixed when the tests were built (without it they do not
/// build).
pub(crate) fn server() -> &'static str {
    env!(
        "MYWEBSOCKET_TESTSERVER",
        "set MYWEBSOCKET_TESTSERVER to the test server's address: run the tests with `just browser`"
    )
}

/// A fresh session id for a case: the server files what it observes under it.
pub(crate) fn session(case: &str) -> String {
    // Math.random has 52 random bits; 40 of them make collisions between runs irrelevant.
    let n = (js_sys::Math::random() * (1u64 << 40) as f64) as u64;
    format!("{case}-{n:010x}")
}

/// The URL of `route` for session `id`; `extra` is more of the query, if any.
pub(crate) fn ws_url(route: &str, id: &str, extra: &str) -> String {
    format!("ws://{}/{route}?id={id}{extra}", server())
}

fn window() -> web_sys::Window {
    web_sys::window().expect("the tests run in a page")
}

/// The origin of the test page, which the browser sends in its upgrade requests.
pub(crate) fn page_origin() -> String {
    window()
        .location()
        .origin()
        .expect("the page has an origin")
}

/// What the server observed in session `id`, once the session is over (the server waits up
/// to 30 s for that). Fails the test if the session is unknown or did not complete.
pub(crate) async fn observed(id: &str) -> Value {
    let url = format!("http://{}/observed?id={id}", server());
    let response: web_sys::Response = JsFuture::from(window().fetch_with_str(&url))
        .await
        .expect("the test server answers /observed")
        .dyn_into()
        .expect("fetch gives a Response");
    assert_eq!(response.status(), 200, "GET {url}");
    let text = JsFuture::from(response.text().expect("a body"))
        .await
        .expect("the body arrives")
        .as_string()
        .expect("text");
    let report: Value = serde_json::from_str(&text).expect("the report is JSON");
    assert_eq!(report["known"], true, "the server saw no session {id}");
    assert_eq!(
        report["complete"], true,
        "session {id} did not finish: {report}"
    );
    assert_eq!(
        report.get("errors"),
        None,
        "the server hit errors: {report}"
    );
    report
}

/// Waits `ms` milliseconds.
pub(crate) async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        window()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .expect("setTimeout");
    });
    JsFuture::from(promise).await.expect("timers resolve");
}

/// The wall clock, in milliseconds.
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// A number from a report.
pub(crate) fn num(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("expected a number, got {value}"))
}
