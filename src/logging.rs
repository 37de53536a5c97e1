//! Logging: a tracing subscriber on stderr.
//!
//! Owns log format and level. Must never write to stdout (alerts and command output live
//! there). Under journald (`JOURNAL_STREAM` set) timestamps are left to the journal.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber. `verbosity` is `-v` count minus `-q` count; `RUST_LOG` overrides.
pub fn init(verbosity: i8) {
    let level = match verbosity {
        i8::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("feedwatch={level},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().with_ansi(false).try_init()
    } else {
        builder.try_init()
    };
}
