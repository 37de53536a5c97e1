//! A store that fails on demand: the real SQLite store underneath, with the next few
//! `mark_sent` calls failing as on a full disk, so the dispatcher's handling of a write it cannot
//! make is tested in process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use feedwatch::model::{FeedId, FeedUrl, ItemIdentity, NotifierName, PollFailure};
use feedwatch::store::{
    AlertRecord, DeliveryId, DueDelivery, FeedNotice, FeedState, FreshPoll, ItemRhythm, PollCounts,
    Pruned, SentAs, SentWindow, SharedStore, Store, StoreError, Unseen,
};

/// The inner store, with the next `failures` `mark_sent` calls failing.
pub struct FlakyStore {
    inner: SharedStore,
    failures: AtomicUsize,
    mark_sent_calls: AtomicUsize,
}

impl FlakyStore {
    pub fn new(inner: SharedStore, failures: usize) -> Arc<FlakyStore> {
        Arc::new(FlakyStore {
            inner,
            failures: AtomicUsize::new(failures),
            mark_sent_calls: AtomicUsize::new(0),
        })
    }

    /// How often `mark_sent` was called, failed or not.
    pub fn mark_sent_calls(&self) -> usize {
        self.mark_sent_calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Store for FlakyStore {
    async fn feed_state(&self, url: &FeedUrl) -> Result<FeedState, StoreError> {
        self.inner.feed_state(url).await
    }

    async fn find_feed(&self, url: &FeedUrl) -> Result<Option<FeedState>, StoreError> {
        self.inner.find_feed(url).await
    }

    async fn feed_states(&self) -> Result<Vec<FeedState>, StoreError> {
        self.inner.feed_states().await
    }

    async fn unseen(&self, feed: FeedId, items: Vec<ItemIdentity>) -> Result<Unseen, StoreError> {
        self.inner.unseen(feed, items).await
    }

    async fn commit_fresh(&self, poll: FreshPoll) -> Result<PollCounts, StoreError> {
        self.inner.commit_fresh(poll).await
    }

    async fn record_not_modified(
        &self,
        feed: FeedId,
        now: DateTime<Utc>,
        next_due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.record_not_modified(feed, now, next_due).await
    }

    async fn record_failure(
        &self,
        feed: FeedId,
        failure: &PollFailure,
        now: DateTime<Utc>,
        next_due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner
            .record_failure(feed, failure, now, next_due)
            .await
    }

    async fn enqueue_feed_notice(
        &self,
        feed: FeedId,
        notice: FeedNotice,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.enqueue_feed_notice(feed, notice, now).await
    }

    async fn item_rhythm(&self, feed: FeedId) -> Result<Option<ItemRhythm>, StoreError> {
        self.inner.item_rhythm(feed).await
    }

    async fn prune(&self, cutoff: DateTime<Utc>) -> Result<Pruned, StoreError> {
        self.inner.prune(cutoff).await
    }

    async fn due_notifiers(&self, now: DateTime<Utc>) -> Result<Vec<NotifierName>, StoreError> {
        self.inner.due_notifiers(now).await
    }

    async fn due_deliveries(
        &self,
        notifier: &NotifierName,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.inner.due_deliveries(notifier, now, limit).await
    }

    async fn postpone_notifier(
        &self,
        notifier: &NotifierName,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.postpone_notifier(notifier, until).await
    }

    async fn mark_sent(
        &self,
        ids: &[DeliveryId],
        sent_as: SentAs,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.mark_sent_calls.fetch_add(1, Ordering::SeqCst);
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(StoreError::DiskFull {
                path: "feedwatch.db".into(),
            });
        }
        self.inner.mark_sent(ids, sent_as, now).await
    }

    async fn mark_batch_failed(
        &self,
        failed: &[(DeliveryId, Option<DateTime<Utc>>)],
        error: &str,
    ) -> Result<(), StoreError> {
        self.inner.mark_batch_failed(failed, error).await
    }

    async fn hold(&self, ids: &[DeliveryId], until: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.hold(ids, until).await
    }

    async fn release_holds(&self) -> Result<usize, StoreError> {
        self.inner.release_holds().await
    }

    async fn sent_window(
        &self,
        notifier: &NotifierName,
        since: DateTime<Utc>,
    ) -> Result<SentWindow, StoreError> {
        self.inner.sent_window(notifier, since).await
    }

    async fn held_deliveries(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.inner.held_deliveries(now).await
    }

    async fn mark_attempt_failed(
        &self,
        id: DeliveryId,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.inner.mark_attempt_failed(id, error, retry_at).await
    }

    async fn retry_now(
        &self,
        notifier: Option<&NotifierName>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.inner.retry_now(notifier, now).await
    }

    async fn pending_notifiers(&self) -> Result<Vec<NotifierName>, StoreError> {
        self.inner.pending_notifiers().await
    }

    async fn pending_deliveries(&self) -> Result<usize, StoreError> {
        self.inner.pending_deliveries().await
    }

    async fn next_delivery_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.inner.next_delivery_at().await
    }

    async fn alerts_since(&self, since: DateTime<Utc>) -> Result<Vec<AlertRecord>, StoreError> {
        self.inner.alerts_since(since).await
    }
}
