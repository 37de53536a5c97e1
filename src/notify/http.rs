//! HTTP delivery, shared by the webhook and every chat notifier: the client they post with,
//! and what a receiver's answer means.
//!
//! Owns the reading of an answer: 2xx is sent; 400/413/422 reject this message; 408, 429 and
//! 5xx are passing trouble, postponed by the receiver's own retry hint when it gives one; any
//! other status is the receiver's or the config's fault. Must never follow a redirect (the body
//! could go elsewhere), never read more of an error body than [`ERROR_BODY_BYTES`], and never
//! put the request URL in an error (it often is the credential); [`redact`] takes out of a
//! receiver's answer the secrets it may quote.

use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};

use super::{DeliveryError, DeliveryErrorKind};

/// Most bytes of an error answer read: enough for the receiver's complaint and a JSON retry
/// hint, never an unbounded read.
pub const ERROR_BODY_BYTES: usize = 4096;

/// The client a notifier posts with: feedwatch's user agent, the notifier's timeout, no
/// redirects.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(crate::config::default_user_agent())
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// A receiver's answer other than 2xx.
pub struct Refusal<'a> {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// The start of its body (at most [`ERROR_BODY_BYTES`]).
    pub body: &'a [u8],
}

impl Refusal<'_> {
    /// The standard `Retry-After` header, in seconds or as a date.
    pub fn retry_after_header(&self) -> Option<Duration> {
        // Against the system clock, as the receiver's date is.
        self.headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::fetch::parse_retry_after(v, chrono::Utc::now()))
    }

    /// A number of seconds at `path` in a JSON body (`["parameters", "retry_after"]`), as
    /// platforms that answer 429 with JSON give it.
    pub fn json_seconds(&self, path: &[&str]) -> Option<Duration> {
        let value: serde_json::Value = serde_json::from_slice(self.body).ok()?;
        let secs = path
            .iter()
            .try_fold(&value, |v, key| v.get(key))?
            .as_f64()?;
        (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
    }
}

/// Sends `request` and judges the answer; `fail` names the notifier in an error, and
/// `retry_hint` reads how long the receiver asked to be left alone.
pub async fn deliver(
    request: RequestBuilder,
    fail: impl Fn(DeliveryErrorKind, String) -> DeliveryError,
    retry_hint: impl Fn(&Refusal) -> Option<Duration>,
) -> Result<(), DeliveryError> {
    let mut resp = request.send().await.map_err(|e| {
        if e.is_timeout() {
            fail(
                DeliveryErrorKind::Retry,
                "no answer in time; will retry".into(),
            )
        } else {
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
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(ERROR_BODY_BYTES);
    let refusal = Refusal {
        status,
        headers: resp.headers(),
        body: &body,
    };
    let retry_after = retry_hint(&refusal);
    let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
    let kind = classify(status);
    let hint = match kind {
        DeliveryErrorKind::ReceiverFault => "; check the notifier's url, token and headers",
        DeliveryErrorKind::Retry | DeliveryErrorKind::Reject | DeliveryErrorKind::Unreadable => "",
    };
    Err(fail(kind, format!("HTTP {status}: {}{hint}", text.trim()))
        .with_code(Some(status.as_u16()))
        .with_retry_after(retry_after))
}

/// What an answer says about whom: 400/413/422 reject this very message; 408, 429 and 5xx are
/// passing trouble; any other status (401, 403, 404 …) is the receiver's state or the config,
/// and the message goes out once that is fixed.
pub fn classify(status: StatusCode) -> DeliveryErrorKind {
    match status.as_u16() {
        400 | 413 | 422 => DeliveryErrorKind::Reject,
        408 | 429 | 500..=599 => DeliveryErrorKind::Retry,
        _ => DeliveryErrorKind::ReceiverFault,
    }
}

/// Shortest start of a secret taken out on its own: a receiver's text is cut to a length
/// before it is logged, and the cut may fall inside a secret it echoes.
const SECRET_START: usize = 8;

/// `text` with each of `secrets` (as written, and percent-encoded as a URL would carry it)
/// replaced by `[redacted]`, and so is any start of one at least 8 bytes long (`SECRET_START`).
pub fn redact(mut text: String, secrets: &[String]) -> String {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let encoded = utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string();
        for form in [secret.as_str(), encoded.as_str()] {
            text = redact_one(&text, form);
        }
    }
    text
}

fn redact_one(text: &str, secret: &str) -> String {
    let start = secret
        .char_indices()
        .map(|(i, _)| i)
        .chain([secret.len()])
        .find(|&i| i >= SECRET_START)
        .unwrap_or(secret.len());
    let probe = &secret[..start];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(probe) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        // As much of the secret as is there, ending between characters.
        let mut end = tail
            .bytes()
            .zip(secret.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        while !tail.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str("[redacted]");
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_say_whom_a_failure_is_about() {
        let kind = |code| classify(StatusCode::from_u16(code).unwrap());
        assert_eq!(kind(422), DeliveryErrorKind::Reject);
        assert_eq!(kind(400), DeliveryErrorKind::Reject);
        assert_eq!(kind(503), DeliveryErrorKind::Retry);
        assert_eq!(kind(429), DeliveryErrorKind::Retry);
        assert_eq!(kind(408), DeliveryErrorKind::Retry);
        assert_eq!(kind(401), DeliveryErrorKind::ReceiverFault);
        assert_eq!(kind(404), DeliveryErrorKind::ReceiverFault);
    }

    #[test]
    fn a_json_retry_hint_is_read_where_the_platform_puts_it() {
        let headers = HeaderMap::new();
        let refusal = |body: &'static [u8]| Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            headers: &headers,
            body,
        };
        let telegram = br#"{"ok":false,"error_code":429,"parameters":{"retry_after":7}}"#;
        assert_eq!(
            refusal(telegram).json_seconds(&["parameters", "retry_after"]),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            refusal(br#"{"retry_after":1.5,"global":false}"#).json_seconds(&["retry_after"]),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(refusal(b"not json").json_seconds(&["retry_after"]), None);
        assert_eq!(
            refusal(br#"{"retry_after":-1}"#).json_seconds(&["retry_after"]),
            None
        );
    }

    #[test]
    fn secrets_are_taken_out_as_written_and_as_a_url_carries_them() {
        let secrets = ["123:abc".to_owned()];
        assert_eq!(
            redact("no /bot123:abc/ or /bot123%3Aabc/".into(), &secrets),
            "no /bot[redacted]/ or /bot[redacted]/"
        );
        let secrets = ["123456789:AAHdqTcvCH1vGWJxfSeo".to_owned()];
        assert_eq!(
            redact("cut at /bot123456789:AAHdq".into(), &secrets),
            "cut at /bot[redacted]",
            "a secret cut short is taken out too"
        );
    }
}
