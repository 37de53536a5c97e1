//! systemd integration: READY, WATCHDOG and STOPPING notifications.
//!
//! Owns the sd_notify protocol. Must never fail or log noise when not run under systemd:
//! without `NOTIFY_SOCKET` every call is a silent no-op.

use sd_notify::NotifyState;

/// Tells systemd the config and database are good and polling has begun.
pub fn ready() {
    let _ = sd_notify::notify(&[NotifyState::Ready]);
}

/// Pets the watchdog; called from the scheduler loop so a wedged loop gets restarted.
pub fn watchdog() {
    let _ = sd_notify::notify(&[NotifyState::Watchdog]);
}

/// Tells systemd an orderly stop has begun.
pub fn stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}
