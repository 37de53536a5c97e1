//! Google Chat space webhooks: a text message as in
//! <https://developers.google.com/workspace/chat/quickstart/webhooks>, formatted as in
//! <https://developers.google.com/workspace/chat/format-messages>, at most 4096 characters.

use serde_json::Value;

use super::{Chat, LINK, accepted, gives_up_on_400, honours_rate_limit, json, text_at_most};
use crate::common::http::{Request, Route};

const PATH: &str = "/v1/spaces/AAAA/messages";

/// The fields of a message a webhook may set.
const KEYS: &[&str] = &[
    "text",
    "cardsV2",
    "thread",
    "accessoryWidgets",
    "fallbackText",
];

fn chat() -> Chat {
    Chat::new(
        &format!("type = \"googlechat\"\nurl = \"{{base}}{PATH}?key=k&token=t\""),
        PATH,
        check,
    )
}

/// What Google Chat checks of a webhook message.
fn check(r: &Request) -> Result<(), String> {
    let v = json(r)?;
    let fields = v.as_object().ok_or("the body must be a JSON object")?;
    if let Some(k) = fields.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("Invalid JSON payload received. Unknown name {k:?}"));
    }
    text_at_most(&v["text"], "text", 4096)?;
    Ok(())
}

#[test]
fn google_chat_gets_text_with_feed_text_inert() {
    let chat = chat();
    let request = accepted(&chat, PATH);
    assert_eq!(request.uri.query(), Some("key=k&token=t"));
    let v: Value = serde_json::from_slice(&request.body).unwrap();
    let text = v["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!(
            "*<{LINK}|ISIS-K claims @everyone ‹@U123› ∗attack∗ \
             [x]\u{200B}(http:\u{200B}//evil.\u{200B}test) & co>*\n"
        )),
        "{text}"
    );
    assert_eq!(
        text.matches('<').count(),
        1,
        "one link, the story's: {text}"
    );
    assert!(!text.contains("http://evil"), "{text}");
    assert!(
        text.contains("isis-k · Wire & Co · 8 Dec 2026 09:14 CET"),
        "{text}"
    );
    assert!(text.contains("ISIS-K (title): *ISIS-K* claims"), "{text}");
}

#[test]
fn google_chat_429_waits_as_asked() {
    honours_rate_limit(
        &chat(),
        PATH,
        Route::status(429).with_header("retry-after", "1800"),
    );
}

#[test]
fn google_chat_400_is_given_up_after_three_tries() {
    gives_up_on_400(&chat(), PATH, Route::status(400));
}

#[test]
fn notify_test_sends_a_test_alert_google_chat_accepts() {
    let chat = chat();
    let out = chat.run(&["notify-test", "chat"]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("notifier chat: test alert sent"),
        "{}",
        out.stderr
    );
    assert_eq!(chat.http.refused(PATH), Vec::<String>::new());
    let requests = chat.http.requests(PATH);
    assert_eq!(requests.len(), 1);
    let v: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .starts_with("*Test alert from feedwatch*\nnotify-test · feedwatch · "),
        "{v}"
    );
}
