//! The records the store takes and gives: domain values, never rows.
//!
//! Owns the vocabulary between the store and its callers (pipeline, dispatcher, daemon, CLI).
//! Must never name a table or column: a second backend implements the same records.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::model::{
    AlertId, FeedId, FeedUrl, ItemIdentity, ItemKey, NotifierName, StoryLink, Validators,
};

/// Everything remembered about one feed.
#[derive(Debug, Clone, Default)]
pub struct FeedState {
    /// Store id.
    pub id: FeedId,
    /// Feed URL (the identity).
    pub url: FeedUrl,
    /// The feed's own title, from its last good parse.
    pub title: Option<String>,
    /// Validators for the next conditional GET.
    pub validators: Validators,
    /// Last attempt.
    pub last_fetch_at: Option<DateTime<Utc>>,
    /// The last poll's short status: "200", "304", or the failure's kind ("HTTP 503",
    /// "timeout", "parse error" …).
    pub last_status: Option<String>,
    /// Last error message, cleared on success.
    pub last_error: Option<String>,
    /// Last success.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Start of the current failure streak.
    pub failing_since: Option<DateTime<Utc>>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// When the next poll is due.
    pub next_due_at: Option<DateTime<Utc>>,
    /// Distinct items recorded.
    pub items_seen: u64,
    /// Whether a first successful fetch has been recorded (its backlog does not alert).
    pub first_fetch_done: bool,
    /// New location after permanent redirects.
    pub moved_to: Option<String>,
    /// Whether the admin has been told that this feed is broken.
    pub broken_notified: bool,
}

/// An item not seen before, to record.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// Its identities.
    pub identity: ItemIdentity,
    /// The feed's own guid, if any.
    pub guid: Option<String>,
    /// Plain-text title.
    pub title: String,
    /// Link as published.
    pub link: Option<String>,
    /// The story it tells, when its link identifies one across feeds.
    pub story: Option<StoryLink>,
    /// Published time.
    pub published: Option<DateTime<Utc>>,
    /// It matched a watchlist but was recorded without alerting (a new feed's backlog): an
    /// edit of it later is recorded but never alerts, as its text matched all along.
    pub quiet: bool,
}

/// Which entries of a document are news to a feed: the store's answer before matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unseen {
    /// Keys this feed never listed before (neither the key nor the fingerprint is known).
    pub new: HashSet<ItemKey>,
    /// Keys this feed listed before whose content fingerprint has changed since (to one this
    /// feed has not listed either), each with the watchlists that already alerted on the item.
    pub edited: HashMap<ItemKey, Vec<String>>,
}

/// A known item whose content changed: its new fingerprint and title, to record.
#[derive(Debug, Clone)]
pub struct ItemEdit {
    /// The item's key (unchanged).
    pub key: ItemKey,
    /// Its new content fingerprint.
    pub fingerprint: String,
    /// Its new plain-text title.
    pub title: String,
}

/// An alert to create with the item it is about.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// Key of the item (in this poll's `items`).
    pub item_key: ItemKey,
    /// Stable public id.
    pub id: AlertId,
    /// Watchlist name.
    pub watchlist: String,
    /// The story, for cross-feed dedup.
    pub story: Option<StoryLink>,
    /// Serialized alert, as notifiers will read it.
    pub payload: String,
    /// Notifiers that get a delivery.
    pub notifiers: Vec<NotifierName>,
}

/// A notice to the admin about a feed itself (broken or recovered).
#[derive(Debug, Clone)]
pub struct FeedNotice {
    /// Stable public id.
    pub id: AlertId,
    /// Serialized alert, as notifiers will read it.
    pub payload: String,
    /// Notifiers that get a delivery.
    pub notifiers: Vec<NotifierName>,
    /// Whether the feed is now known to be broken (false: it recovered).
    pub broken: bool,
}

/// The result of a successful fetch and parse, to commit at once.
#[derive(Debug, Clone)]
pub struct FreshPoll {
    /// The feed.
    pub feed: FeedId,
    /// When the poll finished.
    pub now: DateTime<Utc>,
    /// The feed's own title.
    pub title: Option<String>,
    /// Validators to send next time.
    pub validators: Validators,
    /// HTTP status.
    pub status: u16,
    /// New location after permanent redirects.
    pub moved_to: Option<String>,
    /// Next poll.
    pub next_due: DateTime<Utc>,
    /// Items not seen before (a superset is fine: seen ones are ignored).
    pub items: Vec<NewItem>,
    /// Items already known that the document still lists.
    pub present: Vec<ItemIdentity>,
    /// Known items whose content changed: their fingerprint is updated, and only an item whose
    /// fingerprint this commit changed may alert again (an update).
    pub edits: Vec<ItemEdit>,
    /// Alerts for new and edited items.
    pub alerts: Vec<NewAlert>,
    /// Whether this poll completes the feed's first fetch (see `alert::completes_first_fetch`).
    pub first_fetch_complete: bool,
    /// A story alerted for a watchlist through another feed since this time does not alert
    /// again for it (see `alert::STORY_WINDOW`).
    pub stories_since: DateTime<Utc>,
}

/// What a commit changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollCounts {
    /// Items recorded for the first time.
    pub new_items: usize,
    /// Alerts created (after cross-feed dedup), updates included.
    pub alerts: usize,
}

/// Store id of one delivery (one alert to one notifier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryId(pub i64);

/// Delivery states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not yet delivered; retried until it is, or until it expires.
    Pending,
    /// Delivered.
    Sent,
    /// Given up.
    Failed,
}

impl DeliveryState {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
        }
    }
}

/// How a delivery went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentAs {
    /// In a message of its own.
    Single,
    /// Folded into the summary of alerts beyond the notifier's `max_per_hour`.
    Summary,
    /// In the notifier's digest.
    Digest,
}

impl SentAs {
    /// Lowercase name, as `alerts --json` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            SentAs::Single => "single",
            SentAs::Summary => "summary",
            SentAs::Digest => "digest",
        }
    }

    /// The value [`SentAs::as_str`] gave, if it is one.
    pub fn parse(s: &str) -> Option<SentAs> {
        match s {
            "single" => Some(SentAs::Single),
            "summary" => Some(SentAs::Summary),
            "digest" => Some(SentAs::Digest),
            _ => None,
        }
    }
}

/// What one notifier sent in a recent window, for its `max_per_hour`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentWindow {
    /// When each alert sent in a message of its own went out, oldest first.
    pub singles: Vec<DateTime<Utc>>,
    /// When the latest summary went out, if one did.
    pub last_summary: Option<DateTime<Utc>>,
}

/// A delivery that is due now.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    /// Store id.
    pub id: DeliveryId,
    /// Notifier name.
    pub notifier: NotifierName,
    /// Attempts so far.
    pub attempts: u32,
    /// When the alert was created.
    pub created_at: DateTime<Utc>,
    /// The alert, serialized.
    pub payload: String,
}

/// What a prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Alerts deleted (with their deliveries).
    pub alerts: usize,
    /// Items forgotten.
    pub items: usize,
}

/// How often a feed brings new items.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ItemRhythm {
    /// First item recorded (the first fetch).
    pub first_seen: DateTime<Utc>,
    /// Last time an item was new.
    pub last_new: DateTime<Utc>,
    /// Items that arrived after the first fetch.
    pub new_since_first: u64,
}

/// One delivery's state, for `feedwatch alerts`.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    /// Notifier name.
    pub notifier: NotifierName,
    /// State.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: u32,
    /// Last error.
    pub last_error: Option<String>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// When a pending delivery is next tried (`None` once sent or given up).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// How it went out, once sent.
    pub sent_as: Option<SentAs>,
    /// Until when a pending delivery is held for its notifier's digest or hourly cap.
    pub held_until: Option<DateTime<Utc>>,
}

/// One alert with its deliveries, for `feedwatch alerts`.
#[derive(Debug, Clone)]
pub struct AlertRecord {
    /// Public id.
    pub id: AlertId,
    /// Watchlist.
    pub watchlist: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Item title.
    pub title: String,
    /// Item link.
    pub link: Option<String>,
    /// Feed URL.
    pub feed_url: FeedUrl,
    /// Deliveries by notifier.
    pub deliveries: Vec<DeliveryRecord>,
}
