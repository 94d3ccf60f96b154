//! Parsing `Sec-WebSocket-Extensions` (RFC 6455 §9.1).

/// One extension from a `Sec-WebSocket-Extensions` list, with its parameters in order
/// (quoted values unquoted).
///
/// Not `#[non_exhaustive]`: a name and its parameters are all the header's grammar has
/// (RFC 6455 §9.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// The extension's name, such as `permessage-deflate`.
    pub name: String,
    /// `name` or `name=value` parameters.
    pub params: Vec<(String, Option<String>)>,
}

/// Parses the values of every `Sec-WebSocket-Extensions` header, in order.
///
/// Returns `None` if any value breaks the grammar: an empty name, a character that may not
/// appear in a token, or an unterminated quoted string.
pub fn parse_extensions<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Option<Vec<ExtensionOffer>> {
    let mut offers = Vec::new();
    for value in values {
        for extension in split_unquoted(value, ',')? {
            let extension = extension.trim();
            if extension.is_empty() {
                // `1#element` allows empty list elements (RFC 7230 §7).
                continue;
            }
            let mut parts = split_unquoted(extension, ';')?.into_iter();
            let name = parts.next().map(str::trim).filter(|n| is_token(n))?;
            let mut params = Vec::new();
            for param in parts {
                let (key, value) = match param.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(unquote(v.trim())?)),
                    None => (param.trim(), None),
                };
                if !is_token(key) {
                    return None;
                }
                params.push((key.to_owned(), value));
            }
            offers.push(ExtensionOffer {
                name: name.to_owned(),
                params,
            });
        }
    }
    Some(offers)
}

/// Splits on `sep` outside double quotes; `None` for an unterminated quote.
fn split_unquoted(s: &str, sep: char) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    parts.push(&s[start..]);
    Some(parts)
}

/// A token, or a quoted string holding a token (RFC 6455 §9.1 requires the unquoted value to
/// be a token too).
fn unquote(v: &str) -> Option<String> {
    let inner = match v.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?.replace('\\', ""),
        None => v.to_owned(),
    };
    is_token(&inner).then_some(inner)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_several_offers_across_headers() {
        let offers = parse_extensions([
            "permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=\"10\"",
            "x-other",
        ])
        .unwrap();
        assert_eq!(offers.len(), 3);
        assert_eq!(
            offers[0].params,
            vec![("client_max_window_bits".to_owned(), None)]
        );
        assert_eq!(
            offers[1].params,
            vec![("server_max_window_bits".to_owned(), Some("10".to_owned()))]
        );
        assert_eq!(offers[2].name, "x-other");
    }

    #[test]
    fn rejects_broken_grammar() {
        for bad in [
            "permessage-deflate; a=\"1",
            "; x",
            "per message",
            "p; k=v v",
            "p; =1",
        ] {
            assert_eq!(parse_extensions([bad]), None, "{bad}");
        }
    }
}
