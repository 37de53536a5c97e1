//! Support for feedwatch's integration tests. Everything talks to real sockets
//! on 127.0.0.1 (port 0, never beyond loopback) and stays synchronous, so tests
//! are plain `#[test]` functions that run the `feedwatch` binary (or, in
//! `timed.rs`, the daemon's own parts in process) against:
//!
//! * [`http`]: a fake web server for feeds and webhooks;
//! * [`smtp`]: a real SMTP server and the mails it received;
//! * [`sandbox`]: a temp directory and a runner for the binary;
//! * [`store`]: the real store with writes failing on demand.

pub mod http;
pub mod sandbox;
pub mod smtp;
pub mod store;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Locks a mutex, ignoring poisoning (a panicking test thread must not make
/// every later assertion fail with a confusing PoisonError).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Calls `probe` until it returns `Some` or `timeout` passes.
fn wait_until<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
