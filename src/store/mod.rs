//! The store: feed state, seen items, alerts and the delivery outbox, behind one interface.
//!
//! Owns persistence. [`Store`] is everything the pipeline, the dispatcher, the daemon and the
//! CLI need from storage, in domain records ([`records`]); [`SqliteStore`] implements it. Must
//! never hold a transaction across network I/O: every method is a short, self-contained
//! transaction, and callers never see a connection, a row or SQL.

pub mod records;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{Database, FeedId, FeedUrl, ItemIdentity, NotifierName, PollFailure};

pub use records::{
    AlertRecord, DeliveryId, DeliveryRecord, DeliveryState, DueDelivery, FeedNotice, FeedState,
    FreshPoll, ItemEdit, ItemRhythm, NewAlert, NewItem, PollCounts, Pruned, SentAs, SentWindow,
    Unseen,
};
pub use sqlite::SqliteStore;

/// Errors from the store. Each message is complete on its own: it names the database file,
/// says what went wrong once (no error chain repeating it) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A query failed, before the error was tied to its database file (the store's methods
    /// return [`StoreError::Query`] and the variants below instead).
    #[error("store: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// A query on the database at `path` failed.
    #[error("store: database {path}: {problem}")]
    Query {
        /// Database path.
        path: String,
        /// What failed.
        problem: String,
    },
    /// The disk holding the database is full.
    #[error(
        "store: the disk holding database {path} is full; free space on it, or move `general.database` to a disk with room (alerts not yet delivered stay queued)"
    )]
    DiskFull {
        /// Database path.
        path: String,
    },
    /// The database reached the file size limit this process runs under.
    #[error(
        "store: database {path} has reached this process's file size limit of {limit} bytes; raise it (`ulimit -f`, systemd `LimitFSIZE=`) (alerts not yet delivered stay queued)"
    )]
    FileSizeLimit {
        /// Database path.
        path: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The file is not a SQLite database, or is damaged beyond reading.
    #[error(
        "store: {path} is not a feedwatch database (SQLite cannot read it); point `general.database` at another file, or move this one away and feedwatch starts a new one"
    )]
    NotADatabase {
        /// Database path.
        path: String,
    },
    /// The database or its directory cannot be written.
    #[error(
        "store: cannot write database {path}: {problem}; feedwatch needs write access to the file and to its directory (it keeps -wal, -shm and .lock files beside it)"
    )]
    ReadOnly {
        /// Database path.
        path: String,
        /// What SQLite said.
        problem: String,
    },
    /// The database was written by a newer feedwatch.
    #[error(
        "store: database schema version {found} is newer than this feedwatch understands ({known}); upgrade feedwatch or point `database` elsewhere"
    )]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Newest version known here.
        known: i64,
    },
    /// Could not open the database file (or create the lock file beside it).
    #[error(
        "store: cannot open {path}: {problem}; check `general.database` and that feedwatch may write to that directory"
    )]
    Open {
        /// Path of the file that could not be opened.
        path: String,
        /// Why.
        problem: String,
    },
    /// Another feedwatch already works on this database, or its lock cannot be taken.
    #[error("{0}")]
    Busy(String),
    /// A blocking task panicked or was cancelled.
    #[error("store: background task failed: {0}")]
    Task(String),
}

/// Whether the opener will drain the outbox (and so must be the only one), or only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The daemon and `once`: one at a time per database, or alerts would be sent twice.
    Exclusive,
    /// Reports (`feeds`, `alerts`) and `retry`'s one short write, fine beside a running daemon.
    Shared,
}

/// Everything feedwatch stores, as one narrow interface.
#[async_trait]
pub trait Store: Send + Sync {
    /// The state of the feed at `url`, creating its record on first sight.
    async fn feed_state(&self, url: &FeedUrl) -> Result<FeedState, StoreError>;

    /// The state of a feed if it was ever seen.
    async fn find_feed(&self, url: &FeedUrl) -> Result<Option<FeedState>, StoreError>;

    /// Every known feed, by URL.
    async fn feed_states(&self) -> Result<Vec<FeedState>, StoreError>;

    /// Of these items, those this feed never listed before (an item is known when its key is,
    /// or its fingerprint is), and the known ones whose content has changed since.
    async fn unseen(&self, feed: FeedId, items: Vec<ItemIdentity>) -> Result<Unseen, StoreError>;

    /// Commits a successful poll: feed state, new and edited items, alerts and their
    /// deliveries, at once.
    async fn commit_fresh(&self, poll: FreshPoll) -> Result<PollCounts, StoreError>;

    /// Records a `304 Not Modified`.
    async fn record_not_modified(
        &self,
        feed: FeedId,
        now: DateTime<Utc>,
        next_due: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records a failed poll (fetch, parse or match).
    async fn record_failure(
        &self,
        feed: FeedId,
        failure: &PollFailure,
        now: DateTime<Utc>,
        next_due: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Queues a notice about a feed's health and remembers that the admin now knows the feed's
    /// state, at once, so the notice is sent exactly once.
    async fn enqueue_feed_notice(
        &self,
        feed: FeedId,
        notice: FeedNotice,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// When this feed's items were first and last new, and how many arrived after the first
    /// fetch: the feed's usual rhythm, for spotting feeds that went silent.
    async fn item_rhythm(&self, feed: FeedId) -> Result<Option<ItemRhythm>, StoreError>;

    /// Forgets alerts created before `cutoff`, and items that no remaining alert needs and that
    /// their feed's latest document has not listed since before it.
    async fn prune(&self, cutoff: DateTime<Utc>) -> Result<Pruned, StoreError>;

    /// Notifiers with deliveries due at `now` (neither waiting for a retry nor held).
    async fn due_notifiers(&self, now: DateTime<Utc>) -> Result<Vec<NotifierName>, StoreError>;

    /// One notifier's pending deliveries due at `now`, oldest first.
    async fn due_deliveries(
        &self,
        notifier: &NotifierName,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    /// Holds back a notifier's other due deliveries until `until` (attempts unchanged).
    async fn postpone_notifier(
        &self,
        notifier: &NotifierName,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Marks deliveries sent `sent_as`, at once: all of a batch, or none.
    async fn mark_sent(
        &self,
        ids: &[DeliveryId],
        sent_as: SentAs,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Records one failed attempt of the deliveries a batch carried, at once: each retried at
    /// its own time, or given up when that is `None`.
    async fn mark_batch_failed(
        &self,
        failed: &[(DeliveryId, Option<DateTime<Utc>>)],
        error: &str,
    ) -> Result<(), StoreError>;

    /// Holds pending deliveries back until `until`, for their notifier's digest or hourly cap
    /// (their retry time and attempts unchanged).
    async fn hold(&self, ids: &[DeliveryId], until: DateTime<Utc>) -> Result<(), StoreError>;

    /// Lifts every hold, so they are decided again under the config now in force; how many.
    async fn release_holds(&self) -> Result<usize, StoreError>;

    /// What `notifier` sent after `since`: its singles and its latest summary.
    async fn sent_window(
        &self,
        notifier: &NotifierName,
        since: DateTime<Utc>,
    ) -> Result<SentWindow, StoreError>;

    /// How many pending deliveries are held past `now` for a digest or an hourly cap.
    async fn held_deliveries(&self, now: DateTime<Utc>) -> Result<usize, StoreError>;

    /// Records a failed attempt: retried at `retry_at`, or given up when it is `None`.
    async fn mark_attempt_failed(
        &self,
        id: DeliveryId,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// Makes pending deliveries (all, or `notifier`'s only) due at `now` at the latest, attempts
    /// unchanged; how many are pending that way. Held deliveries stay held.
    async fn retry_now(
        &self,
        notifier: Option<&NotifierName>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    /// Notifiers with pending deliveries, by name (a notifier since removed from the config too).
    async fn pending_notifiers(&self) -> Result<Vec<NotifierName>, StoreError>;

    /// How many deliveries are pending.
    async fn pending_deliveries(&self) -> Result<usize, StoreError>;

    /// The earliest time a pending delivery becomes due (its retry time and hold both past),
    /// if any.
    async fn next_delivery_at(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Alerts created since `since`, newest first, with their deliveries.
    async fn alerts_since(&self, since: DateTime<Utc>) -> Result<Vec<AlertRecord>, StoreError>;
}

/// The store handle every stage holds.
pub type SharedStore = Arc<dyn Store>;

/// Opens (creating and migrating if needed) the store at `database`.
pub fn open(database: &Database, access: Access) -> Result<SharedStore, StoreError> {
    Ok(Arc::new(SqliteStore::open(database, access)?))
}

/// Whether a store already exists at `database`: read-only commands must not create an empty
/// database at a mistyped path and then report that nothing was ever fetched.
pub fn exists(database: &Database) -> bool {
    match database {
        Database::File(path) => path.exists(),
        Database::Memory => true,
    }
}
