//! The chat web page, embedded in the binary: `assets/index.html` at `/`, with its script and
//! style sheet beside it, and `files.js` for file sharing. The script speaks
//! [`mywebsocket_chat::protocol`] to `/ws` (or to the nodes listed in `?nodes=`), reconnects
//! with backoff and recovers missed messages.

/// A file of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Asset {
    /// Its `content-type`.
    pub(crate) content_type: &'static str,
    /// Its bytes.
    pub(crate) body: &'static str,
}

const INDEX: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_str!("../assets/index.html"),
};
const SCRIPT: Asset = Asset {
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("../assets/chat.js"),
};
const FILES_SCRIPT: Asset = Asset {
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("../assets/files.js"),
};
const STYLE: Asset = Asset {
    content_type: "text/css; charset=utf-8",
    body: include_str!("../assets/chat.css"),
};

/// The file served at `path`, if the page has one.
pub(crate) fn asset(path: &str) -> Option<Asset> {
    match path {
        "/" | "/index.html" => Some(INDEX),
        "/chat.js" => Some(SCRIPT),
        "/files.js" => Some(FILES_SCRIPT),
        "/chat.css" => Some(STYLE),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_page_and_the_files_it_links() {
        let index = asset("/").expect("the page");
        assert!(index.content_type.starts_with("text/html"));
        for linked in ["/chat.js", "/files.js", "/chat.css"] {
            assert!(index.body.contains(&format!("\"{linked}\"")), "{linked}");
            assert!(asset(linked).is_some(), "{linked}");
        }
        assert_eq!(asset("/nope"), None);
        assert_eq!(asset("/ws"), None);
    }

    #[test]
    fn the_script_never_puts_text_in_inner_html() {
        // User text reaches the page through textContent only (see assets/chat.js).
        for script in [SCRIPT, FILES_SCRIPT] {
            assert!(!script.body.contains("innerHTML"));
            assert!(!script.body.contains("insertAdjacentHTML"));
            assert!(!script.body.contains("document.write"));
        }
    }
}
