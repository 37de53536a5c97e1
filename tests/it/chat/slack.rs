//! Slack incoming webhooks: Block Kit as documented at
//! <https://api.slack.com/reference/block-kit/blocks> and
//! <https://api.slack.com/messaging/webhooks>.

use serde_json::Value;

use super::{Chat, accepted, gives_up_on_400, honours_rate_limit, json, text_at_most};
use crate::common::http::{Request, Route};

const PATH: &str = "/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX";

fn chat() -> Chat {
    Chat::new(
        &format!("type = \"slack\"\nurl = \"{{base}}{PATH}\""),
        PATH,
        check,
    )
}

/// What Slack checks of an incoming-webhook message.
fn check(r: &Request) -> Result<(), String> {
    let v = json(r)?;
    text_at_most(&v["text"], "text", 40_000)?;
    let blocks = v["blocks"].as_array().ok_or("blocks must be an array")?;
    if blocks.is_empty() || blocks.len() > 50 {
        return Err("invalid_blocks: 1 to 50 blocks".into());
    }
    for b in blocks {
        match b["type"].as_str() {
            Some("header") => {
                if b["text"]["type"] != "plain_text" {
                    return Err("invalid_blocks: a header's text must be plain_text".into());
                }
                text_at_most(&b["text"]["text"], "header text", 150)?;
            }
            Some("section") => text_object(&b["text"], 3000)?,
            Some("context") => {
                let elements = b["elements"].as_array().ok_or("context needs elements")?;
                if elements.is_empty() || elements.len() > 10 {
                    return Err("invalid_blocks: 1 to 10 context elements".into());
                }
                for e in elements {
                    text_object(e, 3000)?;
                }
            }
            other => return Err(format!("invalid_blocks: unknown block type {other:?}")),
        }
    }
    Ok(())
}

fn text_object(t: &Value, max: usize) -> Result<(), String> {
    match t["type"].as_str() {
        Some("mrkdwn" | "plain_text") => text_at_most(&t["text"], "text object", max).map(drop),
        _ => Err("invalid_blocks: a text object is mrkdwn or plain_text".into()),
    }
}

#[test]
fn slack_gets_blocks_its_schema_accepts_with_feed_text_inert() {
    let chat = chat();
    let v: Value = serde_json::from_slice(&accepted(&chat, PATH).body).unwrap();
    let section = v["blocks"][1]["text"]["text"].as_str().unwrap();
    // The one link is the story's; the title's mentions and markup are text.
    assert!(
        section.starts_with("*<http://news.test/story?a=1&amp;b=2|ISIS-K claims @everyone &lt;@U123&gt; ∗attack∗ [x](http:\u{200B}//evil.\u{200B}test) &amp; co>*"),
        "{section}"
    );
    assert_eq!(section.matches('<').count(), 1, "{section}");
    assert_eq!(
        v["blocks"][2]["elements"][0]["text"],
        "isis-k · Wire &amp; Co · 8 Dec 2026 09:14 CET"
    );
    assert!(
        section.contains("ISIS-K (title): *ISIS-K* claims"),
        "{section}"
    );
    assert_eq!(v["blocks"][1]["text"]["verbatim"], true);
    assert!(
        v["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("isis-k: ISIS-K claims @everyone <@U123>"),
        "a header is plain text: {v}"
    );
}

#[test]
fn slack_429_waits_as_asked() {
    honours_rate_limit(
        &chat(),
        PATH,
        Route::status(429).with_header("retry-after", "1800"),
    );
}

#[test]
fn slack_400_is_given_up_after_three_tries() {
    gives_up_on_400(&chat(), PATH, Route::status(400));
}
