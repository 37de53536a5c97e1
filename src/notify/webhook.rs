//! The webhook notifier: one JSON `POST` per message (one alert, or a digest or summary holding
//! several); any 2xx is success, and a failure carries the receiver's `Retry-After` for the
//! dispatcher.
//!
//! Owns the wire payload (kept apart from the stored `Alert` so the outbox format can change
//! without breaking receivers) and its Standard Webhooks headers and signature. Must never
//! follow a redirect to resend the body elsewhere.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::{Batch, BatchKind, DeliveryError, DeliveryErrorKind, Message, SetupError};
use crate::alert::Alert;
use crate::config::{NotifierName, SigningKey, WebhookConfig};

/// The JSON body of a webhook call.
#[derive(Debug, Serialize)]
pub struct WebhookPayload<'a> {
    alert_id: &'a str,
    watchlist: &'a str,
    feed: WireFeed<'a>,
    item: WireItem<'a>,
    matches: Vec<WireMatch<'a>>,
    /// The story was alerted on before under other text: an edit made it match.
    update: bool,
}

/// The JSON body of a webhook call carrying several alerts: a digest, or the summary of alerts
/// beyond the notifier's hourly cap.
#[derive(Debug, Serialize)]
pub struct WebhookBatch<'a> {
    /// `digest` or `summary`.
    kind: &'static str,
    /// The message's stable id: the same when a batch is resent after a crash.
    id: String,
    /// `Digest: 12 alerts`, `37 more alerts for isis-k`.
    heading: String,
    /// Each alert, as a single alert's call carries it, grouped by watchlist, newest first.
    alerts: Vec<WebhookPayload<'a>>,
}

impl<'a> From<Batch<'a>> for WebhookBatch<'a> {
    fn from(b: Batch<'a>) -> Self {
        WebhookBatch {
            kind: match b.kind {
                BatchKind::Digest => "digest",
                BatchKind::Summary => "summary",
            },
            id: Message::Batch(b).id(),
            heading: b.heading(),
            alerts: b
                .by_watchlist()
                .into_iter()
                .flat_map(|(_, alerts)| alerts)
                .map(WebhookPayload::from)
                .collect(),
        }
    }
}

/// The JSON body for `message`.
pub fn body(message: &Message) -> Result<Vec<u8>, serde_json::Error> {
    match message {
        Message::Alert(a) => serde_json::to_vec(&WebhookPayload::from(*a)),
        Message::Batch(b) => serde_json::to_vec(&WebhookBatch::from(*b)),
    }
}

#[derive(Debug, Serialize)]
struct WireFeed<'a> {
    name: &'a str,
    url: &'a str,
}

#[derive(Debug, Serialize)]
struct WireItem<'a> {
    guid: &'a str,
    title: &'a str,
    link: Option<&'a str>,
    published: Option<String>,
    summary: &'a str,
}

#[derive(Debug, Serialize)]
struct WireMatch<'a> {
    term: &'a str,
    field: &'static str,
    snippet: String,
}

impl<'a> From<&'a Alert> for WebhookPayload<'a> {
    fn from(a: &'a Alert) -> Self {
        WebhookPayload {
            alert_id: a.alert_id.as_str(),
            watchlist: &a.watchlist,
            feed: WireFeed {
                name: &a.feed.name,
                url: &a.feed.url,
            },
            item: WireItem {
                guid: &a.item.guid,
                title: &a.item.title,
                link: a.item.link.as_deref(),
                published: a.item.published.map(|p| p.to_rfc3339()),
                summary: &a.item.summary,
            },
            matches: a
                .matches
                .iter()
                .map(|m| WireMatch {
                    term: &m.term,
                    field: m.field.as_str(),
                    snippet: m.snippet.marked_text(),
                })
                .collect(),
            update: a.update,
        }
    }
}

/// Posts alerts as JSON, signed when a secret is configured.
pub struct WebhookNotifier {
    name: NotifierName,
    url: url::Url,
    client: reqwest::Client,
    headers: reqwest::header::HeaderMap,
    secret: Option<SigningKey>,
    /// What a receiver's answer must never carry into a log: the URL's tokens and the
    /// configured credential headers' values.
    redacted: Vec<String>,
}

/// Standard Webhooks header carrying the message id: the alert's id, the same on every retry,
/// so a receiver can drop a duplicate.
pub const ID_HEADER: &str = "webhook-id";
/// Standard Webhooks header carrying the send time, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Standard Webhooks header carrying `v1,<base64 HMAC-SHA256>`, when a secret is configured.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The Standard Webhooks `webhook-signature` value for message `id` sent at `timestamp` (Unix
/// seconds) with `body`: `v1,` and the base64 of HMAC-SHA256 under `key` over
/// `{id}.{timestamp}.{body}`.
pub fn signature(key: &SigningKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("v1,{}", STANDARD.encode(digest))
}

impl WebhookNotifier {
    /// A notifier for `cfg`; fails when its signing secret could not be read.
    pub fn new(
        name: &NotifierName,
        cfg: &WebhookConfig,
        timeout: Duration,
    ) -> Result<WebhookNotifier, SetupError> {
        let err = |message: String| SetupError {
            kind: "webhook",
            notifier: name.clone(),
            message,
        };
        let client = super::http::client(timeout).map_err(|e| err(e.to_string()))?;
        let secret = cfg
            .secret
            .as_ref()
            .map(|s| s.clone().map_err(|e| err(e.to_string())))
            .transpose()?;
        let url = cfg.url.expose().map_err(|e| err(e.to_string()))?.clone();
        let mut redacted = crate::config::url_secrets(&url);
        redacted.extend(
            cfg.headers
                .values()
                // Every configured value is marked sensitive; a short one is no credential
                // and would only blank ordinary words.
                .filter(|v| v.is_sensitive() && v.len() >= 8)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        );
        Ok(WebhookNotifier {
            name: name.clone(),
            url,
            client,
            headers: cfg.headers.clone(),
            secret,
            redacted,
        })
    }

    /// The body exactly as it would be posted, for `preview`.
    pub fn preview(&self, message: &Message<'_>) -> String {
        String::from_utf8_lossy(&body(message).unwrap_or_default()).into_owned()
    }

    /// Posts one message.
    pub async fn send(&self, message: &Message<'_>) -> Result<(), DeliveryError> {
        let fail = |kind, message: String| {
            let message = super::http::redact(message, &self.redacted);
            DeliveryError::new(kind, "webhook", &self.name, message)
        };
        let body = body(message).map_err(|e| {
            fail(
                DeliveryErrorKind::Reject,
                format!("cannot encode the message: {e}"),
            )
        })?;
        let mut request = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        // Against the system clock, as the receiver's tolerance window is.
        let timestamp = chrono::Utc::now().timestamp();
        // The alert's id, or the batch's: the same on every retry.
        let id = message.id();
        request = request
            .header(ID_HEADER, &id)
            .header(TIMESTAMP_HEADER, timestamp);
        if let Some(key) = &self.secret {
            request = request.header(SIGNATURE_HEADER, signature(key, &id, timestamp, &body));
        }
        super::http::deliver(
            request.body(body),
            fail,
            |refusal: &super::http::Refusal<'_>| refusal.retry_after_header(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_test_vector() {
        // The Standard Webhooks reference libraries' signing test.
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            signature(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
