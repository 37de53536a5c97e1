//! Telegram bots: `sendMessage` as documented at
//! <https://core.telegram.org/bots/api#sendmessage>, its HTML as at
//! <https://core.telegram.org/bots/api#html-style>.

use serde_json::Value;

use super::{Chat, accepted, gives_up_on_400, honours_rate_limit, json};
use crate::common::http::{Request, Route};

const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const CHAT_ID: i64 = -1_001_234_567_890;

fn path() -> String {
    format!("/bot{TOKEN}/sendMessage")
}

fn chat() -> Chat {
    Chat::new(
        &format!(
            "type = \"telegram\"\napi_url = \"{{base}}\"\nbot_token_env = \"FW_TG_TOKEN\"\n\
             chat_id = {CHAT_ID}"
        ),
        &path(),
        check,
    )
    .with_env("FW_TG_TOKEN", TOKEN)
}

/// Tags Telegram's HTML parse mode knows; anything else is "can't parse entities".
const TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
];

/// The text Telegram shows for `html`, or why it cannot parse it: only its tags, balanced; `<`,
/// `>` and `&` outside a tag or entity are errors; only the entities it names, and numeric ones.
fn parse_entities(html: &str) -> Result<String, String> {
    let bad = |why: String| format!("Bad Request: can't parse entities: {why}");
    let mut shown = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').ok_or_else(|| bad("unclosed tag".into()))?;
                let tag = &rest[1..end];
                rest = &rest[end + 1..];
                if let Some(name) = tag.strip_prefix('/') {
                    if open.pop().as_deref() != Some(name) {
                        return Err(bad(format!("unmatched end tag {name}")));
                    }
                    continue;
                }
                let name = tag.split(' ').next().unwrap_or_default();
                if !TAGS.contains(&name) {
                    return Err(bad(format!("unsupported start tag {name:?}")));
                }
                if name == "a" {
                    let href = tag
                        .strip_prefix("a href=\"")
                        .and_then(|h| h.strip_suffix('"'))
                        .ok_or_else(|| bad("an a tag is <a href=\"…\">".into()))?;
                    if href.contains(['<', '>', '"']) {
                        return Err(bad("a raw <, > or \" in href".into()));
                    }
                } else if tag != name {
                    return Err(bad(format!("attributes on {name}")));
                }
                open.push(name.to_owned());
            }
            '>' => return Err(bad("a raw >".into())),
            '&' => {
                let end = rest.find(';').ok_or_else(|| bad("a raw &".into()))?;
                let entity = &rest[1..end];
                let ok = matches!(entity, "lt" | "gt" | "amp" | "quot")
                    || entity
                        .strip_prefix('#')
                        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
                if !ok {
                    return Err(bad(format!("unsupported entity &{entity};")));
                }
                shown.push('x');
                rest = &rest[end + 1..];
            }
            c => {
                shown.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if let Some(name) = open.pop() {
        return Err(bad(format!("unclosed {name}")));
    }
    Ok(shown)
}

/// What the Bot API checks of `sendMessage`.
fn check(r: &Request) -> Result<(), String> {
    if r.method != "POST" {
        return Err("use POST".into());
    }
    let v = json(r)?;
    let fields = v.as_object().ok_or("the body must be an object")?;
    for key in fields.keys() {
        if ![
            "chat_id",
            "text",
            "parse_mode",
            "link_preview_options",
            "disable_notification",
            "protect_content",
        ]
        .contains(&key.as_str())
        {
            return Err(format!("unexpected parameter {key}"));
        }
    }
    match &v["chat_id"] {
        Value::Number(n) if n.as_i64() == Some(CHAT_ID) => {}
        Value::String(s) if s == &CHAT_ID.to_string() => {}
        other => return Err(format!("Bad Request: chat not found ({other})")),
    }
    if v["parse_mode"] != "HTML" {
        return Err("parse_mode must be HTML here".into());
    }
    let text = v["text"]
        .as_str()
        .ok_or("Bad Request: message text is empty")?;
    let shown = parse_entities(text)?;
    if shown.trim().is_empty() {
        return Err("Bad Request: message text is empty".into());
    }
    if shown.encode_utf16().count() > 4096 {
        return Err("Bad Request: message is too long".into());
    }
    let preview = &v["link_preview_options"];
    if !preview.is_null() && !preview["is_disabled"].is_boolean() {
        return Err("link_preview_options.is_disabled must be a boolean".into());
    }
    Ok(())
}

#[test]
fn telegram_gets_html_it_parses_with_feed_text_inert() {
    let chat = chat();
    let v: Value = serde_json::from_slice(&accepted(&chat, &path()).body).unwrap();
    assert_eq!(v["chat_id"], CHAT_ID, "a chat's number goes as a number");
    assert_eq!(v["link_preview_options"]["is_disabled"], true);
    let text = v["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "<b><a href=\"http://news.test/story?a=1&amp;b=2\">ISIS-K claims @\u{200B}everyone \
             &lt;@\u{200B}U123&gt; *attack* [x](http:\u{200B}//evil.\u{200B}test) &amp; co</a></b>\n"
        ),
        "{text}"
    );
    assert_eq!(
        text.matches("<a ").count(),
        1,
        "only the story is linked: {text}"
    );
    assert!(
        text.contains("isis-k · Wire &amp; Co · 8 Dec 2026 09:14 CET"),
        "{text}"
    );
    assert!(
        text.contains("ISIS-K (title): <b>ISIS-K</b> claims"),
        "{text}"
    );
}

#[test]
fn telegram_429_waits_as_its_json_answer_asks() {
    // No Retry-After header: the hint is only in the body.
    honours_rate_limit(
        &chat(),
        &path(),
        Route::status(429)
            .with_header("content-type", "application/json")
            .with_body(
                r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1800","parameters":{"retry_after":1800}}"#,
            ),
    );
}

#[test]
fn telegram_400_is_given_up_after_three_tries() {
    gives_up_on_400(
        &chat(),
        &path(),
        Route::status(400)
            .with_header("content-type", "application/json")
            .with_body(
                r#"{"ok":false,"error_code":400,"description":"Bad Request: can't parse entities"}"#,
            ),
    );
}

#[test]
fn telegram_token_never_shows_even_when_an_answer_echoes_it() {
    let chat = chat();
    chat.http.set(
        &path(),
        Route::status(400)
            .with_header("content-type", "application/json")
            .with_body(format!(
                "{{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: /bot{TOKEN}/sendMessage\"}}"
            )),
    );
    let once = chat.run(&["once"]);
    assert_eq!(chat.http.hits(&path()), 1);
    let alerts = chat.run(&["alerts"]);
    let json = chat.run(&["alerts", "--json"]);
    let check = chat.run(&["check"]);
    assert!(
        json.stdout
            .contains("Bad Request: /bot[redacted]/sendMessage"),
        "the answer is shown, without the token: {}",
        json.stdout
    );
    for (what, text) in [
        ("once stderr", &once.stderr),
        ("once stdout", &once.stdout),
        ("alerts", &alerts.stdout),
        ("alerts --json", &json.stdout),
        ("check", &check.stdout),
        ("check stderr", &check.stderr),
    ] {
        assert!(!text.contains(TOKEN), "{what} shows the token:\n{text}");
        assert!(
            !text.contains("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
            "{what} shows the token's secret part:\n{text}"
        );
    }
}
