//! Slack incoming webhooks: a `text` fallback (shown in notifications) and Block Kit `blocks`:
//! a header, a section in mrkdwn, and a context line.
//!
//! Owns Slack's format and limits: a header's plain text ≤ 150 characters, a section's text
//! ≤ 3000. Must never let feed text reach mrkdwn unescaped: `&`, `<` and `>` are escaped, so no
//! link, mention (`<!channel>`) or user ping can be smuggled in; `*` `_` `~` `` ` `` become
//! look-alikes, as mrkdwn has no escape for them; and `verbatim`, with URLs in feed text
//! broken by a zero-width space, stops Slack turning them and channel names into links.

use serde_json::{Value, json};
use url::Url;

use super::inert::{lookalikes, unlink};
use super::{ChatRequest, Platform};
use crate::notify::compose::{self, Markup, View};
use crate::notify::message::Message;

/// Longest text of a `header` block.
pub const HEADER_CHARS: usize = 150;
/// Longest text of a `section` block.
pub const SECTION_CHARS: usize = 3000;

/// A Slack incoming webhook.
pub struct Slack {
    url: Url,
}

impl Slack {
    /// Posts to `url`.
    pub fn new(url: Url) -> Slack {
        Slack { url }
    }
}

/// Slack's `mrkdwn`.
pub struct Mrkdwn;

impl Markup for Mrkdwn {
    fn escape(text: &str) -> String {
        // mrkdwn has no escape for its emphasis marks: look-alikes keep them text.
        unlink(&lookalikes(text, "*_~`"))
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }

    fn link(url: &Url, text: &str) -> String {
        // `|` and `>` end the URL part of `<url|text>`.
        let url = url
            .as_str()
            .replace('&', "&amp;")
            .replace('<', "%3C")
            .replace('>', "%3E")
            .replace('|', "%7C");
        format!("<{url}|{text}>")
    }

    fn bold(text: &str) -> String {
        format!("*{text}*")
    }

    fn hit(text: &str) -> String {
        format!("*{text}*")
    }
}

fn mrkdwn(text: String) -> Value {
    json!({ "type": "mrkdwn", "text": text, "verbatim": true })
}

impl Platform for Slack {
    fn request(&self, message: &Message, view: &View) -> ChatRequest {
        let (fallback, header, section, context) = match message {
            Message::Alert(a) => (
                format!(
                    "[{}] {}",
                    Mrkdwn::escape(&a.watchlist),
                    Mrkdwn::escape(&a.headline())
                ),
                format!("{}: {}", a.watchlist, a.headline()),
                compose::highlights::<Mrkdwn>(a, SECTION_CHARS),
                compose::source::<Mrkdwn>(a, view),
            ),
            Message::Batch(b) => (
                Mrkdwn::escape(&b.heading()),
                b.heading(),
                compose::batch_text::<Mrkdwn>(b, view, SECTION_CHARS),
                "feedwatch".to_owned(),
            ),
        };
        let body = json!({
            "text": fallback,
            "blocks": [
                {
                    "type": "header",
                    "text": {
                        "type": "plain_text",
                        "text": compose::cut(&header, HEADER_CHARS),
                        "emoji": false,
                    },
                },
                { "type": "section", "text": mrkdwn(section) },
                { "type": "context", "elements": [mrkdwn(compose::cut(&context, SECTION_CHARS))] },
            ],
        });
        ChatRequest::post_json(&self.url, body)
    }
}
