//! The web page served at `/`. A placeholder until the chat page lands: it only shows how to
//! reach the WebSocket endpoint.

/// The page's HTML.
pub(crate) const INDEX: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MyWebsocket chat</title></head>
<body>
<h1>MyWebsocket chat</h1>
<p>The chat page is coming. The WebSocket endpoint is <code>/ws</code>; it speaks the JSON
protocol documented in <code>mywebsocket_hub::protocol</code>.</p>
</body></html>
"#;
