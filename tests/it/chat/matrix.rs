//! Matrix: `PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}` as documented at
//! <https://spec.matrix.org/v1.12/client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid>,
//! the HTML subset of
//! <https://spec.matrix.org/v1.12/client-server-api/#mroommessage-msgtypes>, and mentions as at
//! <https://spec.matrix.org/v1.12/client-server-api/#user-and-room-mentions>.
//!
//! The fake routes by path and the path holds the transaction id, derived from the alert's id,
//! which only exists once the feed is read: so each chat first makes one try against a server
//! that hangs up, reads the alert's id, and only then points the notifier at the fake.

use std::io::Read;
use std::net::TcpListener;

use serde_json::{Value, json};

use super::{Chat, TITLE, json};
use crate::common::http::{Request, Route};

const ROOM: &str = "!AbCdEf:matrix.test";
const ROOM_IN_PATH: &str = "%21AbCdEf%3Amatrix.test";
const TOKEN: &str = "syt_ZmVlZHdhdGNo_kqXbKDTvQWFpNvOmKzVq_1Ab2Cd";

fn notifier(homeserver: &str) -> String {
    format!(
        "type = \"matrix\"\nhomeserver = \"{homeserver}\"\nroom_id = \"{ROOM}\"\n\
         access_token_env = \"FW_MX_TOKEN\""
    )
}

/// A chat whose one alert (its title the hostile one and an `@room`) is stored, its first try
/// gone to a server that hung up, now due again at the fake, which checks the path its message
/// goes to; and that path.
fn pending() -> (Chat, String) {
    let gone = TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", gone.local_addr().expect("address"));
    let hangs_up = std::thread::spawn(move || {
        if let Ok((mut conn, _)) = gone.accept() {
            let mut buf = [0; 1024];
            let _ = conn.read(&mut buf);
        }
    });
    let chat = Chat::new(&notifier(&dead), "/unused", check).with_env("FW_MX_TOKEN", TOKEN);
    let title = format!("{TITLE} @room")
        .replace('&', "&amp;amp;")
        .replace('<', "&amp;lt;")
        .replace('>', "&amp;gt;");
    let feed = std::fs::read_to_string(chat.sandbox.path("feed.xml")).expect("feed");
    let start = feed.find("<title>ISIS").expect("the item's title");
    let end = start + feed[start..].find("</title>").expect("its end");
    chat.sandbox.write(
        "feed.xml",
        &format!("{}<title>{title}{}", &feed[..start], &feed[end..]),
    );
    chat.run(&["once"]);
    hangs_up.join().expect("the server that hangs up");
    let d = chat.delivery();
    assert_eq!(d["state"], "pending", "{d}");

    let out = chat.run(&["alerts", "--json"]);
    let alerts: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let id = alerts[0]["id"].as_str().expect("an alert id").to_owned();
    let path =
        format!("/_matrix/client/v3/rooms/{ROOM_IN_PATH}/send/m.room.message/feedwatch.chat.{id}");
    chat.http.check(&path, check);
    let config = chat.sandbox.path("config.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    let base = chat.http.url("");
    std::fs::write(&config, text.replace(&dead, base.trim_end_matches('/'))).expect("config");
    assert_eq!(chat.run(&["retry"]).code(), Some(0));
    (chat, path)
}

/// Tags of the spec's HTML subset for `formatted_body`.
const TAGS: &[&str] = &[
    "font",
    "del",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "p",
    "a",
    "ul",
    "ol",
    "sup",
    "sub",
    "li",
    "b",
    "i",
    "u",
    "strong",
    "em",
    "s",
    "code",
    "hr",
    "br",
    "div",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "caption",
    "pre",
    "span",
    "details",
    "summary",
];

/// Checks `html` against the subset: known tags only, `<a>` with a web `href` only, every `&`
/// an entity; returns the links.
fn html_links(html: &str) -> Result<Vec<String>, String> {
    let mut links = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(['<', '>', '&']) {
        let tail = &rest[at..];
        if tail.starts_with('>') {
            return Err("a raw > in formatted_body".into());
        }
        if tail.starts_with('&') {
            let end = tail.find(';').ok_or("a raw & in formatted_body")?;
            if tail[1..end].is_empty()
                || !tail[1..end]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '#')
            {
                return Err("a raw & in formatted_body".into());
            }
            rest = &tail[end + 1..];
            continue;
        }
        let end = tail.find('>').ok_or("an unclosed tag")?;
        let tag = &tail[1..end];
        let name = tag
            .trim_start_matches('/')
            .split(' ')
            .next()
            .unwrap_or_default();
        if !TAGS.contains(&name) {
            return Err(format!("tag {name:?} is outside the HTML subset"));
        }
        if name == "a" && !tag.starts_with('/') {
            let href = tag
                .strip_prefix("a href=\"")
                .and_then(|h| h.strip_suffix('"'))
                .ok_or("a link is <a href=\"…\">")?;
            if !(href.starts_with("http://") || href.starts_with("https://")) || href.contains('"')
            {
                return Err(format!("href {href:?} is not a web link"));
            }
            links.push(href.to_owned());
        }
        rest = &tail[end + 1..];
    }
    Ok(links)
}

/// What a homeserver checks of a message event sent to a room.
fn check(r: &Request) -> Result<(), String> {
    if r.method != "PUT" {
        return Err("M_UNRECOGNIZED: send an event with PUT".into());
    }
    let path = r.uri.path();
    let txn = path
        .strip_prefix(&format!(
            "/_matrix/client/v3/rooms/{ROOM_IN_PATH}/send/m.room.message/"
        ))
        .ok_or("M_UNRECOGNIZED: not the room's send endpoint (is the room id encoded?)")?;
    if txn.is_empty() || txn.contains('/') {
        return Err("M_UNRECOGNIZED: a transaction id is one path segment".into());
    }
    if r.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return Err("M_MISSING_TOKEN".into());
    }
    if r.body.len() > 65_536 {
        return Err("M_TOO_LARGE: an event is at most 65536 bytes".into());
    }
    let v = json(r)?;
    if !matches!(v["msgtype"].as_str(), Some("m.notice" | "m.text")) {
        return Err("M_BAD_JSON: msgtype".into());
    }
    let body = v["body"]
        .as_str()
        .ok_or("M_BAD_JSON: body must be a string")?;
    if body.trim().is_empty() {
        return Err("M_BAD_JSON: empty body".into());
    }
    if body.to_lowercase().contains("@room") {
        return Err("the body mentions @room: the whole room would be pinged".into());
    }
    if v["format"] != "org.matrix.custom.html" {
        return Err("M_BAD_JSON: format must be org.matrix.custom.html".into());
    }
    let html = v["formatted_body"]
        .as_str()
        .ok_or("M_BAD_JSON: formatted_body must be a string")?;
    html_links(html)?;
    let mentions = v["m.mentions"]
        .as_object()
        .ok_or("m.mentions must be an object, or the body's words may ping")?;
    if mentions.get("room") == Some(&Value::Bool(true)) {
        return Err("m.mentions pings the room".into());
    }
    Ok(())
}

#[test]
fn matrix_gets_a_notice_it_accepts_with_feed_text_inert() {
    let (chat, path) = pending();
    let r = super::accepted(&chat, &path);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["msgtype"], "m.notice");
    assert_eq!(v["m.mentions"], json!({}));
    let body = v["body"].as_str().unwrap();
    assert!(
        body.starts_with(&format!(
            "{} @\u{2060}room (http://news.test/story?a=1&b=2)\n\
             isis-k · Wire & Co · 8 Dec 2026 09:14 CET\n",
            TITLE
                .replace("://", ":\u{200B}//")
                .replace(".test", ".\u{200B}test")
        )),
        "{body}"
    );
    assert_eq!(
        body.matches("://").count(),
        1,
        "only the story's URL: {body}"
    );
    let html = v["formatted_body"].as_str().unwrap();
    assert!(
        html.starts_with(
            "<strong><a href=\"http://news.test/story?a=1&amp;b=2\">ISIS-K claims @everyone \
             &lt;@U123&gt; *attack* [x](http:\u{200B}//evil.\u{200B}test) &amp; co @\u{2060}room</a></strong><br>\
             isis-k · Wire &amp; Co · 8 Dec 2026 09:14 CET<br>"
        ),
        "{html}"
    );
    assert_eq!(
        html_links(html).unwrap(),
        ["http://news.test/story?a=1&amp;b=2"],
        "only the story is linked"
    );
    assert_eq!(
        html.matches("://").count(),
        1,
        "no bare URL to link: {html}"
    );
}

#[test]
fn matrix_429_waits_as_its_json_answer_asks() {
    let (chat, path) = pending();
    // No Retry-After header: the hint is only in the body, in milliseconds.
    super::honours_rate_limit(
        &chat,
        &path,
        Route::status(429)
            .with_header("content-type", "application/json")
            .with_body(
                r#"{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":1800000}"#,
            ),
    );
}

#[test]
fn matrix_400_is_given_up_after_three_tries_in_all() {
    let (chat, path) = pending();
    chat.http.set(
        &path,
        Route::status(400)
            .with_header("content-type", "application/json")
            .with_body(r#"{"errcode":"M_BAD_JSON","error":"Content not JSON."}"#),
    );
    // The try at the server that hung up was the first of three.
    for attempt in 1..=2 {
        chat.run(&["once"]);
        assert_eq!(chat.http.hits(&path), attempt);
        chat.run(&["retry"]);
    }
    chat.run(&["once"]);
    assert_eq!(chat.http.hits(&path), 2, "no fourth try");
    let d = chat.delivery();
    assert_eq!(d["state"], "failed", "{d}");
    let error = d["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("400") && error.contains("M_BAD_JSON"), "{d}");
}

#[test]
fn matrix_retry_reuses_the_transaction_id() {
    let (chat, path) = pending();
    chat.http.queue(&path, [Route::status(503)]);
    chat.run(&["once"]);
    assert_eq!(chat.delivery()["state"], "pending");
    assert_eq!(chat.run(&["retry"]).code(), Some(0));
    chat.run(&["once"]);
    assert_eq!(chat.delivery()["state"], "sent");
    // Both tries went to the one path the alert's id names: one transaction, one event.
    let tries = chat.http.requests(&path);
    assert_eq!(tries.len(), 2);
    assert_eq!(tries[0].body, tries[1].body);
    assert_eq!(chat.http.refused(&path), Vec::<String>::new());
}

#[test]
fn matrix_token_never_shows_even_when_an_answer_echoes_it() {
    let (chat, path) = pending();
    chat.http.set(
        &path,
        Route::status(401)
            .with_header("content-type", "application/json")
            .with_body(format!(
                "{{\"errcode\":\"M_UNKNOWN_TOKEN\",\"error\":\"Unknown access token {TOKEN}\"}}"
            )),
    );
    let once = chat.run(&["once"]);
    assert_eq!(chat.http.hits(&path), 1);
    let alerts = chat.run(&["alerts"]);
    let json = chat.run(&["alerts", "--json"]);
    let check = chat.run(&["check"]);
    assert!(json.stdout.contains("M_UNKNOWN_TOKEN"), "{}", json.stdout);
    for (what, text) in [
        ("once stderr", &once.stderr),
        ("alerts", &alerts.stdout),
        ("alerts --json", &json.stdout),
        ("check", &check.stdout),
        ("check stderr", &check.stderr),
    ] {
        assert!(!text.contains(TOKEN), "{what} shows the token:\n{text}");
    }
}
