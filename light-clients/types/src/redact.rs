//! Endpoint URLs are secrets: providers put API keys in the path
//! (`https://host/v2/KEY`), the query (`?apikey=KEY`) or the user info
//! (`https://user:KEY@host`). Whatever the hub prints (logs, errors, metric
//! labels, API answers) shows an endpoint as scheme, host and port only.

/// `url` as `scheme://host[:port]`: user info, path, query and fragment
/// dropped. Text that is not a URL is replaced whole, never echoed.
pub fn endpoint(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<not a url>".to_owned();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // User info ends at the last '@' of the authority.
    let host = authority.rsplit('@').next().unwrap_or_default();
    format!("{scheme}://{host}")
}

/// `text` with every `scheme://...` URL in it shortened by [`endpoint`]: for
/// error texts of HTTP clients, which quote the URL they failed on.
pub fn urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme: the letters (and + - .) right before "://".
        let head = &rest[..at];
        let scheme_len = head
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .count();
        let start = at - scheme_len;
        // The URL runs to the first character that ends one as quoted in a
        // message (brackets, quotes, space). ',' and ';' may be in a path
        // (and a key after them), so they do not end it.
        let tail = &rest[at + 3..];
        let len = tail
            .find(|c: char| {
                c.is_whitespace() || matches!(c, ')' | '(' | '"' | '\'' | '<' | '>' | '`')
            })
            .unwrap_or(tail.len());
        out.push_str(&rest[..start]);
        if scheme_len == 0 {
            // "://" without a scheme: not a URL; keep it and go on.
            out.push_str("://");
            rest = tail;
            continue;
        }
        out.push_str(&endpoint(&rest[start..at + 3 + len]));
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_keeps_scheme_host_and_port_only() {
        for (url, shown) in [
            (
                "https://eth-mainnet.example.com/v2/KEY123",
                "https://eth-mainnet.example.com",
            ),
            (
                "https://rpc.example.com:8443/?apikey=KEY123",
                "https://rpc.example.com:8443",
            ),
            (
                "https://user:KEY123@rpc.example.com/path",
                "https://rpc.example.com",
            ),
            ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
            (
                "rediss://:KEY123@redis.example.com:6380/0",
                "rediss://redis.example.com:6380",
            ),
            ("wss://node.example.com#KEY123", "wss://node.example.com"),
            ("KEY123 is not a url", "<not a url>"),
        ] {
            assert_eq!(endpoint(url), shown, "{url}");
        }
    }

    #[test]
    fn urls_inside_error_texts_are_shortened() {
        let e = "error sending request for url (https://rpc.example.com/v2/KEY123?token=KEY456): connection refused";
        assert_eq!(
            urls_in(e),
            "error sending request for url (https://rpc.example.com): connection refused"
        );
        let two = "a: https://u:KEY1@a.example/x,KEY3 b: \"http://b.example:1/KEY2\"";
        let shown = urls_in(two);
        assert_eq!(shown, "a: https://a.example b: \"http://b.example:1\"");
        assert!(!shown.contains("KEY"));
        assert_eq!(urls_in("no url here"), "no url here");
        assert_eq!(urls_in("odd :// text"), "odd :// text");
        assert_eq!(urls_in(""), "");
    }
}
