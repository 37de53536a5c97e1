//! Mattermost incoming webhooks (Slack-compatible): one post with a `text` in Mattermost
//! markdown, and the configured `username` and `channel` when set.
//!
//! Owns Mattermost's format and its limit of 16,383 characters a post (longer text the server
//! splits into several posts). Must never let feed text reach the markdown as markup: every
//! markdown character is backslash-escaped, and a zero-width space after `@`, `~` and `#`
//! keeps `@channel`, `@all`, `@here`, a user, a `~channel` or a `#hashtag` from being
//! recognised, as it does for bare URLs Mattermost would link.

use std::time::Duration;

use serde_json::{Map, Value, json};
use url::Url;

use super::inert::inert;
use super::{ChatRequest, Platform};
use crate::notify::compose::{self, Markup, View};
use crate::notify::http::Refusal;
use crate::notify::message::Message;

/// Longest text of one post.
pub const TEXT_CHARS: usize = 16_383;

/// A Mattermost incoming webhook.
pub struct Mattermost {
    url: Url,
    username: Option<String>,
    channel: Option<String>,
}

impl Mattermost {
    /// Posts to `url`, as `username` and in `channel` when given.
    pub fn new(url: Url, username: Option<String>, channel: Option<String>) -> Mattermost {
        Mattermost {
            url,
            username,
            channel,
        }
    }
}

/// Mattermost's markdown.
pub struct MattermostMarkdown;

impl Markup for MattermostMarkdown {
    fn escape(text: &str) -> String {
        inert(text, "\\*_`[]()<>|!&", "@~#")
    }
}

impl Platform for Mattermost {
    fn request(&self, message: &Message, view: &View) -> ChatRequest {
        let text = match message {
            Message::Alert(a) => compose::alert_text::<MattermostMarkdown>(a, view, TEXT_CHARS),
            Message::Batch(b) => compose::batch_text::<MattermostMarkdown>(b, view, TEXT_CHARS),
        };
        let mut body = Map::new();
        body.insert("text".into(), json!(text));
        if let Some(u) = &self.username {
            body.insert("username".into(), json!(u));
        }
        if let Some(c) = &self.channel {
            body.insert("channel".into(), json!(c));
        }
        ChatRequest::post_json(&self.url, Value::Object(body))
    }

    /// `Retry-After`, else Mattermost's own `X-Ratelimit-Reset`: the seconds until the
    /// limit resets.
    fn retry_hint(&self, refusal: &Refusal) -> Option<Duration> {
        refusal.retry_after_header().or_else(|| {
            refusal
                .headers
                .get("x-ratelimit-reset")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s.min(86_400)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use crate::notify::chat::ChatBody;
    use crate::notify::message::{Batch, BatchKind};

    #[test]
    fn mentions_channels_and_hashtags_in_feed_text_stay_text() {
        assert_eq!(
            MattermostMarkdown::escape("@here ~town-square #tag a@b.test"),
            "@\u{200B}here ~\u{200B}town-square #\u{200B}tag a@\u{200B}b.\u{200B}test"
        );
    }

    #[test]
    fn a_batch_of_200_stays_within_a_post_and_counts_the_rest() {
        let alerts: Vec<Alert> = (0..200)
            .map(|i| {
                let mut a = crate::notify::test_alert();
                a.alert_id = crate::model::AlertId::new(format!("{i}"));
                a
            })
            .collect();
        let m = Mattermost::new(
            Url::parse("https://chat.example.org/hooks/x").unwrap(),
            None,
            None,
        );
        let view = View {
            tz: chrono_tz::Europe::Berlin,
        };
        let batch = Message::Batch(Batch {
            kind: BatchKind::Digest,
            alerts: &alerts,
        });
        let ChatBody::Json(v) = m.request(&batch, &view).body else {
            panic!("JSON")
        };
        let text = v["text"].as_str().unwrap();
        assert!(compose::measure(text) <= TEXT_CHARS);
        assert!(v.get("username").is_none() && v.get("channel").is_none());
        let last = text.lines().last().unwrap();
        assert!(
            last.starts_with("… and ") && last.contains(" more alerts: \\`feedwatch alerts\\`"),
            "{last}"
        );
        let shown = text.matches("• ").count();
        assert!(last.contains(&format!(" {} more", 200 - shown)), "{last}");
    }
}
