//! The stdout notifier: prints each message, as text or as the webhook's JSON (one line per
//! message, so the JSON output stays one document a line).
//!
//! Owns console output of alerts. Must never print anything else on stdout (logs go to stderr).

use std::io::Write;

use super::{DeliveryError, DeliveryErrorKind, Message};
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

    /// Prints one message.
    pub fn send(&self, message: &Message<'_>) -> Result<(), DeliveryError> {
        let text = self.render(message);
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            // Whoever reads our output is gone or stuck; the alert waits for a reader.
            .map_err(|e| DeliveryError::new(DeliveryErrorKind::Retry, "stdout", &self.name, e))
    }

    /// What [`send`](Self::send) prints for `message`.
    pub fn render(&self, message: &Message<'_>) -> String {
        match (self.format, message) {
            (StdoutFormat::Json, _) => {
                let json = super::webhook::body(message).unwrap_or_default();
                escape_json_controls(&String::from_utf8_lossy(&json)).into_owned() + "\n"
            }
            (StdoutFormat::Text, Message::Alert(alert)) => render_text(alert),
            (StdoutFormat::Text, Message::Batch(batch)) => {
                let mut s = format!("== {} ==\n", Escaped(&batch.heading()));
                for (_, alerts) in batch.by_watchlist() {
                    for alert in alerts {
                        s.push_str(&render_text(alert));
                    }
                }
                s
            }
        }
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
