//! The store's contract, exercised through [`Store`] on an in-memory SQLite database.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

use super::SqliteStore;
use crate::model::ItemIdentity;
use crate::model::{
    AlertId, Database, FeedUrl, ItemKey, KeySource, NotifierName, StoryLink, Validators,
};
use crate::store::{
    Access, FreshPoll, ItemEdit, NewAlert, NewItem, PollCounts, Pruned, SentAs, SentWindow, Store,
    Unseen,
};

fn store() -> SqliteStore {
    SqliteStore::open(&Database::Memory, Access::Exclusive).unwrap()
}

fn key(k: &str) -> ItemKey {
    ItemKey::new(KeySource::Guid, k)
}

fn identity(k: &str) -> ItemIdentity {
    ItemIdentity {
        key: key(k),
        fingerprint: None,
    }
}

fn notifiers() -> Vec<NotifierName> {
    vec![NotifierName("mail".into()), NotifierName("hook".into())]
}

/// A document listing `items` (key, story link), each new one alerting when `alerting`.
fn poll(
    feed: crate::model::FeedId,
    now: DateTime<Utc>,
    items: &[(&str, &str)],
    alerting: bool,
) -> FreshPoll {
    FreshPoll {
        feed,
        now,
        title: None,
        validators: Validators::default(),
        status: 200,
        moved_to: None,
        next_due: now,
        items: items
            .iter()
            .map(|(k, l)| NewItem {
                identity: identity(k),
                guid: None,
                title: k.to_string(),
                link: Some(l.to_string()),
                story: Some(StoryLink::new(l.to_string())),
                published: None,
                quiet: false,
            })
            .collect(),
        present: items.iter().map(|(k, _)| identity(k)).collect(),
        edits: Vec::new(),
        alerts: items
            .iter()
            .filter(|_| alerting)
            .map(|(k, l)| NewAlert {
                item_key: key(k),
                id: AlertId::new(format!("id-{k}")),
                watchlist: "w".into(),
                story: Some(StoryLink::new(l.to_string())),
                payload: "{}".into(),
                notifiers: notifiers(),
            })
            .collect(),
        first_fetch_complete: !items.is_empty(),
        stories_since: now - Duration::days(7),
    }
}

async fn feed(s: &SqliteStore, url: &str) -> crate::store::FeedState {
    s.feed_state(&FeedUrl::from_string(url.into()))
        .await
        .unwrap()
}

async fn unseen(s: &SqliteStore, feed: crate::model::FeedId, keys: &[&str]) -> HashSet<ItemKey> {
    let items = keys.iter().map(|k| identity(k)).collect();
    s.unseen(feed, items).await.unwrap().new
}

async fn commit(
    s: &SqliteStore,
    url: &str,
    now: DateTime<Utc>,
    items: &[(&str, &str)],
) -> PollCounts {
    let id = feed(s, url).await.id;
    s.commit_fresh(poll(id, now, items, true)).await.unwrap()
}

#[tokio::test]
async fn items_and_stories_alert_once() {
    let s = store();
    let now = Utc::now();
    let one = PollCounts {
        new_items: 1,
        alerts: 1,
    };
    assert_eq!(commit(&s, "a", now, &[("1", "https://x/1")]).await, one);
    // Re-poll: nothing new.
    assert_eq!(
        commit(&s, "a", now, &[("1", "https://x/1")]).await,
        PollCounts::default()
    );
    // The same story from another feed: a new item, no new alert.
    let syndicated = PollCounts {
        new_items: 1,
        alerts: 0,
    };
    assert_eq!(
        commit(&s, "b", now, &[("9", "https://x/1")]).await,
        syndicated
    );
    // A week later the story may alert again through a third feed.
    let later = now + Duration::days(8);
    assert_eq!(commit(&s, "c", later, &[("5", "https://x/1")]).await, one);
    let a = feed(&s, "a").await;
    assert_eq!(
        unseen(&s, a.id, &["1", "2"]).await,
        HashSet::from([key("2")])
    );
}

#[tokio::test]
async fn a_known_fingerprint_is_a_known_item() {
    let s = store();
    let a = feed(&s, "a").await;
    let mut first = poll(a.id, Utc::now(), &[("1", "https://x/1")], false);
    first.items[0].identity.fingerprint = Some("hash:f".into());
    s.commit_fresh(first).await.unwrap();
    let moved = ItemIdentity {
        key: key("1-moved"),
        fingerprint: Some("hash:f".into()),
    };
    assert_eq!(
        s.unseen(a.id, vec![moved]).await.unwrap(),
        Unseen::default()
    );
}

fn printed(k: &str, print: Option<&str>) -> ItemIdentity {
    ItemIdentity {
        key: key(k),
        fingerprint: print.map(str::to_owned),
    }
}

/// An alert for watchlist `w` on item `k`, as an update.
fn update_alert(k: &str, w: &str) -> NewAlert {
    NewAlert {
        item_key: key(k),
        id: AlertId::new(format!("id-{w}-{k}")),
        watchlist: w.into(),
        story: None,
        payload: "{}".into(),
        notifiers: notifiers(),
    }
}

/// A document that lists item `k` edited to fingerprint `print`, alerting `watchlists` as an
/// update.
fn edit_poll(
    feed: crate::model::FeedId,
    now: DateTime<Utc>,
    (k, print): (&str, &str),
    watchlists: &[&str],
) -> FreshPoll {
    let mut p = poll(feed, now, &[], false);
    p.first_fetch_complete = true;
    p.edits = vec![ItemEdit {
        key: key(k),
        fingerprint: print.into(),
        title: format!("{k} edited"),
    }];
    p.alerts = watchlists.iter().map(|w| update_alert(k, w)).collect();
    p
}

#[tokio::test]
async fn an_edited_copy_of_a_story_another_feed_alerted_on_is_no_news_to_that_watchlist() {
    let s = store();
    let now = Utc::now();
    let (a, b) = (feed(&s, "a").await, feed(&s, "b").await);
    s.commit_fresh(poll(b.id, now, &[("wire", "https://x/story")], true))
        .await
        .unwrap();
    // Feed a's copy of the story was recorded without alerting (the window held it back).
    let mut copy = poll(a.id, now, &[("copy", "https://x/story")], false);
    copy.items[0].identity.fingerprint = Some("hash:f1".into());
    s.commit_fresh(copy).await.unwrap();
    let edited = s
        .unseen(a.id, vec![printed("copy", Some("hash:f2"))])
        .await
        .unwrap()
        .edited;
    assert_eq!(
        edited,
        [(key("copy"), vec!["w".to_owned()])].into_iter().collect(),
        "w had the story through feed b, however long ago"
    );
}

#[tokio::test]
async fn an_edit_of_a_backlog_item_that_matched_quietly_is_recorded_but_never_alerts() {
    let s = store();
    let now = Utc::now();
    let a = feed(&s, "a").await;
    let mut backlog = poll(a.id, now, &[("1", "https://x/1")], false);
    backlog.items[0].quiet = true;
    backlog.items[0].identity.fingerprint = Some("hash:f1".into());
    s.commit_fresh(backlog).await.unwrap();

    let counts = s
        .commit_fresh(edit_poll(a.id, now, ("1", "hash:f2"), &["w"]))
        .await
        .unwrap();
    assert_eq!(
        counts,
        PollCounts::default(),
        "its old text may have matched"
    );
    assert_eq!(
        s.unseen(a.id, vec![printed("1", Some("hash:f2"))])
            .await
            .unwrap(),
        Unseen::default(),
        "the edit is recorded"
    );
}

#[tokio::test]
async fn an_edited_item_alerts_once_per_watchlist_that_never_alerted_on_it() {
    let s = store();
    let now = Utc::now();
    let a = feed(&s, "a").await;
    let mut first = poll(
        a.id,
        now,
        &[("1", "https://x/1"), ("2", "https://x/2")],
        true,
    );
    first.items[0].identity.fingerprint = Some("hash:f1".into());
    first.items[1].identity.fingerprint = Some("hash:other".into());
    // Only item 1 alerted, for watchlist "w".
    first.alerts.truncate(1);
    s.commit_fresh(first).await.unwrap();

    let ask = |items: Vec<ItemIdentity>| s.unseen(a.id, items);
    assert_eq!(
        ask(vec![printed("1", Some("hash:f1"))]).await.unwrap(),
        Unseen::default(),
        "unchanged"
    );
    assert_eq!(
        ask(vec![printed("1", None)]).await.unwrap(),
        Unseen::default(),
        "too little text to tell an edit"
    );
    assert_eq!(
        ask(vec![printed("1", Some("hash:other"))]).await.unwrap(),
        Unseen::default(),
        "text another item of the feed already had is no news"
    );
    let edited = ask(vec![
        printed("1", Some("hash:f2")),
        printed("2", Some("hash:f3")),
    ])
    .await
    .unwrap();
    assert!(edited.new.is_empty());
    assert_eq!(
        edited.edited,
        [(key("1"), vec!["w".to_owned()]), (key("2"), Vec::new())]
            .into_iter()
            .collect()
    );

    let edit =
        |k: &str, print: &str, watchlists: &[&str]| edit_poll(a.id, now, (k, print), watchlists);
    // "w" already alerted on item 1: only "v" alerts.
    let counts = s
        .commit_fresh(edit("1", "hash:f2", &["w", "v"]))
        .await
        .unwrap();
    assert_eq!(
        counts,
        PollCounts {
            new_items: 0,
            alerts: 1
        }
    );
    assert_eq!(
        ask(vec![printed("1", Some("hash:f2"))]).await.unwrap(),
        Unseen::default(),
        "the edit is recorded"
    );
    // The same edit committed again changes nothing and cannot alert.
    let counts = s.commit_fresh(edit("1", "hash:f2", &["u"])).await.unwrap();
    assert_eq!(counts, PollCounts::default());
    // Another edit: "v" alerted on the item already, "u" never did.
    assert_eq!(
        ask(vec![printed("1", Some("hash:f4"))])
            .await
            .unwrap()
            .edited,
        [(key("1"), vec!["v".to_owned(), "w".to_owned()])]
            .into_iter()
            .collect()
    );
    let counts = s
        .commit_fresh(edit("1", "hash:f4", &["v", "u"]))
        .await
        .unwrap();
    assert_eq!(
        counts,
        PollCounts {
            new_items: 0,
            alerts: 1
        }
    );
    let titles: Vec<String> = s
        .alerts_since(now - Duration::days(1))
        .await
        .unwrap()
        .into_iter()
        .map(|a| format!("{}: {}", a.watchlist, a.title))
        .collect();
    assert_eq!(titles.len(), 3, "{titles:?}");
    assert!(titles.contains(&"u: 1 edited".to_owned()), "{titles:?}");
}

#[tokio::test]
async fn an_update_respects_the_cross_feed_story_window() {
    let s = store();
    let now = Utc::now();
    commit(&s, "a", now, &[("1", "https://x/story")]).await;
    let b = feed(&s, "b").await;
    let mut first = poll(b.id, now, &[("9", "https://x/story")], false);
    first.items[0].identity.fingerprint = Some("hash:f1".into());
    s.commit_fresh(first).await.unwrap();
    let mut edit = poll(b.id, now, &[], false);
    edit.first_fetch_complete = true;
    edit.edits = vec![ItemEdit {
        key: key("9"),
        fingerprint: "hash:f2".into(),
        title: "edited".into(),
    }];
    let mut alert = update_alert("9", "w");
    alert.story = Some(StoryLink::new("https://x/story".into()));
    edit.alerts = vec![alert];
    assert_eq!(
        s.commit_fresh(edit).await.unwrap(),
        PollCounts::default(),
        "watchlist w had this story from feed a this week"
    );
}

#[tokio::test]
async fn a_failing_notifier_is_postponed_without_touching_the_others() {
    let s = store();
    let now = Utc::now();
    commit(&s, "a", now, &[("1", "https://x/1"), ("2", "https://x/2")]).await;
    let (mail, hook) = (NotifierName("mail".into()), NotifierName("hook".into()));
    assert_eq!(
        s.due_notifiers(now).await.unwrap(),
        [hook.clone(), mail.clone()]
    );
    let due = s.due_deliveries(&mail, now, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    let later = now + Duration::minutes(5);
    s.mark_attempt_failed(due[0].id, "refused", Some(later))
        .await
        .unwrap();
    s.postpone_notifier(&mail, later).await.unwrap();
    assert!(s.due_deliveries(&mail, now, 10).await.unwrap().is_empty());
    assert_eq!(s.due_deliveries(&hook, now, 10).await.unwrap().len(), 2);
    let due_later = s.due_deliveries(&mail, later, 10).await.unwrap();
    assert_eq!(due_later.len(), 2);
    assert_eq!(
        due_later.iter().map(|d| d.attempts).sum::<u32>(),
        1,
        "postponing is not an attempt"
    );
    assert_eq!(
        s.next_delivery_at().await.unwrap().map(|t| t.timestamp()),
        Some(now.timestamp())
    );
}

#[tokio::test]
async fn pruning_forgets_old_alerts_and_vanished_items_only() {
    let s = store();
    let start = Utc::now() - Duration::days(200);
    commit(
        &s,
        "a",
        start,
        &[("1", "https://x/1"), ("2", "https://x/2")],
    )
    .await;
    // A hundred days on, the feed lists item 2 only: item 1 vanished long ago.
    let now = start + Duration::days(100);
    commit(&s, "a", now, &[("2", "https://x/2")]).await;
    // Feed b answered 304 ever since its one document: it keeps what that listed.
    let b = feed(&s, "b").await;
    s.commit_fresh(poll(b.id, start, &[("7", "https://y/7")], false))
        .await
        .unwrap();
    s.record_not_modified(b.id, now, now).await.unwrap();

    let cutoff = now - Duration::days(90);
    assert_eq!(
        s.prune(cutoff).await.unwrap(),
        Pruned {
            alerts: 2,
            items: 1
        }
    );
    let a = feed(&s, "a").await;
    assert_eq!(
        unseen(&s, a.id, &["1", "2"]).await,
        HashSet::from([key("1")])
    );
    assert!(unseen(&s, b.id, &["7"]).await.is_empty());
    assert_eq!(
        s.pending_deliveries().await.unwrap(),
        0,
        "deliveries go with their alerts"
    );
    assert_eq!(s.prune(cutoff).await.unwrap(), Pruned::default());
}

#[tokio::test]
async fn an_empty_first_document_does_not_complete_the_first_fetch() {
    let s = store();
    let a = feed(&s, "a").await;
    s.commit_fresh(poll(a.id, Utc::now(), &[], false))
        .await
        .unwrap();
    assert!(!s.feed_state(&a.url).await.unwrap().first_fetch_done);
    s.commit_fresh(poll(a.id, Utc::now(), &[("1", "https://x/1")], false))
        .await
        .unwrap();
    assert!(s.feed_state(&a.url).await.unwrap().first_fetch_done);
}

#[test]
fn a_database_readable_by_others_is_made_private_when_opened() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feedwatch.db");
    let db = Database::File(path.clone());
    drop(SqliteStore::open(&db, Access::Exclusive).unwrap());
    let loosen = std::fs::Permissions::from_mode(0o644);
    std::fs::set_permissions(&path, loosen.clone()).unwrap();
    let lock = dir.path().join("feedwatch.db.lock");
    std::fs::set_permissions(&lock, loosen).unwrap();
    drop(SqliteStore::open(&db, Access::Exclusive).unwrap());
    for file in [&path, &lock] {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}

#[tokio::test]
async fn passwords_an_older_version_stored_with_a_feed_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::File(dir.path().join("feedwatch.db"));
    let old = "https://reader:s3cret@members.example/feed";
    let other = "https://u:pw@other.example/feed";
    let (id, now) = {
        let s = SqliteStore::open(&db, Access::Exclusive).unwrap();
        let id = feed(&s, old).await.id;
        let mut first = poll(id, Utc::now(), &[("1", "https://members.example/1")], true);
        first.alerts[0].payload = format!(r#"{{"feed":{{"url":"{old}"}}}}"#);
        s.commit_fresh(first).await.unwrap();
        // This one was polled under its clean address since: the old row is only history.
        feed(&s, other).await;
        feed(&s, "https://other.example/feed").await;
        (id, Utc::now())
    };
    let s = SqliteStore::open(&db, Access::Exclusive).unwrap();
    let urls: Vec<String> = s
        .feed_states()
        .await
        .unwrap()
        .iter()
        .map(|f| f.url.to_string())
        .collect();
    assert_eq!(
        urls,
        ["https://members.example/feed", "https://other.example/feed"]
    );
    let kept = feed(&s, "https://members.example/feed").await;
    assert_eq!(kept.id, id, "the feed keeps its history");
    assert!(unseen(&s, id, &["1"]).await.is_empty());
    let due = s
        .due_deliveries(&NotifierName("mail".into()), now, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        due[0].payload,
        r#"{"feed":{"url":"https://members.example/feed"}}"#
    );
}

#[tokio::test]
async fn retry_makes_pending_deliveries_due_now_and_reports_next_attempts() {
    let s = store();
    let now = Utc::now();
    commit(&s, "a", now, &[("1", "https://x/1")]).await;
    let (mail, hook) = (NotifierName("mail".into()), NotifierName("hook".into()));
    let later = now + Duration::hours(6);
    for n in [&mail, &hook] {
        let due = s.due_deliveries(n, now, 10).await.unwrap();
        s.mark_attempt_failed(due[0].id, "refused", Some(later))
            .await
            .unwrap();
    }
    assert_eq!(
        s.pending_notifiers().await.unwrap(),
        [hook.clone(), mail.clone()]
    );
    let alerts = s.alerts_since(now - Duration::hours(1)).await.unwrap();
    let next: Vec<_> = alerts[0]
        .deliveries
        .iter()
        .map(|d| d.next_attempt_at.map(|t| t.timestamp()))
        .collect();
    assert_eq!(next, [Some(later.timestamp()); 2]);

    assert_eq!(s.retry_now(Some(&mail), now).await.unwrap(), 1);
    assert_eq!(
        s.due_notifiers(now).await.unwrap(),
        std::slice::from_ref(&mail)
    );
    assert_eq!(s.retry_now(None, now).await.unwrap(), 2);
    let due = s.due_deliveries(&hook, now, 10).await.unwrap();
    assert_eq!(due[0].attempts, 1, "a retry is not an attempt");
    s.mark_sent(&[due[0].id], SentAs::Single, now)
        .await
        .unwrap();
    let alerts = s.alerts_since(now - Duration::hours(1)).await.unwrap();
    let sent = alerts[0]
        .deliveries
        .iter()
        .find(|d| d.notifier == hook)
        .unwrap();
    assert_eq!(
        sent.next_attempt_at, None,
        "only pending deliveries have a next attempt"
    );
    assert_eq!(s.pending_notifiers().await.unwrap(), [mail]);
}

/// Whole seconds, as the store keeps times.
fn secs(t: DateTime<Utc>) -> DateTime<Utc> {
    super::from_ts(t.timestamp())
}

#[tokio::test]
async fn a_held_delivery_waits_for_its_hold_and_its_retry_and_a_release_lifts_it() {
    let s = store();
    let now = secs(Utc::now());
    commit(&s, "a", now, &[("1", "https://x/1"), ("2", "https://x/2")]).await;
    let mail = NotifierName("mail".into());
    let due = s.due_deliveries(&mail, now, 10).await.unwrap();
    let (one, two) = (due[0].id, due[1].id);
    let digest_time = now + Duration::hours(8);
    s.hold(&[one, two], digest_time).await.unwrap();
    assert!(s.due_deliveries(&mail, now, 10).await.unwrap().is_empty());
    assert_eq!(
        s.due_notifiers(now).await.unwrap(),
        [NotifierName("hook".into())]
    );
    assert_eq!(s.held_deliveries(now).await.unwrap(), 2);
    assert_eq!(
        s.held_deliveries(digest_time).await.unwrap(),
        0,
        "a hold ends"
    );
    assert_eq!(
        s.due_deliveries(&mail, digest_time, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    let alerts = s.alerts_since(now - Duration::hours(1)).await.unwrap();
    let held = alerts[0]
        .deliveries
        .iter()
        .find(|d| d.notifier == mail)
        .unwrap();
    assert_eq!(held.held_until, Some(digest_time));

    // Failing after its hold ended: due when both the hold and the retry have passed.
    let retry = digest_time + Duration::minutes(5);
    s.mark_batch_failed(&[(one, Some(retry)), (two, None)], "503")
        .await
        .unwrap();
    assert!(
        s.due_deliveries(&mail, digest_time, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.due_deliveries(&mail, retry, 10).await.unwrap().len(),
        1,
        "two was given up"
    );
    s.hold(&[one], retry + Duration::hours(1)).await.unwrap();
    // The hook's deliveries are due now; the mail's one once hold and retry both passed.
    s.mark_sent(&[due[0].id], SentAs::Single, now)
        .await
        .unwrap();
    let hook = NotifierName("hook".into());
    let hook_due = s.due_deliveries(&hook, now, 10).await.unwrap();
    s.mark_sent(&[hook_due[0].id, hook_due[1].id], SentAs::Digest, now)
        .await
        .unwrap();
    assert_eq!(
        s.next_delivery_at().await.unwrap(),
        None,
        "all sent or given up"
    );

    commit(&s, "a", now, &[("3", "https://x/3")]).await;
    let three = s.due_deliveries(&mail, now, 10).await.unwrap()[0].id;
    s.hold(&[three], now + Duration::hours(2)).await.unwrap();
    assert_eq!(
        s.next_delivery_at().await.unwrap(),
        Some(now),
        "the hook's delivery of 3 is due now"
    );
    assert_eq!(s.release_holds().await.unwrap(), 1);
    assert_eq!(s.due_deliveries(&mail, now, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_next_due_time_is_the_later_of_hold_and_retry() {
    let s = store();
    let now = secs(Utc::now());
    commit(&s, "a", now, &[("1", "https://x/1")]).await;
    for n in ["mail", "hook"] {
        let due = s
            .due_deliveries(&NotifierName(n.into()), now, 10)
            .await
            .unwrap();
        s.hold(&[due[0].id], now + Duration::hours(3))
            .await
            .unwrap();
        if n == "mail" {
            s.mark_attempt_failed(due[0].id, "503", Some(now + Duration::hours(4)))
                .await
                .unwrap();
        }
    }
    assert_eq!(
        s.next_delivery_at().await.unwrap(),
        Some(now + Duration::hours(3))
    );
    assert!(
        s.due_notifiers(now + Duration::hours(3) - Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_sent_window_counts_singles_and_the_last_summary_of_one_notifier() {
    let s = store();
    let now = secs(Utc::now());
    let items: Vec<(String, String)> = (0..6)
        .map(|i| (i.to_string(), format!("https://x/{i}")))
        .collect();
    let items: Vec<(&str, &str)> = items
        .iter()
        .map(|(k, l)| (k.as_str(), l.as_str()))
        .collect();
    commit(&s, "a", now - Duration::hours(2), &items).await;
    let mail = NotifierName("mail".into());
    let due = s.due_deliveries(&mail, now, 10).await.unwrap();
    let ids: Vec<_> = due.iter().map(|d| d.id).collect();
    let old = now - Duration::minutes(90);
    s.mark_sent(&ids[0..1], SentAs::Single, old).await.unwrap();
    s.mark_sent(&ids[1..2], SentAs::Single, now - Duration::minutes(30))
        .await
        .unwrap();
    s.mark_sent(&ids[2..3], SentAs::Single, now - Duration::minutes(10))
        .await
        .unwrap();
    s.mark_sent(&ids[3..5], SentAs::Summary, now - Duration::minutes(20))
        .await
        .unwrap();
    s.mark_sent(&ids[5..6], SentAs::Digest, now - Duration::minutes(5))
        .await
        .unwrap();
    let window = s
        .sent_window(&mail, now - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        window,
        SentWindow {
            singles: vec![now - Duration::minutes(30), now - Duration::minutes(10)],
            last_summary: Some(now - Duration::minutes(20)),
        }
    );
    let hook = NotifierName("hook".into());
    assert_eq!(
        s.sent_window(&hook, now - Duration::hours(1))
            .await
            .unwrap(),
        SentWindow::default(),
        "another notifier's sends do not count"
    );
    let alerts = s.alerts_since(now - Duration::hours(3)).await.unwrap();
    let how: Vec<Option<&str>> = alerts
        .iter()
        .rev()
        .map(|a| {
            a.deliveries
                .iter()
                .find(|d| d.notifier == mail)
                .and_then(|d| d.sent_as.map(SentAs::as_str))
        })
        .collect();
    assert_eq!(
        how,
        [
            Some("single"),
            Some("single"),
            Some("single"),
            Some("summary"),
            Some("summary"),
            Some("digest")
        ]
    );
}
