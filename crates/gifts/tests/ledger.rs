//! Gifts on the real ledger, on SQLite and MariaDB: sends, refusals that write nothing,
//! idempotent replays, and races (identical sends, a wallet overdrawn by many at once). After
//! every test the ledger sums to zero, every balance equals its entries and none is negative.

use spool_catalog::Catalog;
use spool_gifts::{GiftError, Gifts, IdempotencyKey, SendRequest, Target};
use spool_live::{Live, LiveSettings, RoomInput};
use spool_metadata::testing::on_each_engine;
use spool_metadata::{PLATFORM_ACCOUNT, Store, User};
use spool_model::{RoomId, VideoId, Visibility};

struct World {
    gifts: Gifts,
    store: Store,
    live: Live,
    _data: tempfile::TempDir,
}

fn world(store: &Store) -> World {
    let data = tempfile::tempdir().unwrap();
    let config = spool_config::Config::default();
    let layout = || spool_storage::MediaLayout::new(data.path());
    let catalog = Catalog::new(
        store.clone(),
        spool_hub::Hub::local(),
        spool_storage::LocalStore::open(data.path()).unwrap(),
        layout(),
    );
    let live = Live::new(
        store.clone(),
        layout(),
        spool_media::process::ProcessRunner::new(&config.media),
        LiveSettings::from_config(&config.live, None),
    );
    World {
        gifts: Gifts::new(store.clone(), catalog, live.clone()),
        store: store.clone(),
        live,
        _data: data,
    }
}

impl World {
    async fn user(&self, name: &str) -> User {
        self.store.create_user(name, false).await.unwrap()
    }

    async fn video(&self, owner: &User, visibility: Visibility) -> VideoId {
        spool_metadata::testing::uploaded(
            &self.store,
            owner.id,
            "v",
            visibility,
            owner.name.as_bytes(),
        )
        .await
        .video_id
    }

    async fn room(&self, owner: &User) -> RoomId {
        let input = RoomInput {
            title: "room".into(),
            description: String::new(),
            visibility: None,
        };
        self.live.create_room(owner, input).await.unwrap().0.row.id
    }

    async fn grant(&self, user: &User, amount: i64) {
        spool_gifts::grant(&self.store, &user.name, amount, &IdempotencyKey::random())
            .await
            .unwrap();
    }

    async fn balance(&self, user: &User) -> i64 {
        self.store.wallet_balance(user.id).await.unwrap()
    }

    /// The ledger's invariants, whatever happened before.
    async fn assert_consistent(&self) -> i64 {
        let audit = self.store.ledger_audit().await.unwrap();
        assert_eq!(audit.entries_sum, 0, "{audit:?}");
        assert_eq!(audit.mismatched_balances, 0, "{audit:?}");
        assert_eq!(audit.unbalanced_transfers, 0, "{audit:?}");
        assert_eq!(audit.negative_balances, 0, "{audit:?}");
        audit.transfers
    }
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(Some(text)).unwrap()
}

fn on_video(gift: &str, video: &VideoId, count: i64) -> SendRequest {
    SendRequest {
        gift: gift.into(),
        target: Target::Video(video.clone()),
        count,
    }
}

#[tokio::test]
async fn a_gift_debits_the_sender_and_credits_creator_and_platform() {
    on_each_engine(|_, store, _| async move {
        let w = world(&store);
        let (alice, bob) = (w.user("alice").await, w.user("bob").await);
        let video = w.video(&bob, Visibility::Public).await;
        w.grant(&alice, 1000).await;

        let sent = w
            .gifts
            .send(&alice, &key("k1"), &on_video("rose", &video, 3))
            .await
            .unwrap();
        assert_eq!((sent.amount, sent.balance, sent.count), (30, 970, 3));
        assert_eq!((sent.gift.id.as_str(), sent.replayed), ("rose", false));
        assert_eq!(w.balance(&alice).await, 970);
        assert_eq!(w.balance(&bob).await, 21);
        assert_eq!(store.account_balance(PLATFORM_ACCOUNT).await.unwrap(), 9);
        for account in [alice.id, bob.id, PLATFORM_ACCOUNT] {
            assert_eq!(
                store.account_balance(account).await.unwrap(),
                store.account_entries_sum(account).await.unwrap()
            );
        }
        assert_eq!(w.assert_consistent().await, 2, "one grant and one gift");

        let leaders = w.gifts.video_leaderboard(None, &video).await.unwrap();
        assert_eq!(leaders.len(), 1);
        assert_eq!(
            (
                leaders[0].name.as_str(),
                leaders[0].amount,
                leaders[0].gifts
            ),
            ("alice", 30, 3)
        );
        let earnings = w.gifts.earnings(&bob).await.unwrap();
        assert_eq!(earnings.total, 21);
        assert_eq!(earnings.by_target.len(), 1);
        assert_eq!(
            earnings.by_target[0].video_id.as_deref(),
            Some(video.as_str())
        );
        let wallet = w.gifts.wallet(&alice).await.unwrap();
        assert_eq!((wallet.balance, wallet.earned), (970, 0));
        let legs: Vec<i64> = wallet.recent.iter().map(|m| m.amount).collect();
        assert_eq!(legs, [-30, 1000], "newest first");
        assert_eq!(w.gifts.wallet(&bob).await.unwrap().earned, 21);
    })
    .await;
}

#[tokio::test]
async fn gifts_in_a_live_room_go_to_its_owner_and_its_leaderboard() {
    on_each_engine(|_, store, _| async move {
        let w = world(&store);
        let (alice, carol, bob) = (
            w.user("alice").await,
            w.user("carol").await,
            w.user("bob").await,
        );
        let room = w.room(&bob).await;
        w.grant(&alice, 100).await;
        w.grant(&carol, 1000).await;
        let in_room = |gift: &str, count| SendRequest {
            gift: gift.into(),
            target: Target::Room(room.clone()),
            count,
        };
        w.gifts
            .send(&alice, &key("a"), &in_room("rose", 5))
            .await
            .unwrap();
        w.gifts
            .send(&carol, &key("a"), &in_room("rocket", 1))
            .await
            .unwrap();
        w.gifts
            .send(&alice, &key("b"), &in_room("heart", 2))
            .await
            .unwrap();
        let leaders = w.gifts.room_leaderboard(Some(&alice), &room).await.unwrap();
        let board: Vec<_> = leaders
            .iter()
            .map(|l| (l.name.as_str(), l.amount, l.gifts))
            .collect();
        assert_eq!(board, [("carol", 500, 1), ("alice", 52, 7)]);
        let earnings = w.gifts.earnings(&bob).await.unwrap();
        assert_eq!(earnings.total, 350 + 35 + 2);
        assert_eq!(
            earnings.by_target[0].room_id.as_deref(),
            Some(room.as_str())
        );
        w.assert_consistent().await;
    })
    .await;
}

#[tokio::test]
async fn refused_sends_write_nothing() {
    on_each_engine(|_, store, _| async move {
        let w = world(&store);
        let (alice, bob) = (w.user("alice").await, w.user("bob").await);
        let video = w.video(&bob, Visibility::Public).await;
        let own = w.video(&alice, Visibility::Public).await;
        let private = w.video(&bob, Visibility::Private).await;
        w.grant(&alice, 5).await;
        let before = w.assert_consistent().await;
        let cases = [
            (on_video("rocket", &video, 1), "insufficient_funds"),
            (on_video("heart", &video, 6), "insufficient_funds"),
            (on_video("heart", &own, 1), "gift_to_self"),
            (on_video("diamond", &video, 1), "unknown_gift"),
            (on_video("heart", &video, 0), "invalid_count"),
            (on_video("heart", &video, -3), "invalid_count"),
            (on_video("heart", &video, 10_000), "invalid_count"),
            (on_video("heart", &private, 1), "not_found"),
            (on_video("heart", &VideoId::random(), 1), "not_found"),
        ];
        for (i, (request, code)) in cases.iter().enumerate() {
            let refused = w.gifts.send(&alice, &key(&format!("k{i}")), request).await;
            assert_eq!(refused.map_err(|e| e.code()), Err(*code), "{request:?}");
        }
        assert_eq!(w.assert_consistent().await, before);
        assert_eq!(w.balance(&alice).await, 5);
        // A refusal is not recorded: the key of the overdrawn send works after a top-up.
        w.grant(&alice, 1000).await;
        let sent = w.gifts.send(&alice, &key("k0"), &cases[0].0).await.unwrap();
        assert_eq!(sent.balance, 505);
        assert_eq!(
            Target::from_ids(None, None).map_err(|e| e.code()),
            Err("invalid_input")
        );
    })
    .await;
}

#[tokio::test]
async fn a_replay_answers_the_first_transfer_and_a_reused_key_is_refused() {
    on_each_engine(|_, store, _| async move {
        let w = world(&store);
        let (alice, bob) = (w.user("alice").await, w.user("bob").await);
        let video = w.video(&bob, Visibility::Public).await;
        w.grant(&alice, 100).await;
        let first = w
            .gifts
            .send(&alice, &key("same"), &on_video("rose", &video, 2))
            .await
            .unwrap();
        w.gifts
            .send(&alice, &key("other"), &on_video("heart", &video, 1))
            .await
            .unwrap();
        let again = w
            .gifts
            .send(&alice, &key("same"), &on_video("rose", &video, 2))
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(
            (
                again.transfer_id.as_str(),
                again.balance,
                again.amount,
                again.at
            ),
            (first.transfer_id.as_str(), 80, 20, first.at),
            "the first answer, not the balance now"
        );
        assert_eq!(w.balance(&alice).await, 79);
        let before = w.assert_consistent().await;
        for changed in [
            on_video("rose", &video, 3),
            on_video("heart", &video, 2),
            on_video("rose", &w.video(&bob, Visibility::Public).await, 2),
        ] {
            let refused = w.gifts.send(&alice, &key("same"), &changed).await;
            assert!(
                matches!(refused, Err(GiftError::IdempotencyKeyReused)),
                "{refused:?}"
            );
        }
        // Keys are the sender's: bob may use "same" for his own gift.
        w.grant(&bob, 10).await;
        let alices = w.video(&alice, Visibility::Public).await;
        let bobs = w
            .gifts
            .send(&bob, &key("same"), &on_video("heart", &alices, 1))
            .await
            .unwrap();
        assert!(!bobs.replayed);
        assert_eq!(w.assert_consistent().await, before + 2);
    })
    .await;
}

#[tokio::test]
async fn grants_are_idempotent_checked_and_for_admins() {
    on_each_engine(|_, store, _| async move {
        let w = world(&store);
        let alice = w.user("alice").await;
        let admin = store.create_user("root", true).await.unwrap();
        let first = w
            .gifts
            .grant_as(&admin, "alice", 300, &key("g"))
            .await
            .unwrap();
        let again = w
            .gifts
            .grant_as(&admin, "alice", 300, &key("g"))
            .await
            .unwrap();
        assert_eq!(
            (first.balance, again.balance, again.replayed),
            (300, 300, true)
        );
        assert_eq!(first.transfer_id, again.transfer_id);
        let refusals = [
            (
                w.gifts.grant_as(&admin, "alice", 301, &key("g")).await,
                "idempotency_key_reused",
            ),
            (
                w.gifts.grant_as(&admin, "alice", 0, &key("z")).await,
                "invalid_amount",
            ),
            (
                w.gifts.grant_as(&admin, "alice", -10, &key("n")).await,
                "invalid_amount",
            ),
            (
                w.gifts.grant_as(&admin, "nobody", 10, &key("u")).await,
                "not_found",
            ),
            (
                w.gifts.grant_as(&alice, "alice", 10, &key("s")).await,
                "not_admin",
            ),
        ];
        for (refused, code) in refusals {
            assert_eq!(refused.map_err(|e| e.code()), Err(code));
        }
        assert_eq!(w.balance(&alice).await, 300);
        assert_eq!(w.assert_consistent().await, 1);
    })
    .await;
}

#[tokio::test]
async fn identical_sends_racing_apply_once() {
    on_each_engine(|_, store, _| async move {
        let w = world(&store);
        let (alice, bob) = (w.user("alice").await, w.user("bob").await);
        let video = w.video(&bob, Visibility::Public).await;
        w.grant(&alice, 1000).await;
        let request = on_video("star", &video, 1);
        let race = key("race");
        let sends = (0..16).map(|_| w.gifts.send(&alice, &race, &request));
        let answers = futures_util::future::join_all(sends).await;
        let answers: Vec<_> = answers.into_iter().map(Result::unwrap).collect();
        assert_eq!(answers.iter().filter(|a| !a.replayed).count(), 1);
        assert!(
            answers
                .iter()
                .all(|a| a.transfer_id == answers[0].transfer_id && a.balance == 950)
        );
        assert_eq!(w.balance(&alice).await, 950);
        assert_eq!(w.assert_consistent().await, 2);
    })
    .await;
}

#[tokio::test]
async fn a_wallet_overdrawn_by_many_sends_at_once_pays_only_what_it_holds() {
    on_each_engine(|_, store, _| async move {
        let w = world(&store);
        let (alice, bob) = (w.user("alice").await, w.user("bob").await);
        let video = w.video(&bob, Visibility::Public).await;
        w.grant(&alice, 100).await;
        let request = on_video("rose", &video, 1);
        let keys: Vec<_> = (0..30).map(|i| key(&format!("k{i}"))).collect();
        let sends = keys.iter().map(|k| w.gifts.send(&alice, k, &request));
        let answers = futures_util::future::join_all(sends).await;
        let paid = answers.iter().filter(|a| a.is_ok()).count();
        let refused = answers
            .iter()
            .filter(|a| matches!(a, Err(GiftError::InsufficientFunds { .. })))
            .count();
        assert_eq!((paid, refused), (10, 20), "{answers:?}");
        assert_eq!(w.balance(&alice).await, 0);
        assert_eq!(w.balance(&bob).await, 70);
        assert_eq!(w.assert_consistent().await, 11);
    })
    .await;
}
