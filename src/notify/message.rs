//! What one delivery carries: one alert, or several folded into one message (a digest, or the
//! summary of alerts beyond a notifier's hourly cap).
//!
//! Owns the message's identity and the order a batch is shown in. Must never render anything:
//! each notifier renders a message in its own syntax.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::alert::Alert;

/// One message a notifier sends.
#[derive(Debug, Clone, Copy)]
pub enum Message<'a> {
    /// One alert.
    Alert(&'a Alert),
    /// Several alerts in one message.
    Batch(Batch<'a>),
}

/// Several alerts sent as one message.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Why they are sent together.
    pub kind: BatchKind,
    /// The alerts, in any order.
    pub alerts: &'a [Alert],
}

/// Why alerts are sent together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    /// The notifier's `digest` schedule came round.
    Digest,
    /// The notifier's `max_per_hour` was reached: the alerts beyond it, folded into one.
    Summary,
}

impl<'a> Message<'a> {
    /// The alerts this message carries.
    pub fn alerts(&self) -> &'a [Alert] {
        match self {
            Message::Alert(a) => std::slice::from_ref(*a),
            Message::Batch(b) => b.alerts,
        }
    }

    /// A stable id: the alert's own id, or one derived from a batch's alert ids, so a message
    /// resent after a crash carries the id it had and a receiver can drop the repeat.
    pub fn id(&self) -> String {
        match self {
            Message::Alert(a) => a.alert_id.to_string(),
            Message::Batch(b) => {
                let mut ids: Vec<&str> = b.alerts.iter().map(|a| a.alert_id.as_str()).collect();
                ids.sort_unstable();
                let mut h = Sha256::new();
                h.update(match b.kind {
                    BatchKind::Digest => b"digest" as &[u8],
                    BatchKind::Summary => b"summary",
                });
                for id in ids {
                    h.update([0]);
                    h.update(id.as_bytes());
                }
                h.finalize()[..10]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            }
        }
    }
}

impl<'a> Batch<'a> {
    /// The alerts grouped by watchlist (in name order), newest first within each group.
    pub fn by_watchlist(&self) -> Vec<(&'a str, Vec<&'a Alert>)> {
        let mut groups: BTreeMap<&str, Vec<&Alert>> = BTreeMap::new();
        for a in self.alerts {
            groups.entry(a.watchlist.as_str()).or_default().push(a);
        }
        groups
            .into_iter()
            .map(|(name, mut alerts)| {
                alerts.sort_by_key(|a| std::cmp::Reverse(a.item.published));
                (name, alerts)
            })
            .collect()
    }

    /// A one-line heading: `Digest: 12 alerts` or `37 more alerts for isis-k`.
    pub fn heading(&self) -> String {
        let n = self.alerts.len();
        let alerts = if n == 1 { "alert" } else { "alerts" };
        match self.kind {
            BatchKind::Digest => format!("Digest: {n} {alerts}"),
            BatchKind::Summary => {
                let lists: Vec<&str> = self.by_watchlist().iter().map(|(w, _)| *w).collect();
                format!("{n} more {alerts} for {}", lists.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::test_alert;

    fn alert(watchlist: &str, id: &str, hour: u32) -> Alert {
        let mut a = test_alert();
        a.watchlist = watchlist.into();
        a.alert_id = crate::model::AlertId::new(id.into());
        a.item.published =
            chrono::DateTime::parse_from_rfc3339(&format!("2026-12-01T{hour:02}:00:00Z"))
                .ok()
                .map(|t| t.to_utc());
        a
    }

    #[test]
    fn a_batch_groups_by_watchlist_newest_first() {
        let alerts = [alert("b", "1", 1), alert("a", "2", 2), alert("b", "3", 3)];
        let batch = Batch {
            kind: BatchKind::Digest,
            alerts: &alerts,
        };
        let groups: Vec<(&str, Vec<&str>)> = batch
            .by_watchlist()
            .into_iter()
            .map(|(w, v)| (w, v.iter().map(|a| a.alert_id.as_str()).collect()))
            .collect();
        assert_eq!(groups, [("a", vec!["2"]), ("b", vec!["3", "1"])]);
        assert_eq!(batch.heading(), "Digest: 3 alerts");
        let summary = Batch {
            kind: BatchKind::Summary,
            ..batch
        };
        assert_eq!(summary.heading(), "3 more alerts for a, b");
    }

    #[test]
    fn a_batch_id_is_stable_and_depends_on_its_alerts_and_kind() {
        let alerts = [alert("a", "1", 1), alert("a", "2", 2)];
        let reversed = [alerts[1].clone(), alerts[0].clone()];
        let id = |kind, alerts: &[Alert]| Message::Batch(Batch { kind, alerts }).id();
        assert_eq!(
            id(BatchKind::Digest, &alerts),
            id(BatchKind::Digest, &reversed)
        );
        assert_ne!(
            id(BatchKind::Digest, &alerts),
            id(BatchKind::Summary, &alerts)
        );
        assert_ne!(
            id(BatchKind::Digest, &alerts),
            id(BatchKind::Digest, &alerts[..1])
        );
        assert_eq!(Message::Alert(&alerts[0]).id(), "1");
    }
}
