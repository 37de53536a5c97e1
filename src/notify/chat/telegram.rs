//! Telegram bots: `sendMessage` with `parse_mode` `HTML`, as
//! <https://core.telegram.org/bots/api#sendmessage> documents, link previews off.
//!
//! Owns Telegram's format and limits: its HTML subset (`<b>`, `<a href>`), a text of at most
//! [`TEXT_UNITS`] UTF-16 units after entities are parsed (counted before, which is never less).
//! Must never let feed text reach the HTML unescaped (`&`, `<`, `>` and, in a link, `"` are
//! entities), never let Telegram find a URL, a bare domain or an `@mention` in it (a zero-width
//! space breaks `://`, a dot before a letter and each `@`), and never let the bot token, which
//! sits in the request path, reach a log: a refusal that echoes it loses it first.

use std::time::Duration;

use serde_json::{Value, json};
use url::Url;

use super::plain;
use super::{ChatRequest, Platform, html_escape};
use crate::notify::compose::{self, Markup, View};
use crate::notify::http::Refusal;
use crate::notify::message::Message;

/// Longest message text, in UTF-16 units.
pub const TEXT_UNITS: usize = 4096;

/// A Telegram bot posting in one chat.
pub struct Telegram {
    url: Url,
    chat_id: Value,
    secrets: Vec<String>,
}

impl Telegram {
    /// Posts through the Bot API at `api_url` as the bot with `token`, in `chat_id` (a number,
    /// or a channel's `@name`).
    pub fn new(api_url: &Url, token: &str, chat_id: &str) -> Telegram {
        let token = token.trim();
        let mut url = api_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .push(&format!("bot{token}"))
                .push("sendMessage");
        }
        // A chat's number goes as a number, a channel's @name as a string, as documented.
        let chat_id = chat_id
            .parse::<i64>()
            .map_or_else(|_| Value::from(chat_id), Value::from);
        Telegram {
            url,
            chat_id,
            secrets: vec![token.to_owned()],
        }
    }
}

/// Telegram's HTML subset.
pub struct TelegramHtml;

impl Markup for TelegramHtml {
    fn escape(text: &str) -> String {
        // Telegram finds URLs and `@username` mentions in any text; a zero-width space stops it.
        html_escape(&super::inert::unlink(&plain::one_line(text)))
            .replace('@', &format!("@{}", super::inert::ZWSP))
    }

    fn link(url: &Url, text: &str) -> String {
        format!("<a href=\"{}\">{text}</a>", html_escape(url.as_str()))
    }

    fn bold(text: &str) -> String {
        format!("<b>{text}</b>")
    }

    fn hit(text: &str) -> String {
        format!("<b>{text}</b>")
    }
}

impl Platform for Telegram {
    fn request(&self, message: &Message, view: &View) -> ChatRequest {
        let text = match message {
            Message::Alert(a) => compose::alert_text::<TelegramHtml>(a, view, TEXT_UNITS),
            Message::Batch(b) => compose::batch_text::<TelegramHtml>(b, view, TEXT_UNITS),
        };
        let body = json!({
            "chat_id": self.chat_id,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": { "is_disabled": true },
        });
        ChatRequest::post_json(&self.url, body)
    }

    /// Telegram says how long in `parameters.retry_after` of its JSON answer.
    fn retry_hint(&self, refusal: &Refusal) -> Option<Duration> {
        refusal
            .json_seconds(&["parameters", "retry_after"])
            .or_else(|| refusal.retry_after_header())
    }

    fn without_secrets(&self, text: String) -> String {
        crate::notify::http::redact(text, &self.secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use crate::notify::chat::ChatBody;
    use crate::notify::message::{Batch, BatchKind};
    use crate::notify::test_alert;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    fn telegram(chat_id: &str) -> Telegram {
        let api = Url::parse("https://api.telegram.org").unwrap();
        Telegram::new(&api, "123456:ABC-def", chat_id)
    }

    fn view() -> View {
        View {
            tz: chrono_tz::Europe::Berlin,
        }
    }

    #[test]
    fn the_token_goes_in_the_path_and_a_chat_number_as_a_number() {
        let mut a = test_alert();
        a.item.title = "<b>\"x\" & y</b>".into();
        a.item.link = Some("https://example.org/?a=1&b=\"2\"".into());
        let r = telegram("-100123").request(&Message::Alert(&a), &view());
        assert_eq!(
            r.url.as_str(),
            "https://api.telegram.org/bot123456:ABC-def/sendMessage"
        );
        let ChatBody::Json(v) = &r.body else {
            panic!("JSON")
        };
        assert_eq!(v["chat_id"], -100_123);
        assert_eq!(v["parse_mode"], "HTML");
        assert_eq!(v["link_preview_options"]["is_disabled"], true);
        assert!(
            v["text"].as_str().unwrap().starts_with(
                "<b><a href=\"https://example.org/?a=1&amp;b=%222%22\">&lt;b&gt;&quot;x&quot; &amp; y&lt;/b&gt;</a></b>\n"
            ),
            "{v}"
        );
        let ChatBody::Json(v) = telegram("@news").request(&Message::Alert(&a), &view()).body else {
            panic!("JSON")
        };
        assert_eq!(v["chat_id"], "@news");
    }

    #[test]
    fn a_long_batch_stays_within_the_limit_and_counts_the_rest() {
        let alerts: Vec<Alert> = crate::notify::test_alerts(200);
        let batch = Batch {
            kind: BatchKind::Summary,
            alerts: &alerts,
        };
        let r = telegram("1").request(&Message::Batch(batch), &view());
        let ChatBody::Json(v) = &r.body else {
            panic!("JSON")
        };
        let text = v["text"].as_str().unwrap();
        assert!(compose::measure(text) <= TEXT_UNITS);
        compose::assert_counts_the_rest(text, 200);
    }

    #[test]
    fn the_retry_hint_is_read_from_the_json_answer_and_the_token_never_shown() {
        let headers = HeaderMap::new();
        let body = br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1800","parameters":{"retry_after":1800}}"#;
        let refusal = Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            headers: &headers,
            body,
        };
        assert_eq!(
            telegram("1").retry_hint(&refusal),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(
            telegram("1").without_secrets("no /bot123456:ABC-def/sendMessage".into()),
            "no /bot[redacted]/sendMessage"
        );
    }
}
