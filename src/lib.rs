//! feedwatch watches RSS, Atom and JSON feeds for the names on your watchlists and sends one
//! alert per story and watchlist, by email, webhook or on stdout.
//!
//! # Layout
//!
//! The pipeline, in order (read [`pipeline`] first: it is the spine that calls each stage):
//!
//! ```text
//! config ─► schedule ─► fetch ─► parse ─► store (dedupe) ─► matcher ─► alert ─► store (outbox)
//!                                                                               │
//!                                                       notify (dispatcher) ◄───┘
//! ```
//!
//! - [`config`]: the TOML file, validated into typed values; errors carry `FILE:LINE:COL`.
//! - [`schedule`]: when each feed is due: intervals with jitter, crontab, backoff.
//! - [`fetch`]: conditional GET with caps on size, time and redirects.
//! - [`parse`]: bytes to items, tolerant of real-world feeds, with stable dedup keys.
//! - [`store`]: feed state, seen items, alerts and the delivery outbox, behind one interface
//!   (SQLite underneath).
//! - [`matcher`]: all watchlists compiled into one automaton per normalized form; Unicode
//!   normalisation.
//! - [`alert`]: one alert per (watchlist, story): the dedup chain, alert records, notices.
//! - [`health`]: when a failing feed counts as broken, and when to tell the admin.
//! - [`notify`]: email, webhook and stdout notifiers, and the dispatcher draining the outbox.
//! - [`pipeline`]: one poll of one feed, stage by stage.
//! - [`daemon`]: scheduling, concurrency limits, an orderly stop, and systemd.
//! - [`cli`]: the subcommands; [`logging`]: where their log lines go.
//!
//! Below the stages, used by them and using none of them:
//!
//! - [`model`]: the small types that cross stage boundaries.
//! - [`clock`]: the time every stage reads.
//! - [`text`]: HTML to plain text, escaping for terminals and logs, and the remembered searches
//!   that keep markup reading linear.

#![warn(missing_docs)]

pub mod alert;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod fetch;
pub mod health;
pub mod logging;
pub mod matcher;
pub mod model;
pub mod notify;
pub mod parse;
pub mod pipeline;
pub mod schedule;
pub mod store;
mod systemd;
pub mod text;
