//! The webhook notifier: one JSON `POST` per alert; any 2xx is success, and a failure carries the
//! receiver's `Retry-After` for the dispatcher.
//!
//! Owns the wire payload (kept apart from the stored `Alert` so the outbox format can change
//! without breaking receivers). Must never follow a redirect to resend the body elsewhere.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::{DeliveryError, DeliveryErrorKind, SetupError};
use crate::alert::Alert;
use crate::config::{NotifierName, WebhookConfig};

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
    secret: Option<String>,
}

/// The header carrying `sha256=<hex HMAC-SHA256 of the body>` when a secret is configured.
pub const SIGNATURE_HEADER: &str = "X-Feedwatch-Signature";

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
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
        let client = reqwest::Client::builder()
            .user_agent(crate::config::default_user_agent())
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| err(e.to_string()))?;
        let secret = cfg
            .secret
            .as_ref()
            .map(|s| {
                s.expose()
                    .map(str::to_owned)
                    .map_err(|e| err(e.to_string()))
            })
            .transpose()?;
        Ok(WebhookNotifier {
            name: name.clone(),
            url: cfg.url.expose().clone(),
            client,
            headers: cfg.headers.clone(),
            secret,
        })
    }

    /// Posts one alert.
    pub async fn send(&self, alert: &Alert) -> Result<(), DeliveryError> {
        let fail = |kind, message: String| DeliveryError::new(kind, "webhook", &self.name, message);
        let body = serde_json::to_vec(&WebhookPayload::from(alert)).map_err(|e| {
            fail(
                DeliveryErrorKind::Reject,
                format!("cannot encode the alert: {e}"),
            )
        })?;
        let mut request = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = &self.secret {
            request = request.header(SIGNATURE_HEADER, signature(secret, &body));
        }
        let mut resp = request.body(body).send().await.map_err(|e| {
            if e.is_timeout() {
                fail(
                    DeliveryErrorKind::Retry,
                    "no answer in time; will retry".into(),
                )
            } else {
                // Without the URL: it often carries a token.
                fail(
                    DeliveryErrorKind::Retry,
                    format!("request failed: {}", e.without_url()),
                )
            }
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        // Against the system clock, as the receiver's date is.
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::fetch::parse_retry_after(v, chrono::Utc::now()));
        // Only the first chunk: enough to show the receiver's complaint, never an unbounded
        // read.
        let first = resp.chunk().await.ok().flatten().unwrap_or_default();
        let body: String = String::from_utf8_lossy(&first).chars().take(200).collect();
        let kind = classify(status);
        let hint = match kind {
            DeliveryErrorKind::ReceiverFault => "; check the notifier's url and headers",
            DeliveryErrorKind::Retry
            | DeliveryErrorKind::Reject
            | DeliveryErrorKind::Unreadable => "",
        };
        Err(fail(kind, format!("HTTP {status}: {}{hint}", body.trim()))
            .with_code(Some(status.as_u16()))
            .with_retry_after(retry_after))
    }
}

/// What a webhook's answer says about whom: 400/413/422 reject this very payload; 408, 429
/// and 5xx are passing trouble; any other status (401, 403, 404 …) is the receiver's state or
/// the config, and the alert goes out once that is fixed.
fn classify(status: reqwest::StatusCode) -> DeliveryErrorKind {
    match status.as_u16() {
        400 | 413 | 422 => DeliveryErrorKind::Reject,
        408 | 429 | 500..=599 => DeliveryErrorKind::Retry,
        _ => DeliveryErrorKind::ReceiverFault,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_say_whom_a_failure_is_about() {
        let kind = |code| classify(reqwest::StatusCode::from_u16(code).unwrap());
        assert_eq!(kind(422), DeliveryErrorKind::Reject);
        assert_eq!(kind(503), DeliveryErrorKind::Retry);
        assert_eq!(kind(429), DeliveryErrorKind::Retry);
        assert_eq!(kind(401), DeliveryErrorKind::ReceiverFault);
        assert_eq!(kind(404), DeliveryErrorKind::ReceiverFault);
    }

    #[test]
    fn signature_matches_the_rfc_4231_test_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
