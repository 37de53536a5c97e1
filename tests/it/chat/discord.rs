//! Discord webhooks, as documented at
//! <https://discord.com/developers/docs/resources/webhook#execute-webhook>, with the embed
//! limits of <https://discord.com/developers/docs/resources/message#embed-object-embed-limits>
//! and the 429 answer of <https://discord.com/developers/docs/topics/rate-limits>.

use serde_json::{Value, json};

use super::{Chat, LINK, accepted, gives_up_on_400, honours_rate_limit, json, text_at_most};
use crate::common::http::{Request, Route};

const PATH: &str = "/api/webhooks/123456/token-abc";

/// The fields Execute Webhook takes as JSON.
const KEYS: &[&str] = &[
    "content",
    "username",
    "avatar_url",
    "tts",
    "embeds",
    "allowed_mentions",
    "components",
    "attachments",
    "flags",
    "thread_name",
    "applied_tags",
    "poll",
];

fn chat() -> Chat {
    Chat::new(
        &format!("type = \"discord\"\nurl = \"{{base}}{PATH}\""),
        PATH,
        check,
    )
}

/// Characters as Discord counts them for its embed total.
fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// What Discord checks of an Execute Webhook body.
fn check(r: &Request) -> Result<(), String> {
    let v = json(r)?;
    let fields = v.as_object().ok_or("the body must be a JSON object")?;
    if let Some(k) = fields.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("unknown field {k:?}"));
    }
    let content = match fields.get("content") {
        None => "",
        Some(c) => c.as_str().ok_or("content must be a string")?,
    };
    if content.chars().count() > 2000 {
        return Err("content: Must be 2000 or fewer in length.".into());
    }
    let embeds = match fields.get("embeds") {
        None => &Vec::new(),
        Some(e) => e.as_array().ok_or("embeds must be an array")?,
    };
    if content.is_empty() && embeds.is_empty() {
        return Err("Cannot send an empty message (code 50006)".into());
    }
    if embeds.len() > 10 {
        return Err("embeds: at most 10".into());
    }
    let mut total = 0;
    for e in embeds {
        if let Some(t) = e.get("title") {
            text_at_most(t, "embed title", 256)?;
        }
        if let Some(d) = e.get("description") {
            text_at_most(d, "embed description", 4096)?;
        }
        if let Some(u) = e.get("url") {
            let u = u.as_str().ok_or("embed url must be a string")?;
            let scheme = url::Url::parse(u).map_err(|_| "embed url: Not a well formed URL.")?;
            if !matches!(scheme.scheme(), "http" | "https") {
                return Err("embed url: Scheme must be one of ('http', 'https').".into());
            }
        }
        if let Some(t) = e.get("timestamp") {
            t.as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .ok_or("embed timestamp must be ISO8601")?;
        }
        if let Some(f) = e.get("footer") {
            text_at_most(&f["text"], "embed footer text", 2048)?;
        }
        total += chars(&e["title"]) + chars(&e["description"]) + chars(&e["footer"]["text"]);
        if let Some(author) = e.get("author") {
            total += chars(&author["name"]);
        }
    }
    if total > 6000 {
        return Err(format!("embeds: {total} characters, more than 6000"));
    }
    if let Some(m) = fields.get("allowed_mentions") {
        let parse = m["parse"]
            .as_array()
            .ok_or("allowed_mentions.parse: an array")?;
        if parse
            .iter()
            .any(|p| !matches!(p.as_str(), Some("roles" | "users" | "everyone")))
        {
            return Err("allowed_mentions.parse: roles, users or everyone".into());
        }
    }
    Ok(())
}

#[test]
fn discord_gets_an_embed_within_its_limits_that_pings_no_one() {
    let chat = chat();
    let v: Value = serde_json::from_slice(&accepted(&chat, PATH).body).unwrap();
    assert_eq!(v["allowed_mentions"]["parse"], json!([]));
    let embed = &v["embeds"][0];
    let title = "ISIS\\-K claims @\u{200B}everyone \\<@\u{200B}U123\\> \\*attack\\* \
                 \\[x\\]\\(http:\u{200B}//evil.\u{200B}test\\) & co";
    assert_eq!(embed["title"], title);
    assert_eq!(embed["url"], LINK, "the one link is the story's");
    assert_eq!(embed["timestamp"], "2026-12-08T08:14:00Z");
    assert_eq!(
        embed["footer"]["text"], "Wire & Co",
        "a footer is plain text"
    );
    let description = embed["description"].as_str().unwrap();
    assert!(
        description.starts_with("isis\\-k · Wire & Co · 8 Dec 2026 09:14 CET\n"),
        "{description}"
    );
    assert!(
        description.contains("ISIS\\-K (title): **ISIS\\-K** claims @\u{200B}everyone"),
        "{description}"
    );
    let body = String::from_utf8_lossy(&chat.http.requests(PATH)[0].body).into_owned();
    assert!(!body.contains("http://evil"), "{body}");
    assert!(!body.contains("]("), "no markdown link at all: {body}");
    assert!(
        v["content"]
            .as_str()
            .unwrap()
            .starts_with("isis\\-k: ISIS\\-K claims @\u{200B}everyone"),
        "{v}"
    );
}

#[test]
fn discord_429_waits_as_its_json_body_says() {
    honours_rate_limit(
        &chat(),
        PATH,
        Route::status(429)
            .with_header("content-type", "application/json")
            .with_body(
                r#"{"retry_after": 1800.0, "global": false, "message": "You are being rate limited."}"#,
            ),
    );
}

#[test]
fn discord_400_is_given_up_after_three_tries() {
    gives_up_on_400(&chat(), PATH, Route::status(400));
}
