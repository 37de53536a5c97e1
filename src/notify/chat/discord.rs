//! Discord webhooks: one embed per message (title linked to the story, description in
//! Discord markdown, the published time and the feed as footer) and a short `content` line
//! for notifications.
//!
//! Owns Discord's format and limits: content ≤ 2000 characters, an embed's title ≤ 256,
//! description ≤ 4096, footer ≤ 2048, all of an embed ≤ 6000. Must never let feed text ping
//! anyone or add markup: `allowed_mentions` parses no mention at all, every markdown character
//! in feed text is backslash-escaped, `@` is followed by a zero-width space and bare URLs are
//! broken so Discord links nothing but the story.

use std::time::Duration;

use chrono::SecondsFormat;
use serde_json::{Map, Value, json};
use url::Url;

use super::inert::inert;
use super::{ChatRequest, Platform};
use crate::notify::compose::{self, Markup, View};
use crate::notify::http::Refusal;
use crate::notify::message::Message;

/// Longest `content`.
pub const CONTENT_CHARS: usize = 2000;
/// Longest embed title.
pub const TITLE_CHARS: usize = 256;
/// Longest embed description.
pub const DESCRIPTION_CHARS: usize = 4096;
/// Longest embed footer text.
pub const FOOTER_CHARS: usize = 2048;
/// Most characters in all of an embed's texts together.
pub const EMBED_CHARS: usize = 6000;
/// The footer and `content` are cut shorter than Discord allows, so the whole embed always
/// stays within [`EMBED_CHARS`].
const SHORT_CHARS: usize = 256;
const _: () = assert!(
    SHORT_CHARS <= CONTENT_CHARS
        && SHORT_CHARS <= FOOTER_CHARS
        && TITLE_CHARS + DESCRIPTION_CHARS + SHORT_CHARS <= EMBED_CHARS
);

/// A Discord webhook.
pub struct Discord {
    url: Url,
}

impl Discord {
    /// Posts to `url`.
    pub fn new(url: Url) -> Discord {
        Discord { url }
    }
}

/// Discord's markdown.
pub struct DiscordMarkdown;

impl Markup for DiscordMarkdown {
    fn escape(text: &str) -> String {
        inert(text, "\\*_~`|>#-[]()<", "@")
    }
}

/// `text` cut to `max`, then escaped: cutting escaped text could leave half an escape.
fn short(text: &str, max: usize) -> String {
    DiscordMarkdown::escape(&compose::cut(text, max / 2))
}

impl Platform for Discord {
    fn request(&self, message: &Message, view: &View) -> ChatRequest {
        let mut embed = Map::new();
        let content = match message {
            Message::Alert(a) => {
                embed.insert("title".into(), json!(short(&a.headline(), TITLE_CHARS)));
                if let Some(url) = compose::web_link(a) {
                    embed.insert("url".into(), json!(url.as_str()));
                }
                // The title is the embed's own, linked: the description is the rest.
                let text = compose::alert_text::<DiscordMarkdown>(a, view, DESCRIPTION_CHARS);
                if let Some((_, rest)) = text.split_once('\n') {
                    embed.insert("description".into(), json!(rest));
                }
                if let Some(p) = a.item.published {
                    embed.insert(
                        "timestamp".into(),
                        json!(p.to_rfc3339_opts(SecondsFormat::Secs, true)),
                    );
                }
                // Footers are shown as plain text: no markdown to escape, no mention or link.
                let feed = compose::cut(&a.feed.name, SHORT_CHARS);
                embed.insert("footer".into(), json!({ "text": feed }));
                short(&format!("{}: {}", a.watchlist, a.headline()), SHORT_CHARS)
            }
            Message::Batch(b) => {
                embed.insert("title".into(), json!(short(&b.heading(), TITLE_CHARS)));
                embed.insert(
                    "description".into(),
                    json!(compose::batch_text::<DiscordMarkdown>(
                        b,
                        view,
                        DESCRIPTION_CHARS
                    )),
                );
                embed.insert("footer".into(), json!({ "text": "feedwatch" }));
                short(&b.heading(), SHORT_CHARS)
            }
        };
        let body = json!({
            "content": content,
            "embeds": [Value::Object(embed)],
            "allowed_mentions": { "parse": [] },
        });
        ChatRequest::post_json(&self.url, body)
    }

    /// Discord's JSON `retry_after` (seconds, fractional), else `Retry-After`.
    fn retry_hint(&self, refusal: &Refusal) -> Option<Duration> {
        refusal
            .json_seconds(&["retry_after"])
            .or_else(|| refusal.retry_after_header())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use crate::notify::chat::ChatBody;
    use crate::notify::message::{Batch, BatchKind};

    #[test]
    fn a_batch_of_200_stays_within_every_embed_limit_and_counts_the_rest() {
        let alerts: Vec<Alert> = (0..200)
            .map(|i| {
                let mut a = crate::notify::test_alert();
                a.alert_id = crate::model::AlertId::new(format!("{i}"));
                a
            })
            .collect();
        let d = Discord::new(Url::parse("https://discord.example/api/webhooks/1/x").unwrap());
        let view = View {
            tz: chrono_tz::Europe::Berlin,
        };
        let batch = Message::Batch(Batch {
            kind: BatchKind::Summary,
            alerts: &alerts,
        });
        let ChatBody::Json(v) = d.request(&batch, &view).body else {
            panic!("JSON")
        };
        let len = |v: &Value| compose::measure(v.as_str().unwrap());
        let embed = &v["embeds"][0];
        assert!(len(&v["content"]) <= CONTENT_CHARS);
        assert!(len(&embed["title"]) <= TITLE_CHARS);
        assert!(len(&embed["description"]) <= DESCRIPTION_CHARS);
        assert!(len(&embed["footer"]["text"]) <= FOOTER_CHARS);
        assert!(
            len(&embed["title"]) + len(&embed["description"]) + len(&embed["footer"]["text"])
                <= EMBED_CHARS
        );
        assert_eq!(v["allowed_mentions"]["parse"], json!([]));
        let text = embed["description"].as_str().unwrap();
        compose::assert_counts_the_rest(text, 200);
        assert!(
            text.ends_with("alerts: \\`feedwatch alerts\\` lists them all"),
            "{text}"
        );
    }

    #[test]
    fn discord_markdown_and_mentions_in_feed_text_are_inert() {
        assert_eq!(
            DiscordMarkdown::escape("# @everyone <@1> **x** [a](http://e.test) - ~y~"),
            "\\# @\u{200B}everyone \\<@\u{200B}1\\> \\*\\*x\\*\\* \\[a\\]\\(http:\u{200B}//e.\u{200B}test\\) \\- \\~y\\~"
        );
    }
}
