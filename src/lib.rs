//! feedwatch: watches feeds for the names on your watchlists and alerts once per story.

pub mod model;
pub mod parse;
