//! ntfy: the message as the plain-text body of a `POST` to the topic URL, the rest in headers
//! (`Title`, `Click`, `Tags`, `Priority`, `Authorization`), as <https://docs.ntfy.sh/publish/>
//! documents.
//!
//! Owns ntfy's format and limits: a body of at most [`BODY_BYTES`] (longer ones ntfy turns into
//! an attachment), Markdown off. Must never let feed text into a header as it came: control
//! characters (a CR/LF would start a header of its own) become spaces, and text that is not
//! ASCII, or holds `=?` (which ntfy would decode as an RFC 2047 encoded-word), is sent as
//! encoded-words, the documented way to send UTF-8 in ntfy's headers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use url::Url;

use super::plain::{self, Plain};
use super::{ChatBody, ChatRequest, Platform};
use crate::notify::compose::{self, View};
use crate::notify::message::Message;

/// Most bytes of a message body ntfy shows as a message.
pub const BODY_BYTES: usize = 4096;
/// Longest title sent, in characters: a notification shows one line of it.
pub const TITLE_CHARS: usize = 250;
/// Most UTF-8 bytes one encoded-word carries, so it stays within RFC 2047's 75 characters.
const WORD_BYTES: usize = 45;

/// An ntfy topic.
pub struct Ntfy {
    url: Url,
    auth: Option<HeaderValue>,
    priority: u8,
    tags: Vec<String>,
    secrets: Vec<String>,
}

impl Ntfy {
    /// Publishes to the topic at `url`, with `token` as a bearer token when given, at
    /// `priority` (1–5), tagged with `tags` beside the watchlist's name.
    pub fn new(
        url: &Url,
        token: Option<&str>,
        priority: u8,
        tags: &[String],
    ) -> Result<Ntfy, String> {
        let auth = token
            .map(|t| {
                let mut v =
                    HeaderValue::from_str(&format!("Bearer {}", t.trim())).map_err(|_| {
                        "the ntfy token holds characters a header cannot carry; check `token`"
                            .to_owned()
                    })?;
                v.set_sensitive(true);
                Ok::<_, String>(v)
            })
            .transpose()?;
        let tags = tags
            .iter()
            .map(|t| plain::one_line(t).replace(',', " ").trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        // The topic's name may be the only secret: an answer must not echo it into a log.
        let topic = url.path().trim_matches('/').to_owned();
        let secrets = [token.map(str::to_owned), Some(topic)]
            .into_iter()
            .flatten()
            .collect();
        Ok(Ntfy {
            url: url.clone(),
            auth,
            priority,
            tags,
            secrets,
        })
    }

    /// The `Tags` header's value: each watchlist's name as a tag, then the configured tags.
    fn tags<'a>(&self, watchlists: impl Iterator<Item = &'a str>) -> String {
        let mut tags: Vec<String> = Vec::new();
        for w in watchlists.map(tag) {
            if !w.is_empty() && !tags.contains(&w) {
                tags.push(w);
            }
        }
        tags.extend(self.tags.iter().cloned());
        tags.join(",")
    }
}

/// A watchlist name as an ntfy tag: lowercase ASCII letters, digits, `-` and `_`; any other
/// run of characters one `_` (a `,` would split it, and a tag that is an emoji short code
/// shows as that emoji).
fn tag(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

/// `text` as a header value ntfy reads back as `text`, or `None` when nothing is left.
pub fn header_text(text: &str) -> Option<HeaderValue> {
    let text = plain::one_line(text);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if text.is_ascii() && !text.contains("=?") {
        HeaderValue::from_str(text).ok()
    } else {
        HeaderValue::from_str(&encoded_words(text)).ok()
    }
}

/// `text` as RFC 2047 encoded-words (`=?UTF-8?B?…?=`), split between characters, separated by
/// spaces (which a decoder drops between encoded-words).
fn encoded_words(text: &str) -> String {
    let mut words = Vec::new();
    let mut chunk = String::with_capacity(WORD_BYTES);
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > WORD_BYTES {
            words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(&chunk)));
    }
    words.join(" ")
}

impl Platform for Ntfy {
    fn request(&self, message: &Message, view: &View) -> ChatRequest {
        let (title, body, click) = match message {
            Message::Alert(a) => (
                a.headline().into_owned(),
                plain::within_bytes(
                    BODY_BYTES,
                    BODY_BYTES,
                    |max| compose::alert_text::<Plain>(a, view, max),
                    String::len,
                ),
                compose::web_link(a),
            ),
            Message::Batch(b) => (
                b.heading(),
                plain::within_bytes(
                    BODY_BYTES,
                    BODY_BYTES,
                    |max| compose::batch_text::<Plain>(b, view, max),
                    String::len,
                ),
                None,
            ),
        };
        let watchlists = message.alerts().iter().map(|a| a.watchlist.as_str());
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: Option<HeaderValue>| {
            if let Some(v) = value {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        put("title", header_text(&compose::cut(&title, TITLE_CHARS)));
        put("click", click.and_then(|u| header_text(u.as_str())));
        put("tags", header_text(&self.tags(watchlists)));
        put(
            "priority",
            Some(HeaderValue::from(u16::from(self.priority))),
        );
        if let Some(auth) = &self.auth {
            headers.insert(AUTHORIZATION, auth.clone());
        }
        ChatRequest {
            method: Method::POST,
            url: self.url.clone(),
            headers,
            body: ChatBody::Text(body),
        }
    }

    fn without_secrets(&self, text: String) -> String {
        crate::notify::http::redact(text, &self.secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use crate::notify::message::{Batch, BatchKind};
    use crate::notify::test_alert;

    fn ntfy() -> Ntfy {
        let url = Url::parse("https://ntfy.example.org/topic").unwrap();
        Ntfy::new(
            &url,
            Some("tk_secret"),
            4,
            &["warning".into(), "a,b".into()],
        )
        .unwrap()
    }

    fn view() -> View {
        View {
            tz: chrono_tz::Europe::Berlin,
        }
    }

    fn header<'a>(r: &'a ChatRequest, name: &str) -> &'a str {
        r.headers.get(name).unwrap().to_str().unwrap()
    }

    #[test]
    fn a_title_that_is_not_plain_ascii_goes_as_encoded_words() {
        assert_eq!(header_text("plain title").unwrap(), "plain title");
        assert_eq!(header_text("a\r\nX-Evil: 1").unwrap(), "a  X-Evil: 1");
        let umlaut = header_text("Müller").unwrap();
        assert_eq!(umlaut, "=?UTF-8?B?TcO8bGxlcg==?=");
        // Feed text that looks like an encoded-word is encoded, so it reads back as written.
        let lookalike = header_text("=?UTF-8?B?ZXZpbA==?=").unwrap();
        assert!(lookalike.to_str().unwrap().starts_with("=?UTF-8?B?PT9"));
        let long = header_text(&"ü".repeat(100)).unwrap();
        let words: Vec<&str> = long.to_str().unwrap().split(' ').collect();
        assert_eq!(words.len(), 5);
        assert!(words.iter().all(|w| w.len() <= 75), "{words:?}");
    }

    #[test]
    fn an_alert_has_its_headers() {
        let mut a = test_alert();
        a.watchlist = "ISIS-K watch".into();
        a.item.link = Some("https://example.org/s?a=1".into());
        let r = ntfy().request(&Message::Alert(&a), &view());
        assert_eq!(header(&r, "title"), "Test alert from feedwatch");
        assert_eq!(header(&r, "click"), "https://example.org/s?a=1");
        assert_eq!(header(&r, "tags"), "isis-k_watch,warning,a b");
        assert_eq!(header(&r, "priority"), "4");
        assert_eq!(header(&r, "authorization"), "Bearer tk_secret");
        assert!(r.headers.get("authorization").unwrap().is_sensitive());
        a.item.link = Some("javascript:alert(1)".into());
        let r = ntfy().request(&Message::Alert(&a), &view());
        assert!(r.headers.get("click").is_none());
    }

    #[test]
    fn a_long_batch_stays_within_the_body_limit_and_counts_the_rest() {
        let alerts: Vec<Alert> = (0..200)
            .map(|i| {
                let mut a = test_alert();
                a.alert_id = crate::model::AlertId::new(format!("{i}"));
                // Three bytes a character: the limit in bytes is what binds.
                a.item.title = format!("Überfall {i} — €€€€€€€€");
                a
            })
            .collect();
        let batch = Batch {
            kind: BatchKind::Digest,
            alerts: &alerts,
        };
        let r = ntfy().request(&Message::Batch(batch), &view());
        let ChatBody::Text(body) = &r.body else {
            panic!("a text body")
        };
        assert!(body.len() <= BODY_BYTES, "{}", body.len());
        let shown = compose::assert_counts_the_rest(body, 200);
        assert!(shown > 10, "{shown}");
        assert_eq!(header(&r, "title"), "Digest: 200 alerts");
        assert_eq!(header(&r, "tags"), "notify-test,warning,a b");
    }

    #[test]
    fn an_answer_loses_the_token_and_topic() {
        assert_eq!(
            ntfy().without_secrets("403 for tk_secret on https://ntfy.example.org/topic".into()),
            "403 for [redacted] on https://ntfy.example.org/[redacted]"
        );
    }
}
