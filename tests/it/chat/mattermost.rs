//! Mattermost incoming webhooks, as documented at
//! <https://developers.mattermost.com/integrate/webhooks/incoming/>: a JSON post whose `text`
//! is at most 16,383 characters.

use serde_json::Value;

use super::{Chat, LINK, accepted, gives_up_on_400, honours_rate_limit, json, text_at_most};
use crate::common::http::{Request, Route};

const PATH: &str = "/hooks/xxxgeneratedkeyxxx";

/// The parameters an incoming webhook takes.
const KEYS: &[&str] = &[
    "text",
    "channel",
    "username",
    "icon_url",
    "icon_emoji",
    "attachments",
    "type",
    "props",
    "priority",
];

fn chat() -> Chat {
    Chat::new(
        &format!(
            "type = \"mattermost\"\nurl = \"{{base}}{PATH}\"\nusername = \"feedwatch\"\nchannel = \"alerts\""
        ),
        PATH,
        check,
    )
}

/// What Mattermost checks of an incoming-webhook post.
fn check(r: &Request) -> Result<(), String> {
    let v = json(r)?;
    let fields = v.as_object().ok_or("the body must be a JSON object")?;
    if let Some(k) = fields.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("unknown parameter {k:?}"));
    }
    text_at_most(&v["text"], "text", 16_383)?;
    for key in ["channel", "username"] {
        if let Some(value) = fields.get(key) {
            text_at_most(value, key, 64)?;
        }
    }
    Ok(())
}

#[test]
fn mattermost_gets_a_post_with_feed_text_inert() {
    let chat = chat();
    let v: Value = serde_json::from_slice(&accepted(&chat, PATH).body).unwrap();
    assert_eq!(v["username"], "feedwatch");
    assert_eq!(v["channel"], "alerts");
    let text = v["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!(
            "**[ISIS-K claims @\u{200B}everyone \\<@\u{200B}U123\\> \\*attack\\* \
             \\[x\\]\\(http:\u{200B}//evil.\u{200B}test\\) \\& co]({LINK})**\n"
        )),
        "{text}"
    );
    assert_eq!(
        text.matches("](").count(),
        1,
        "one link, the story's: {text}"
    );
    assert!(!text.contains("http://evil"), "{text}");
    assert!(
        text.contains("isis-k · Wire \\& Co · 8 Dec 2026 09:14 CET"),
        "{text}"
    );
    assert!(text.contains("ISIS-K (title): **ISIS-K** claims"), "{text}");
}

#[test]
fn mattermost_429_waits_until_the_limit_resets() {
    honours_rate_limit(
        &chat(),
        PATH,
        Route::status(429).with_header("x-ratelimit-reset", "1800"),
    );
}

#[test]
fn mattermost_400_is_given_up_after_three_tries() {
    gives_up_on_400(&chat(), PATH, Route::status(400));
}
