//! Microsoft Teams through a Workflows (Power Automate) webhook: a `message` carrying one
//! Adaptive Card 1.4, its text in `TextBlock`s, with an `Action.OpenUrl` button to the story.
//!
//! Owns the card's shape and its size: Teams refuses a message over about 28 KB, so the text is
//! fitted to [`TEXT_CHARS`], and fitted again to less while the JSON would still be larger
//! (non-Latin text takes up to three bytes a character, and each line is a block). Must never
//! let feed text reach a `TextBlock`'s markdown as markup: Adaptive Cards document no escape
//! character, so its markdown marks become look-alikes (with no `[` there is no link), and
//! bare URLs are broken so Teams links nothing but the story. A Teams mention needs an `<at>`
//! tag and an entry in the card's `msteams.entities`, which feed text cannot add.

use serde_json::{Value, json};
use url::Url;

use super::inert::{inert, lookalikes};
use super::{ChatRequest, Platform};
use crate::notify::compose::{self, Markup, View};
use crate::notify::message::Message;

/// Largest message Teams takes, in bytes of JSON.
pub const MESSAGE_BYTES: usize = 28_000;
/// Most text on one card (see [`compose::measure`]), when it fits in [`MESSAGE_BYTES`].
pub const TEXT_CHARS: usize = 12_000;

/// A Teams Workflows webhook.
pub struct Teams {
    url: Url,
}

impl Teams {
    /// Posts to `url`.
    pub fn new(url: Url) -> Teams {
        Teams { url }
    }
}

/// The markdown subset of an Adaptive Card `TextBlock`.
pub struct CardMarkdown;

impl Markup for CardMarkdown {
    fn escape(text: &str) -> String {
        // Adaptive Cards document no escape character, so a backslash would show: markdown
        // marks become look-alikes, and without `[` there is no link.
        inert(&lookalikes(text, "*_~`[]<>"), "", "")
    }
}

fn text_block(text: &str) -> Value {
    json!({ "type": "TextBlock", "text": text, "wrap": true })
}

impl Platform for Teams {
    fn request(&self, message: &Message, view: &View) -> ChatRequest {
        let mut max = TEXT_CHARS;
        loop {
            let body = card(message, view, max);
            let bytes = serde_json::to_vec(&body).map_or(0, |b| b.len());
            // A quarter less each time: a few rounds at most, and a message Teams takes.
            if bytes <= MESSAGE_BYTES || max < 500 {
                return ChatRequest::post_json(&self.url, body);
            }
            max -= max / 4;
        }
    }
}

/// The message for `message`, its text fitted to `max`.
fn card(message: &Message, view: &View, max: usize) -> Value {
    let (text, story) = match message {
        Message::Alert(a) => (
            compose::alert_text::<CardMarkdown>(a, view, max),
            compose::web_link(a),
        ),
        Message::Batch(b) => (compose::batch_text::<CardMarkdown>(b, view, max), None),
    };
    // One block a line: a TextBlock's markdown has no line break of its own.
    let body: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(text_block)
        .collect();
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    if let Some(url) = story {
        content["actions"] = json!([
            { "type": "Action.OpenUrl", "title": "Open story", "url": url.as_str() }
        ]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": content,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use crate::notify::chat::ChatBody;
    use crate::notify::message::{Batch, BatchKind};

    #[test]
    fn a_batch_of_200_fits_a_teams_message_and_counts_the_rest() {
        let alerts: Vec<Alert> = (0..200)
            .map(|i| {
                let mut a = crate::notify::test_alert();
                a.alert_id = crate::model::AlertId::new(format!("{i}"));
                // Three bytes of UTF-8 a character: the worst case for the size.
                a.item.title = "中".repeat(60);
                a
            })
            .collect();
        let t = Teams::new(Url::parse("https://prod.example/workflows/x").unwrap());
        let view = View {
            tz: chrono_tz::Europe::Berlin,
        };
        let batch = Message::Batch(Batch {
            kind: BatchKind::Digest,
            alerts: &alerts,
        });
        let ChatBody::Json(v) = t.request(&batch, &view).body else {
            panic!("JSON")
        };
        let bytes = serde_json::to_vec(&v).unwrap().len();
        assert!(bytes <= MESSAGE_BYTES, "{bytes} bytes");
        let body = v["attachments"][0]["content"]["body"].as_array().unwrap();
        let text: Vec<&str> = body.iter().map(|b| b["text"].as_str().unwrap()).collect();
        let shown = compose::assert_counts_the_rest(&text.join("\n"), 200);
        let last = text.last().copied().unwrap_or_default();
        assert!(
            last.ends_with("alerts: ˋfeedwatch alertsˋ lists them all"),
            "{last}"
        );
        assert!(shown > 10, "{shown}");
        assert!(v["attachments"][0]["content"].get("actions").is_none());
    }
}
