//! Microsoft Teams Workflows webhooks: a `message` with one Adaptive Card attachment, as in
//! <https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook>,
//! the card per <https://adaptivecards.io/explorer/>, and Teams' message limit of about 28 KB.

use serde_json::Value;

use super::{Chat, LINK, accepted, gives_up_on_400, honours_rate_limit, json, text_at_most};
use crate::common::http::{Request, Route};

const PATH: &str = "/workflows/abc/triggers/manual/paths/invoke";

fn chat() -> Chat {
    Chat::new(
        &format!("type = \"teams\"\nurl = \"{{base}}{PATH}\""),
        PATH,
        check,
    )
}

/// What a Workflows webhook and Teams check of a card message.
fn check(r: &Request) -> Result<(), String> {
    if r.body.len() > 28_000 {
        return Err(format!(
            "message of {} bytes is over Teams' 28 KB",
            r.body.len()
        ));
    }
    let v = json(r)?;
    if v["type"] != "message" {
        return Err("type must be \"message\"".into());
    }
    let attachments = v["attachments"].as_array().ok_or("attachments: an array")?;
    let [attachment] = attachments.as_slice() else {
        return Err("one attachment: the card".into());
    };
    if attachment["contentType"] != "application/vnd.microsoft.card.adaptive" {
        return Err("contentType must be application/vnd.microsoft.card.adaptive".into());
    }
    if !attachment["contentUrl"].is_null() {
        return Err("contentUrl must be null".into());
    }
    let card = &attachment["content"];
    if card["type"] != "AdaptiveCard" {
        return Err("content.type must be AdaptiveCard".into());
    }
    if card["version"] != "1.4" {
        return Err(format!("card version {} is not 1.4", card["version"]));
    }
    if card["$schema"] != "http://adaptivecards.io/schemas/adaptive-card.json" {
        return Err("$schema: the Adaptive Card schema".into());
    }
    let body = card["body"].as_array().ok_or("body: an array")?;
    if body.is_empty() {
        return Err("body: at least one element".into());
    }
    for element in body {
        if element["type"] != "TextBlock" {
            return Err(format!("unexpected element type {}", element["type"]));
        }
        text_at_most(&element["text"], "TextBlock text", 28_000)?;
        if !element["wrap"].is_boolean() {
            return Err("TextBlock wrap must be a boolean".into());
        }
    }
    if let Some(actions) = card.get("actions") {
        for a in actions.as_array().ok_or("actions: an array")? {
            if a["type"] != "Action.OpenUrl" {
                return Err(format!("unexpected action type {}", a["type"]));
            }
            text_at_most(&a["title"], "action title", 100)?;
            let url = a["url"].as_str().ok_or("Action.OpenUrl needs a url")?;
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(format!("Action.OpenUrl url {url:?} is not http(s)"));
            }
        }
    }
    Ok(())
}

#[test]
fn teams_gets_an_adaptive_card_with_feed_text_inert() {
    let chat = chat();
    let v: Value = serde_json::from_slice(&accepted(&chat, PATH).body).unwrap();
    let card = &v["attachments"][0]["content"];
    let texts: Vec<&str> = card["body"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts[0],
        format!(
            "**[ISIS-K claims @everyone ‹@U123› ∗attack∗ \
             ［x］(http:\u{200B}//evil.\u{200B}test) & co]({LINK})**"
        )
    );
    assert_eq!(texts[1], "isis-k · Wire & Co · 8 Dec 2026 09:14 CET");
    assert!(
        texts[2].starts_with("ISIS-K (title): **ISIS-K** claims"),
        "{}",
        texts[2]
    );
    let all = texts.join("\n");
    assert_eq!(all.matches("](").count(), 1, "one link, the story's: {all}");
    assert!(!all.contains("http://evil"), "{all}");
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(card["actions"][0]["url"], LINK);
}

#[test]
fn teams_429_waits_as_asked() {
    honours_rate_limit(
        &chat(),
        PATH,
        Route::status(429).with_header("retry-after", "1800"),
    );
}

#[test]
fn teams_400_is_given_up_after_three_tries() {
    gives_up_on_400(&chat(), PATH, Route::status(400));
}
