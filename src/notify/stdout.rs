//! The stdout notifier: prints each alert, as text or as the webhook's JSON.
//!
//! Owns console output of alerts. Must never print anything else on stdout (logs go to stderr).

use std::io::Write;

use super::{DeliveryError, DeliveryErrorKind, WebhookPayload};
use crate::alert::Alert;
use crate::config::{NotifierName, StdoutFormat};
use crate::text::{Escaped, escape_json_controls};

/// Prints alerts to standard output.
pub struct StdoutNotifier {
    name: NotifierName,
    format: StdoutFormat,
}

impl StdoutNotifier {
    /// A notifier printing in `format`.
    pub fn new(name: &NotifierName, format: StdoutFormat) -> StdoutNotifier {
        StdoutNotifier {
            name: name.clone(),
            format,
        }
    }

    /// Prints one alert.
    pub fn send(&self, alert: &Alert) -> Result<(), DeliveryError> {
        let text = match self.format {
            StdoutFormat::Json => {
                let json = serde_json::to_string(&WebhookPayload::from(alert)).unwrap_or_default();
                escape_json_controls(&json).into_owned() + "\n"
            }
            StdoutFormat::Text => render_text(alert),
        };
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            // Whoever reads our output is gone or stuck; the alert waits for a reader.
            .map_err(|e| DeliveryError::new(DeliveryErrorKind::Retry, "stdout", &self.name, e))
    }
}

/// The human-readable form of an alert: one line per field, whatever the feed's text holds.
pub fn render_text(alert: &Alert) -> String {
    let mut s = format!(
        "[{}] {}\n",
        Escaped(&alert.watchlist),
        Escaped(&alert.headline())
    );
    s.push_str(&format!("  feed: {}\n", Escaped(&alert.feed.name)));
    if let Some(link) = &alert.item.link {
        s.push_str(&format!("  link: {}\n", Escaped(link)));
    }
    if let Some(p) = alert.item.published {
        s.push_str(&format!("  published: {}\n", p.to_rfc3339()));
    }
    for m in &alert.matches {
        s.push_str(&format!(
            "  {} in {}: {}\n",
            Escaped(&m.term),
            m.field,
            Escaped(&m.snippet.marked_text())
        ));
    }
    s
}
