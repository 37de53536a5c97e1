//! Text utilities at the bottom of the crate, shared by the stages that read feed text.
//!
//! Owns HTML to plain text (what matching searches and what people are shown), escaping outside
//! text for terminals and log lines, and the remembered forward searches that keep reading
//! unterminated markup linear, for the HTML reader here and the lenient XML reader in `parse`.
//! Must never import another feedwatch module (every stage may use this one, so it uses none),
//! do I/O, or know about feeds, items or watchlists.

mod escape;
mod html;
mod scan;

pub use escape::{Escaped, escape_json_controls, is_unsafe};
pub use html::html_to_text;
pub(crate) use scan::{NextMatch, TagEnds};
