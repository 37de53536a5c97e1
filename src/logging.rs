//! Logging: a tracing subscriber on stderr.
//!
//! Owns log format, level, and the targets no setting may enable. Must never write to stdout
//! (alerts and command output live there), and never let a log line carry a secret: lettre's
//! SMTP wire log (every line it writes, `AUTH PLAIN <base64 password>` and whole messages
//! included) and reqwest's connection dump are dropped whatever `RUST_LOG` says. Under
//! journald (`JOURNAL_STREAM` set) timestamps are left to the journal.

use tracing::Metadata;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::{Filter, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Log targets that write protocol traffic, credentials included, and so are never shown.
/// lettre 0.11 logs each SMTP command and reply at debug level from its `client` module
/// (`Wrote: AUTH PLAIN …`, `<< …`) and the AUTH challenges from `commands`; reqwest's
/// `connection_verbose` dumps request bytes, headers included, under `connect::verbose`.
const WIRE_TARGETS: [&str; 3] = [
    "lettre::transport::smtp::client",
    "lettre::transport::smtp::commands",
    "reqwest::connect::verbose",
];

/// Whether events from `target` may be shown at all.
fn shown(target: &str) -> bool {
    !WIRE_TARGETS.iter().any(|wire| {
        target
            .strip_prefix(wire)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// What a log line must pass: the user's directives (`RUST_LOG`, or the verbosity), and then,
/// whatever those say, the rule that wire-level targets stay silent.
fn filter<S>(directives: EnvFilter) -> impl Filter<S> + Send + Sync + 'static
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    directives.and(filter_fn(|meta: &Metadata<'_>| shown(meta.target())))
}

/// Installs the subscriber. `verbosity` is `-v` count minus `-q` count; `RUST_LOG` overrides.
pub fn init(verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let directives = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("feedwatch={level},warn")));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let layer = if std::env::var_os("JOURNAL_STREAM").is_some() {
        layer.without_time().with_ansi(false).boxed()
    } else {
        layer.boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter(directives)))
        .try_init();
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn wire_targets_and_their_children_are_never_shown() {
        assert!(!shown("lettre::transport::smtp::client"));
        assert!(!shown("lettre::transport::smtp::client::async_connection"));
        assert!(!shown("lettre::transport::smtp::commands"));
        assert!(!shown("reqwest::connect::verbose"));
        assert!(shown("lettre::transport::smtp::pool::async_impl"));
        assert!(shown("lettre::transport::smtp::clientele"));
        assert!(shown("feedwatch::notify"));
    }

    /// A writer that keeps what the subscriber wrote.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn rust_log_cannot_turn_the_wire_log_on() {
        let out = Captured::default();
        let writer = out.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .with_filter(filter(EnvFilter::new(
                "trace,lettre=trace,lettre::transport::smtp::client=trace",
            )));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(
                target: "lettre::transport::smtp::client::async_connection",
                "Wrote: AUTH PLAIN c2VjcmV0"
            );
            tracing::debug!(target: "lettre::transport::smtp::pool::async_impl", "recycling connection");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("AUTH PLAIN"), "{text}");
        assert!(text.contains("recycling connection"), "{text}");
    }
}
