//! ntfy: publishing as documented at <https://docs.ntfy.sh/publish/>: the message as the body
//! of a `POST` to the topic URL, the rest in headers, UTF-8 in a header as RFC 2047
//! encoded-words.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{Chat, LINK, TITLE, accepted, gives_up_on_400, honours_rate_limit};
use crate::common::http::{Request, Route};

const PATH: &str = "/fw-alerts-x7Kq2";
const TOKEN: &str = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2";

fn chat() -> Chat {
    Chat::new(
        &format!(
            "type = \"ntfy\"\nurl = \"{{base}}{PATH}\"\ntoken_env = \"FW_NTFY_TOKEN\"\n\
             priority = 4\ntags = [\"warning\"]"
        ),
        PATH,
        check,
    )
    .with_env("FW_NTFY_TOKEN", TOKEN)
}

/// A header as ntfy reads it: RFC 2047 encoded-words (`=?UTF-8?B?…?=`, the only kind feedwatch
/// sends) decoded, the space between two of them dropped.
fn decoded(r: &Request, name: &str) -> Result<Option<String>, String> {
    let Some(raw) = r.header(name) else {
        return Ok(None);
    };
    if !raw.contains("=?") {
        return Ok(Some(raw.to_owned()));
    }
    let mut bytes = Vec::new();
    for word in raw.split(' ') {
        let b64 = word
            .strip_prefix("=?UTF-8?B?")
            .and_then(|w| w.strip_suffix("?="))
            .ok_or_else(|| format!("{name}: not an encoded-word: {word:?}"))?;
        if word.len() > 75 {
            return Err(format!(
                "{name}: an encoded-word is longer than 75 characters"
            ));
        }
        bytes.extend(STANDARD.decode(b64).map_err(|e| format!("{name}: {e}"))?);
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| format!("{name}: not UTF-8"))
}

/// What ntfy checks of a publish request.
fn check(r: &Request) -> Result<(), String> {
    if r.method != "POST" && r.method != "PUT" {
        return Err("publish with POST or PUT".into());
    }
    if r.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return Err("40101 unauthorized".into());
    }
    // Longer, or not UTF-8, and ntfy makes the body an attachment rather than the message.
    if r.body.len() > 4096 {
        return Err("the message is longer than 4096 bytes".into());
    }
    let body = std::str::from_utf8(&r.body).map_err(|_| "the message is not UTF-8")?;
    if body.trim().is_empty() {
        return Err("an empty message".into());
    }
    if !r
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain"))
    {
        return Err("the message must be text/plain".into());
    }
    if r.header("markdown").is_some() || r.header("x-markdown").is_some() {
        return Err("feed text must not be read as Markdown".into());
    }
    match r.header("priority") {
        Some("1" | "2" | "3" | "4" | "5") | None => {}
        Some(p) => return Err(format!("40007 invalid priority {p:?}")),
    }
    let title = decoded(r, "title")?.ok_or("a title is expected")?;
    if title.is_empty() || title.chars().any(char::is_control) {
        return Err("a title is one line of text".into());
    }
    if let Some(click) = decoded(r, "click")? {
        let url = url::Url::parse(&click).map_err(|e| format!("click: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("click must be a web link".into());
        }
    }
    if let Some(tags) = decoded(r, "tags")?
        && tags.split(',').any(|t| t.trim().is_empty())
    {
        return Err("an empty tag".into());
    }
    Ok(())
}

#[test]
fn ntfy_gets_plain_text_with_feed_text_inert_and_headers_it_accepts() {
    let chat = chat();
    let r = accepted(&chat, PATH);
    assert_eq!(
        r.header("title"),
        Some(TITLE),
        "an ASCII title goes as it is"
    );
    assert_eq!(r.header("click"), Some(LINK), "the one link is the story's");
    assert_eq!(r.header("tags"), Some("isis-k,warning"));
    assert_eq!(r.header("priority"), Some("4"));
    let body = std::str::from_utf8(&r.body).unwrap();
    // A zero-width space keeps the title's URL from being linked by ntfy's apps.
    let title = TITLE
        .replace("://", ":\u{200B}//")
        .replace(".test", ".\u{200B}test");
    assert_eq!(
        body,
        format!(
            "{title} ({LINK})\nisis-k · Wire & Co · 8 Dec 2026 09:14 CET\n\
             ISIS-K (title): *ISIS-K* claims @everyone <@U123> *attack* [x](http:\u{200B}//evil.\u{200B}test) & co"
        ),
        "plain text, nothing rendered"
    );
    assert_eq!(
        body.matches("://").count(),
        1,
        "only the story's URL: {body}"
    );
}

#[test]
fn ntfy_gets_a_title_that_is_not_ascii_as_encoded_words_read_back_as_written() {
    let chat = chat();
    // Line breaks would start a header of their own; `=?…?=` would be decoded by ntfy.
    let title = "Überfall: ISIS-K — =?UTF-8?B?ZXZpbA==?= 🚨 «Lagebild» \u{2028}X-Evil: 1";
    chat.sandbox.write(
        "feed.xml",
        &format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Wire</title>\
             <item><guid>g2</guid><title>{title}</title><link>{LINK_XML}</link></item>\
             </channel></rss>",
            LINK_XML = LINK.replace('&', "&amp;")
        ),
    );
    let r = accepted(&chat, PATH);
    assert!(r.header("title").unwrap().starts_with("=?UTF-8?B?"));
    assert_eq!(
        decoded(&r, "title").unwrap().as_deref(),
        Some("Überfall: ISIS-K — =?UTF-8?B?ZXZpbA==?= 🚨 «Lagebild» X-Evil: 1")
    );
    assert!(r.header("x-evil").is_none());
}

#[test]
fn ntfy_429_waits_as_asked() {
    honours_rate_limit(
        &chat(),
        PATH,
        Route::status(429)
            .with_header("retry-after", "1800")
            .with_body(r#"{"code":42901,"http":429,"error":"limit reached: too many requests"}"#),
    );
}

#[test]
fn ntfy_400_is_given_up_after_three_tries() {
    gives_up_on_400(
        &chat(),
        PATH,
        Route::status(400).with_body(r#"{"code":40007,"http":400,"error":"invalid priority"}"#),
    );
}

#[test]
fn ntfy_token_never_shows_when_the_server_refuses() {
    let chat = chat();
    chat.http.set(
        PATH,
        Route::status(403).with_body(format!(
            "{{\"code\":40301,\"http\":403,\"error\":\"forbidden for Bearer {TOKEN}\"}}"
        )),
    );
    let once = chat.run(&["once"]);
    assert_eq!(chat.http.hits(PATH), 1);
    let alerts = chat.run(&["alerts"]);
    let json = chat.run(&["alerts", "--json"]);
    let check = chat.run(&["check"]);
    assert!(json.stdout.contains("403"), "{}", json.stdout);
    for (what, text) in [
        ("once stderr", &once.stderr),
        ("once stdout", &once.stdout),
        ("alerts", &alerts.stdout),
        ("alerts --json", &json.stdout),
        ("check", &check.stdout),
        ("check stderr", &check.stderr),
    ] {
        assert!(!text.contains(TOKEN), "{what} shows the token:\n{text}");
        assert!(!text.contains(PATH), "{what} shows the topic:\n{text}");
    }
}
