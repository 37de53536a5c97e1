//! Google Chat space webhooks: one text message in Google Chat's own formatting (`*bold*`,
//! links as `<url|text>`).
//!
//! Owns Google Chat's format and its limit of 4096 characters of text. Must never let feed
//! text format, link or mention: Google Chat's text syntax has no escape character, and its
//! documentation promises no decoding of HTML entities (an `&lt;` could show as written), so
//! feed text's syntax characters are replaced by look-alikes (`*` `_` `~` `` ` `` `<` `>`
//! become `∗` `＿` `∼` `ˋ` `‹` `›`): with no `<` there is no `<users/all>` mention and no
//! `<url|text>` link, and bare URLs are broken so Chat links nothing but the story.

use serde_json::json;
use url::Url;

use super::inert::inert;
use super::{ChatRequest, Platform};
use crate::notify::compose::{self, Markup, View};
use crate::notify::message::Message;

/// Longest text of a message.
pub const TEXT_CHARS: usize = 4096;

/// A Google Chat incoming webhook.
pub struct GoogleChat {
    url: Url,
}

impl GoogleChat {
    /// Posts to `url`.
    pub fn new(url: Url) -> GoogleChat {
        GoogleChat { url }
    }
}

/// Google Chat's text formatting.
pub struct ChatFormat;

impl Markup for ChatFormat {
    fn escape(text: &str) -> String {
        let lookalikes = super::inert::lookalikes(text, "*_~`<>");
        // A zero-width space parts `](`, so not even Markdown could read a link.
        inert(&lookalikes, "", "]")
    }

    fn link(url: &Url, text: &str) -> String {
        // `|` ends the URL part of `<url|text>` and `>` the link.
        let url = url.as_str().replace('|', "%7C").replace('>', "%3E");
        format!("<{url}|{text}>")
    }

    fn bold(text: &str) -> String {
        format!("*{text}*")
    }

    fn hit(text: &str) -> String {
        format!("*{text}*")
    }
}

impl Platform for GoogleChat {
    fn request(&self, message: &Message, view: &View) -> ChatRequest {
        let text = match message {
            Message::Alert(a) => compose::alert_text::<ChatFormat>(a, view, TEXT_CHARS),
            Message::Batch(b) => compose::batch_text::<ChatFormat>(b, view, TEXT_CHARS),
        };
        ChatRequest::post_json(&self.url, json!({ "text": text }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use crate::notify::chat::ChatBody;
    use crate::notify::message::{Batch, BatchKind};

    #[test]
    fn a_batch_of_200_stays_within_a_message_and_counts_the_rest() {
        let alerts: Vec<Alert> = (0..200)
            .map(|i| {
                let mut a = crate::notify::test_alert();
                a.alert_id = crate::model::AlertId::new(format!("{i}"));
                a
            })
            .collect();
        let g = GoogleChat::new(Url::parse("https://chat.example/v1/spaces/x/messages").unwrap());
        let view = View {
            tz: chrono_tz::Europe::Berlin,
        };
        let batch = Message::Batch(Batch {
            kind: BatchKind::Digest,
            alerts: &alerts,
        });
        let ChatBody::Json(v) = g.request(&batch, &view).body else {
            panic!("JSON")
        };
        let text = v["text"].as_str().unwrap();
        assert!(compose::measure(text) <= TEXT_CHARS);
        compose::assert_counts_the_rest(text, 200);
        assert!(
            text.ends_with("alerts: ˋfeedwatch alertsˋ lists them all"),
            "{text}"
        );
    }

    #[test]
    fn feed_text_cannot_mention_link_or_format() {
        assert_eq!(
            ChatFormat::escape("<users/all> <http://e.test|x> *b* _i_ ~s~ `c` & [a](b)"),
            "‹users/all› ‹http:\u{200B}//e.\u{200B}test|x› ∗b∗ ＿i＿ ∼s∼ ˋcˋ & [a]\u{200B}(b)"
        );
    }
}
