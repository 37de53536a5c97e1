//! Matrix: an `m.notice` event sent with
//! `PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}`, as
//! <https://spec.matrix.org/v1.12/client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid>
//! documents: a plain-text `body` and the same in the spec's HTML subset as `formatted_body`.
//!
//! Owns the event's format and its transaction id, derived from the notifier and the message's
//! stable id so that a retried send is one event: the homeserver drops a repeated transaction.
//! Must never let feed text reach the HTML unescaped, never let a client link a URL in it (a
//! zero-width space breaks `://` and `www.`), never mention anyone (`m.mentions` is
//! empty, and `@room` in feed text is broken with a word joiner for clients and servers that
//! still read mentions from the body), and never let the access token reach a log.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use url::Url;

use super::plain::{self, Plain};
use super::{ChatBody, ChatRequest, Platform, html_escape};
use crate::config::NotifierName;
use crate::notify::compose::{self, Markup, View};
use crate::notify::http::Refusal;
use crate::notify::message::Message;

/// Longest text of either rendering, in UTF-16 units: a long read, still one message.
pub const TEXT_UNITS: usize = 16_000;
/// Most bytes of the event's content as JSON: the whole event, with what the homeserver adds
/// to it, must stay within the spec's 65536 bytes.
pub const CONTENT_BYTES: usize = 60_000;

/// What a path segment keeps unencoded: RFC 3986's unreserved characters, so `!`, `:` and `#`
/// of a room id or alias are encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A Matrix room, posted to as one account.
pub struct Matrix {
    homeserver: Url,
    room: String,
    notifier: String,
    auth: HeaderValue,
    secrets: Vec<String>,
}

impl Matrix {
    /// Posts as notifier `name` to `room_id` on `homeserver` with `access_token`.
    pub fn new(
        name: &NotifierName,
        homeserver: &Url,
        room_id: &str,
        access_token: &str,
    ) -> Result<Matrix, String> {
        let token = access_token.trim();
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            "the Matrix access token holds characters a header cannot carry; check `access_token`"
                .to_owned()
        })?;
        auth.set_sensitive(true);
        Ok(Matrix {
            homeserver: homeserver.clone(),
            room: utf8_percent_encode(room_id.trim(), SEGMENT).to_string(),
            // Every character but letters and digits encoded, so the `.` between the parts of
            // a transaction id is never part of the name.
            notifier: utf8_percent_encode(&name.0, NON_ALPHANUMERIC).to_string(),
            auth,
            secrets: vec![token.to_owned()],
        })
    }

    /// The transaction id of `message`: the same on every try, distinct per notifier (two
    /// notifiers may share an account).
    fn txn_id(&self, message: &Message) -> String {
        format!(
            "feedwatch.{}.{}",
            self.notifier,
            utf8_percent_encode(&message.id(), NON_ALPHANUMERIC)
        )
    }

    fn url(&self, txn_id: &str) -> Url {
        let mut url = self.homeserver.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        // Both parts are already encoded; `set_path` keeps their escapes.
        url.set_path(&format!(
            "{base}/_matrix/client/v3/rooms/{}/send/m.room.message/{txn_id}",
            self.room
        ));
        url.set_query(None);
        url
    }
}

/// `@room` (in any case) with a word joiner after the `@`: it reads the same and no longer
/// matches the legacy room-mention push rule, which looks for `@room` in the body.
fn defuse_room_mention(text: String) -> String {
    if !text.contains('@') {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text.as_str();
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        if rest
            .get(..4)
            .is_some_and(|w| w.eq_ignore_ascii_case("room"))
        {
            out.push('\u{2060}');
        }
    }
    out.push_str(rest);
    out
}

/// The plain-text `body`.
pub struct MatrixPlain;

impl Markup for MatrixPlain {
    fn escape(text: &str) -> String {
        defuse_room_mention(Plain::escape(text))
    }

    fn link(url: &Url, text: &str) -> String {
        Plain::link(url, text)
    }

    fn bold(text: &str) -> String {
        Plain::bold(text)
    }

    fn hit(text: &str) -> String {
        Plain::hit(text)
    }
}

/// The `formatted_body`, in the spec's HTML subset (`<strong>`, `<a href>`, `<br>`).
pub struct MatrixHtml;

impl Markup for MatrixHtml {
    fn escape(text: &str) -> String {
        defuse_room_mention(html_escape(&Plain::escape(text)))
    }

    fn link(url: &Url, text: &str) -> String {
        format!("<a href=\"{}\">{text}</a>", html_escape(url.as_str()))
    }

    fn bold(text: &str) -> String {
        format!("<strong>{text}</strong>")
    }

    fn hit(text: &str) -> String {
        format!("<strong>{text}</strong>")
    }
}

/// The event content for `message`, with both renderings fitted to `max`.
fn content(message: &Message, view: &View, max: usize) -> Value {
    let (body, html) = match message {
        Message::Alert(a) => (
            compose::alert_text::<MatrixPlain>(a, view, max),
            compose::alert_text::<MatrixHtml>(a, view, max),
        ),
        Message::Batch(b) => (
            compose::batch_text::<MatrixPlain>(b, view, max),
            compose::batch_text::<MatrixHtml>(b, view, max),
        ),
    };
    json!({
        "msgtype": "m.notice",
        "body": body,
        "format": "org.matrix.custom.html",
        // HTML folds newlines into spaces.
        "formatted_body": html.replace('\n', "<br>"),
        // No one is mentioned: a client or server that knows intentional mentions pings no one.
        "m.mentions": {},
    })
}

impl Platform for Matrix {
    fn request(&self, message: &Message, view: &View) -> ChatRequest {
        let content = plain::within_bytes(
            TEXT_UNITS,
            CONTENT_BYTES,
            |max| content(message, view, max),
            |v| v.to_string().len(),
        );
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.auth.clone());
        ChatRequest {
            method: Method::PUT,
            url: self.url(&self.txn_id(message)),
            headers,
            body: ChatBody::Json(content),
        }
    }

    /// The `Retry-After` header, else `retry_after_ms` of the `M_LIMIT_EXCEEDED` answer.
    fn retry_hint(&self, refusal: &Refusal) -> Option<Duration> {
        refusal.retry_after_header().or_else(|| {
            let v: Value = serde_json::from_slice(refusal.body).ok()?;
            let ms = v.get("retry_after_ms")?.as_u64()?;
            Some(Duration::from_millis(ms.min(86_400_000)))
        })
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
    use reqwest::StatusCode;

    fn matrix() -> Matrix {
        Matrix::new(
            &NotifierName("desk 1".into()),
            &Url::parse("https://matrix.example.org/base/").unwrap(),
            "!abc:example.org",
            "syt_secret",
        )
        .unwrap()
    }

    fn view() -> View {
        View {
            tz: chrono_tz::Europe::Berlin,
        }
    }

    #[test]
    fn the_room_is_encoded_and_the_transaction_is_the_message() {
        let mut a = test_alert();
        a.item.title = "<b>@room</b> & @Room".into();
        let r = matrix().request(&Message::Alert(&a), &view());
        assert_eq!(r.method, Method::PUT);
        assert_eq!(
            r.url.as_str(),
            "https://matrix.example.org/base/_matrix/client/v3/rooms/%21abc%3Aexample.org/send/m.room.message/feedwatch.desk%201.test"
        );
        assert_eq!(r.headers["authorization"], "Bearer syt_secret");
        assert!(r.headers["authorization"].is_sensitive());
        let ChatBody::Json(v) = &r.body else {
            panic!("JSON")
        };
        assert_eq!(v["msgtype"], "m.notice");
        assert_eq!(v["m.mentions"], json!({}));
        let body = v["body"].as_str().unwrap();
        assert!(
            body.starts_with("<b>@\u{2060}room</b> & @\u{2060}Room\n"),
            "{body}"
        );
        let html = v["formatted_body"].as_str().unwrap();
        assert!(
            html.starts_with(
                "<strong>&lt;b&gt;@\u{2060}room&lt;/b&gt; &amp; @\u{2060}Room</strong><br>"
            ),
            "{html}"
        );
    }

    #[test]
    fn a_long_batch_stays_within_the_event_size_and_counts_the_rest() {
        let alerts: Vec<Alert> = (0..200)
            .map(|i| {
                let mut a = test_alert();
                a.alert_id = crate::model::AlertId::new(format!("{i}"));
                a.item.link = Some(format!("https://example.org/story/{i}"));
                a
            })
            .collect();
        let batch = Batch {
            kind: BatchKind::Digest,
            alerts: &alerts,
        };
        let r = matrix().request(&Message::Batch(batch), &view());
        let ChatBody::Json(v) = &r.body else {
            panic!("JSON")
        };
        assert!(v.to_string().len() <= CONTENT_BYTES);
        for key in ["body", "formatted_body"] {
            let text = v[key].as_str().unwrap();
            compose::assert_counts_the_rest(text, 200);
        }
    }

    #[test]
    fn the_retry_hint_is_read_in_milliseconds() {
        let headers = HeaderMap::new();
        let refusal = Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            headers: &headers,
            body: br#"{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":1800000}"#,
        };
        assert_eq!(
            matrix().retry_hint(&refusal),
            Some(Duration::from_secs(1800))
        );
    }
}
