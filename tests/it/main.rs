//! feedwatch's integration tests, built as one test binary so the support code in `common` is
//! compiled once and any helper no test uses is reported as dead code.

mod chat;
mod cli;
mod common;
mod config;
mod digest;
mod email;
mod faults;
mod fetch;
mod hostile;
mod matching;
mod parse;
mod pipeline;
mod preview;
mod reach;
mod retry;
mod secrets;
mod signing;
mod timed;
mod updates;
