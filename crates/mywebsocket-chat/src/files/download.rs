//! `GET /files/ID`: a stored file, streamed from disk as an attachment that never runs as the
//! chat's origin.

use futures_util::TryStreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Response, StatusCode};
use tokio_util::io::ReaderStream;

use super::store::lock;
use super::FileStore;
use crate::Body;

impl FileStore {
    /// The response to `GET /files/ID`: the file as an attachment, streamed from disk.
    pub(crate) async fn download(&self, id: &str) -> Response<Body> {
        let found = lock(&self.inner.files)
            .by_id
            .get(id)
            .map(|f| (f.path.clone(), f.name.clone(), f.media_type.clone(), f.size));
        let Some((path, name, media_type, size)) = found else {
            return crate::text(
                StatusCode::NOT_FOUND,
                "no such file (files are kept for a while only)".into(),
            );
        };
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file,
            Err(_) => return crate::text(StatusCode::NOT_FOUND, "no such file".into()),
        };
        let body = StreamBody::new(ReaderStream::new(file).map_ok(Frame::data)).boxed();
        Response::builder()
            .header("content-type", safe_media_type(&media_type))
            .header("content-length", size)
            .header("content-disposition", content_disposition(&name))
            // Uploaded HTML must never run as the chat's origin.
            .header("x-content-type-options", "nosniff")
            .header("content-security-policy", "sandbox")
            .body(body)
            .expect("valid headers")
    }
}

/// The sender's media type if it is a plain `type/subtype`, else `application/octet-stream`.
fn safe_media_type(media_type: &str) -> &str {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match media_type.split_once('/') {
        Some((kind, sub)) if token(kind) && token(sub) => media_type,
        _ => "application/octet-stream",
    }
}

/// `attachment` with the name as ASCII (others replaced) and in full as RFC 5987 UTF-8.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_that_are_not_plain_become_octet_stream() {
        assert_eq!(safe_media_type("image/png"), "image/png");
        assert_eq!(
            safe_media_type("text/html; charset=utf-8"),
            "application/octet-stream"
        );
        assert_eq!(
            safe_media_type("text/html\r\nx: y"),
            "application/octet-stream"
        );
        assert_eq!(safe_media_type(""), "application/octet-stream");
    }

    #[test]
    fn the_name_cannot_break_the_header() {
        let header = content_disposition("a\"b\r\nc é.txt");
        assert_eq!(
            header,
            "attachment; filename=\"a_b__c _.txt\"; filename*=UTF-8''a%22b%0D%0Ac%20%C3%A9.txt"
        );
    }
}
