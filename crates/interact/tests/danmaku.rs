//! Danmaku and live Q&A through the service, on SQLite and MariaDB: what is stored, what a
//! slice and a resume return, who may delete and mute, the limits (length, filter, flood,
//! mutes, blocks), live danmaku on the broadcast's timeline, and delivery to a seated viewer.

use std::time::Duration;

use spool_catalog::Catalog;
use spool_config::InteractConfig;
use spool_hub::Hub;
use spool_interact::danmaku::{DanmakuInput, Mode};
use spool_interact::{Delivery, HostAction, Interact, InteractError, Target};
use spool_metadata::testing::{self, ENGINES, TestDb};
use spool_metadata::{NewRoom, Store, User};
use spool_model::{VideoId, Visibility};
use spool_storage::LocalStore;
use tokio_util::sync::CancellationToken;

struct World {
    _db: TestDb,
    _data: tempfile::TempDir,
    store: Store,
    chat: Interact,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl World {
    async fn new(engine: testing::Engine, config: InteractConfig) -> Self {
        let (db, store) = TestDb::store(engine).await;
        let data = tempfile::tempdir().unwrap();
        let hub = Hub::local();
        let catalog = Catalog::new(
            store.clone(),
            hub.clone(),
            LocalStore::open(data.path()).unwrap(),
            spool_storage::MediaLayout::new(data.path()),
        );
        let chat = Interact::new(store.clone(), catalog, hub, None, config);
        let stop = CancellationToken::new();
        let task = tokio::spawn(chat.clone().run(stop.clone()));
        Self {
            _db: db,
            _data: data,
            store,
            chat,
            stop,
            task,
        }
    }

    async fn user(&self, name: &str) -> User {
        self.store.create_user(name, false).await.unwrap()
    }

    async fn video(&self, owner: &User, visibility: Visibility) -> VideoId {
        testing::uploaded(
            &self.store,
            owner.id,
            "clip",
            visibility,
            owner.name.as_bytes(),
        )
        .await
        .video_id
    }

    async fn finish(self) {
        self.stop.cancel();
        self.task.await.unwrap();
        self.store.close().await;
    }
}

fn say(text: &str, time_ms: i64) -> DanmakuInput {
    DanmakuInput {
        text: text.into(),
        time_ms: Some(time_ms),
        ..Default::default()
    }
}

fn roomy() -> InteractConfig {
    InteractConfig {
        user_burst: 1000,
        ..Default::default()
    }
}

#[tokio::test]
async fn on_demand_danmaku_are_stored_sliced_resumed_and_deleted() {
    for engine in ENGINES {
        let w = World::new(engine, roomy()).await;
        let (ann, bob) = (w.user("ann").await, w.user("bob").await);
        let video = w.video(&ann, Visibility::Public).await;
        let target = Target::Video(video.clone());
        let html = "<img src=x onerror=alert(1)>";
        let first = w
            .chat
            .send_danmaku(&bob, &target, say(html, 1_500))
            .await
            .unwrap();
        assert_eq!(
            first.text, html,
            "stored as the sender wrote it (renderers insert text)"
        );
        assert_eq!(
            (first.author.as_str(), first.time_ms, first.mode),
            ("bob", 1_500, Mode::Scroll)
        );
        assert_eq!(first.color, "#ffffff");
        let late = w
            .chat
            .send_danmaku(
                &bob,
                &target,
                DanmakuInput {
                    mode: Some(Mode::Top),
                    color: Some(spool_interact::danmaku::ColorInput::Hex("#ff0000".into())),
                    ..say("seven minutes in", 7 * 60_000)
                },
            )
            .await
            .unwrap();
        let host = w
            .chat
            .send_danmaku(&ann, &target, say("hi all", 100))
            .await
            .unwrap();
        assert_eq!(host.weight, 10, "the owner weighs most");

        // The first slice has the two early ones, by time; the second the late one.
        let (slice, total, window) = w
            .chat
            .danmaku_window(None, &video, None, None)
            .await
            .unwrap();
        assert_eq!(window, (0, 360_000));
        assert_eq!(total, 2);
        assert_eq!(
            slice.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![host.id, first.id]
        );
        let (next, _, _) = w
            .chat
            .danmaku_window(None, &video, Some(360_000), None)
            .await
            .unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(
            (next[0].mode, next[0].color.as_str()),
            (Mode::Top, "#ff0000")
        );

        // A resume after the first returns what came later, then its deletion.
        let since = w
            .chat
            .danmaku_since(None, &target, first.id, 100)
            .await
            .unwrap();
        assert_eq!(
            since.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![late.id, host.id]
        );
        let carl = w.user("carl").await;
        let refused = w.chat.delete_danmaku(&carl, first.id).await.unwrap_err();
        assert!(matches!(refused, InteractError::NotModerator), "{refused}");
        w.chat
            .delete_danmaku(&bob, first.id)
            .await
            .expect("its author deletes it");
        let gone = w.chat.delete_danmaku(&bob, first.id).await.unwrap_err();
        assert!(matches!(gone, InteractError::NotFound(_)));
        let resumed = w.chat.danmaku_since(None, &target, 0, 100).await.unwrap();
        let deleted = resumed.iter().find(|d| d.id == first.id).unwrap();
        assert!(
            deleted.deleted && deleted.text.is_empty(),
            "a resume learns of the deletion"
        );
        let (slice, _, _) = w
            .chat
            .danmaku_window(None, &video, None, None)
            .await
            .unwrap();
        assert_eq!(
            slice.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![host.id]
        );

        // The owner appoints a moderator, who may delete others' danmaku.
        w.chat.set_moderator(&ann, "carl", true).await.unwrap();
        assert_eq!(w.chat.moderators(&ann).await.unwrap(), vec!["carl"]);
        w.chat
            .delete_danmaku(&carl, late.id)
            .await
            .expect("a moderator deletes");
        w.finish().await;
    }
}

#[tokio::test]
async fn limits_refuse_before_anything_is_stored() {
    for engine in ENGINES {
        let w = World::new(engine, InteractConfig::default()).await;
        let (ann, bob, eve) = (
            w.user("ann").await,
            w.user("bob").await,
            w.user("eve").await,
        );
        let video = w.video(&ann, Visibility::Public).await;
        let private = w.video(&eve, Visibility::Private).await;
        let target = Target::Video(video.clone());
        fn check<T>(got: Result<T, InteractError>, code: &str) {
            let e = got.err().unwrap_or_else(|| panic!("expected {code}"));
            assert_eq!(e.code(), code, "{e}");
        }
        check(
            w.chat.send_danmaku(&bob, &target, say("", 0)).await,
            "invalid_input",
        );
        check(
            w.chat
                .send_danmaku(&bob, &target, say(&"长".repeat(101), 0))
                .await,
            "invalid_input",
        );
        check(
            w.chat
                .send_danmaku(&bob, &target, say("line\nbreak", 0))
                .await,
            "invalid_input",
        );
        check(
            w.chat.send_danmaku(&bob, &target, say("ok", -1)).await,
            "invalid_input",
        );
        check(
            w.chat
                .send_danmaku(
                    &bob,
                    &target,
                    DanmakuInput {
                        time_ms: None,
                        ..say("ok", 0)
                    },
                )
                .await,
            "invalid_input",
        );
        check(
            w.chat
                .send_danmaku(&ann, &Target::Video(private), say("peek", 0))
                .await,
            "not_found",
        );
        // The keyword filter, case-insensitive, Chinese too.
        let words = w
            .chat
            .set_filter_words(&["Spam".into(), "广告".into()])
            .await
            .unwrap();
        assert_eq!(words, vec!["spam", "广告"]);
        check(
            w.chat.send_danmaku(&bob, &target, say("buy SPAM", 0)).await,
            "text_filtered",
        );
        check(
            w.chat.send_danmaku(&bob, &target, say("看广告了", 0)).await,
            "text_filtered",
        );
        // Three per two seconds, then a flood mute (the fourth and what follows are refused).
        for i in 0..3 {
            w.chat
                .send_danmaku(&bob, &target, say("fine", i))
                .await
                .unwrap();
        }
        let flood = w
            .chat
            .send_danmaku(&bob, &target, say("more", 4))
            .await
            .unwrap_err();
        assert_eq!(flood.code(), "chat_rate_limited");
        assert_eq!(flood.retry_after_ms(), Some(10_000));
        check(
            w.chat.send_danmaku(&bob, &target, say("still", 5)).await,
            "chat_rate_limited",
        );
        // A moderator's mute, lifted again.
        check(w.chat.mute(&bob, &target, "eve", 5).await, "not_moderator");
        check(w.chat.mute(&ann, &target, "eve", -1).await, "invalid_input");
        let until = w.chat.mute(&ann, &target, "eve", 5).await.unwrap();
        assert!(until > spool_model::now_millis());
        let muted = w
            .chat
            .send_danmaku(&eve, &target, say("hello", 0))
            .await
            .unwrap_err();
        assert_eq!(muted.code(), "muted");
        w.chat.mute(&ann, &target, "eve", 0).await.unwrap();
        w.chat
            .send_danmaku(&eve, &target, say("hello", 0))
            .await
            .expect("unmuted");
        // Only the 3 of bob's and eve's one were stored.
        let (slice, total, _) = w
            .chat
            .danmaku_window(None, &video, None, None)
            .await
            .unwrap();
        assert_eq!((slice.len(), total), (4, 4));
        // Blocking eve hides her from ann's history, not from others'.
        check(w.chat.set_block(&ann, "ann", true).await, "invalid_input");
        check(w.chat.set_block(&ann, "nobody", true).await, "not_found");
        w.chat.set_block(&ann, "eve", true).await.unwrap();
        w.chat.set_block(&ann, "eve", true).await.unwrap();
        assert_eq!(w.chat.blocks(&ann).await.unwrap(), vec!["eve"]);
        let (mine, _, _) = w
            .chat
            .danmaku_window(Some(&ann), &video, None, None)
            .await
            .unwrap();
        assert!(mine.iter().all(|d| d.author != "eve") && mine.len() == 3);
        w.finish().await;
    }
}

#[tokio::test]
async fn a_crowded_slice_keeps_the_highest_weighted() {
    let config = InteractConfig {
        user_burst: 1000,
        slice_cap: 5,
        ..Default::default()
    };
    for engine in ENGINES {
        let w = World::new(engine, config.clone()).await;
        let (ann, bob) = (w.user("ann").await, w.user("bob").await);
        let video = w.video(&ann, Visibility::Public).await;
        let target = Target::Video(video.clone());
        let mut good = Vec::new();
        for i in 0..20 {
            let text = if i % 4 == 0 {
                "this moment is wonderful"
            } else {
                "哈哈哈哈哈哈"
            };
            let sent = w
                .chat
                .send_danmaku(&bob, &target, say(text, i * 1000))
                .await
                .unwrap();
            if i % 4 == 0 {
                good.push(sent.id);
            }
        }
        let (slice, total, _) = w
            .chat
            .danmaku_window(None, &video, None, None)
            .await
            .unwrap();
        assert_eq!(total, 20);
        assert_eq!(
            slice.iter().map(|d| d.id).collect::<Vec<_>>(),
            good,
            "the five that say something, by time"
        );
        w.finish().await;
    }
}

#[tokio::test]
async fn live_danmaku_land_on_the_broadcast_timeline_and_reach_seated_viewers() {
    for engine in ENGINES {
        let w = World::new(engine, roomy()).await;
        let (ann, bob) = (w.user("ann").await, w.user("bob").await);
        let (room, _key) = w
            .store
            .create_room(&NewRoom {
                owner_id: ann.id,
                title: "show",
                description: "",
                visibility: Visibility::Public,
            })
            .await
            .unwrap();
        let target = Target::Room(room.id.clone());
        let live = DanmakuInput {
            text: "hello live".into(),
            ..Default::default()
        };
        let idle = w
            .chat
            .send_danmaku(&bob, &target, live.clone())
            .await
            .unwrap_err();
        assert_eq!(idle.code(), "room_not_live");
        let recording = w
            .store
            .start_broadcast(&room.id)
            .await
            .unwrap()
            .expect("goes live");
        let started = w
            .store
            .room(&room.id)
            .await
            .unwrap()
            .unwrap()
            .started_at
            .unwrap();
        // The room cache holds the idle row for up to a second: wait until it is live.
        let mut seat = w.chat.fanout().join(&target);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let sent = loop {
            match w
                .chat
                .send_danmaku(
                    &bob,
                    &target,
                    DanmakuInput {
                        latency_ms: Some(2_000),
                        ..live.clone()
                    },
                )
                .await
            {
                Ok(sent) => break sent,
                Err(InteractError::NotLive) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(
            sent.video_id,
            recording.to_string(),
            "stored against the recording"
        );
        assert_eq!(sent.room_id.as_deref(), Some(room.id.as_str()));
        let expect = sent.created_at - started - 2_000;
        assert!(
            (sent.time_ms - expect.max(0)).abs() <= 50,
            "{} vs {expect}",
            sent.time_ms
        );
        // It replays at that moment in the recording.
        let (slice, _, _) = w
            .chat
            .danmaku_window(None, &recording, Some(0), Some(360_000))
            .await
            .unwrap();
        assert_eq!(
            slice.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![sent.id]
        );
        // The seated viewer got it in a batch frame.
        let frame = match tokio::time::timeout(Duration::from_secs(5), seat.recv()).await {
            Ok(Some(Delivery::Frame(frame))) => frame,
            other => panic!("no frame: {other:?}"),
        };
        let value: serde_json::Value = serde_json::from_slice(&frame.text).unwrap();
        assert_eq!(value["topic"], target.to_string());
        assert_eq!(value["messages"][0]["id"], sent.id);
        assert_eq!(value["messages"][0]["text"], "hello live");
        let resumed = w.chat.danmaku_since(None, &target, 0, 10).await.unwrap();
        assert_eq!(resumed.len(), 1);
        w.finish().await;
    }
}

#[tokio::test]
async fn questions_are_voted_once_pinned_one_at_a_time_and_answered_by_the_host() {
    for engine in ENGINES {
        let w = World::new(engine, roomy()).await;
        let (ann, bob, carl) = (
            w.user("ann").await,
            w.user("bob").await,
            w.user("carl").await,
        );
        let (room, _) = w
            .store
            .create_room(&NewRoom {
                owner_id: ann.id,
                title: "q&a",
                description: "",
                visibility: Visibility::Public,
            })
            .await
            .unwrap();
        let first = w
            .chat
            .ask(&bob, &room.id, "  what camera is that?  ")
            .await
            .unwrap();
        assert_eq!(first.text, "what camera is that?");
        let second = w
            .chat
            .ask(&carl, &room.id, "<script>x</script>")
            .await
            .unwrap();
        for _ in 0..2 {
            let voted = w.chat.vote(&carl, first.id, true).await.unwrap();
            assert_eq!(
                (voted.votes, voted.voted),
                (1, true),
                "a second vote counts once"
            );
        }
        assert_eq!(w.chat.vote(&bob, first.id, true).await.unwrap().votes, 2);
        assert_eq!(w.chat.vote(&bob, first.id, false).await.unwrap().votes, 1);
        let listed = w.chat.questions(Some(&carl), &room.id).await.unwrap();
        assert_eq!(
            listed.iter().map(|q| (q.id, q.voted)).collect::<Vec<_>>(),
            vec![(first.id, true), (second.id, false)]
        );
        let refused = w
            .chat
            .host_question(&bob, second.id, HostAction::Pin)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), "not_host");
        w.chat
            .host_question(&ann, first.id, HostAction::Pin)
            .await
            .unwrap();
        w.chat
            .host_question(&ann, second.id, HostAction::Pin)
            .await
            .unwrap();
        let listed = w.chat.questions(None, &room.id).await.unwrap();
        assert_eq!(
            listed.iter().map(|q| (q.id, q.pinned)).collect::<Vec<_>>(),
            vec![(second.id, true), (first.id, false)],
            "one pinned at a time, first"
        );
        let answered = w
            .chat
            .host_question(&ann, second.id, HostAction::Answer)
            .await
            .unwrap();
        assert!(answered.answered && !answered.pinned);
        let listed = w.chat.questions(None, &room.id).await.unwrap();
        assert_eq!(
            listed.iter().map(|q| q.id).collect::<Vec<_>>(),
            vec![first.id, second.id],
            "answered ones go last"
        );
        w.chat
            .host_question(&ann, first.id, HostAction::Delete)
            .await
            .unwrap();
        assert_eq!(w.chat.questions(None, &room.id).await.unwrap().len(), 1);
        assert_eq!(
            w.chat.vote(&bob, first.id, true).await.unwrap_err().code(),
            "not_found"
        );
        w.finish().await;
    }
}
