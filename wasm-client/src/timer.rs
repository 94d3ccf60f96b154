//! Time in the browser: `setTimeout` as a future, a deadline around any future, and the clock.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    // The global `setTimeout`, bound directly rather than through `web_sys::Window`, so that
    // the client also works in a worker (which has no window).
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, delay_ms: i32) -> JsValue;

    // The global `performance.now()`: monotonic, in a window and in a worker alike.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// Resolves after `duration`, in whole milliseconds (longer ones are capped at about 24 days,
/// `setTimeout`'s limit).
pub(crate) async fn sleep(duration: Duration) {
    let ms = i32::try_from(duration.as_millis()).unwrap_or(i32::MAX);
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        set_timeout(&resolve, ms);
    });
    // The promise only ever resolves: `setTimeout` calls `resolve`, nothing calls `reject`.
    let _ = JsFuture::from(promise).await;
}

/// Runs `future` for at most `limit`; `None` when the time ran out first.
pub(crate) async fn timeout<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut timer = std::pin::pin!(sleep(limit));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// The wall clock in milliseconds (`Date.now()`): enough for timeouts of a second or more.
pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// A monotonic clock (`performance.now()`): milliseconds since the page or worker started,
/// which a step of the wall clock (NTP, the user, a suspended laptop's correction) does not
/// move. For timeouts that must neither fire early nor freeze.
pub(crate) fn monotonic() -> Duration {
    Duration::from_secs_f64((performance_now() / 1000.0).max(0.0))
}

/// The time between two [`now_ms`] readings, never negative (the wall clock can step back).
pub(crate) fn elapsed(from_ms: f64, to_ms: f64) -> Duration {
    Duration::from_secs_f64(((to_ms - from_ms) / 1000.0).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_is_never_negative() {
        assert_eq!(elapsed(2000.0, 1000.0), Duration::ZERO);
        assert_eq!(elapsed(1000.0, 3500.0), Duration::from_millis(2500));
    }
}
