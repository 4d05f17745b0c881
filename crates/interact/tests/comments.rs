//! Comments on SQLite and MariaDB: threading one level, pages without gaps or duplicates while
//! others comment, both orders, pin rules, soft deletion, who may do what, reports, and what
//! a new comment tells the hub and the event log.

mod support;

use std::collections::HashSet;

use spool_hub::Topic;
use spool_interact::comments::{CommentPage, FIRST_REPLIES};
use spool_metadata::testing::ENGINES;
use spool_metadata::{CommentOrder, User};
use spool_model::{CommentId, VideoId, Visibility};
use support::World;

/// The code of a refused call.
fn code<T: std::fmt::Debug>(result: Result<T, spool_interact::CommentError>) -> &'static str {
    result.expect_err("refused").code()
}

async fn post(w: &World, user: &User, video: &VideoId, text: &str) -> CommentId {
    w.comments
        .post(user, video, text, None)
        .await
        .unwrap()
        .row
        .id
}

/// Every top-level comment id of a listing, page by page (`limit` a page).
async fn all_pages(
    w: &World,
    video: &VideoId,
    order: CommentOrder,
    limit: u32,
    between_pages: impl AsyncFn(),
) -> Vec<CommentId> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page: CommentPage = w
            .comments
            .list(None, video, order, cursor.as_deref(), Some(limit))
            .await
            .unwrap();
        assert!(page.threads.len() <= limit as usize);
        ids.extend(page.threads.into_iter().map(|t| t.comment.row.id));
        between_pages().await;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn replies_thread_one_level_and_count_in_their_parent() {
    for engine in ENGINES {
        let w = World::new(engine).await;
        let (ann, bob) = (w.user("ann", false).await, w.user("bob", false).await);
        let video = w.video(&ann, "clip", Visibility::Public).await;
        let top = post(&w, &bob, &video, "first!").await;
        let reply = w
            .comments
            .post(&ann, &video, "thanks", Some(&top))
            .await
            .unwrap();
        assert_eq!(reply.row.parent_id.as_ref(), Some(&top));
        // A reply to a reply joins the top-level comment's thread.
        let nested = w
            .comments
            .post(&bob, &video, "you're welcome", Some(&reply.row.id))
            .await
            .unwrap();
        assert_eq!(nested.row.parent_id.as_ref(), Some(&top), "{engine:?}");
        for i in 0..5 {
            w.comments
                .post(&bob, &video, &format!("more {i}"), Some(&top))
                .await
                .unwrap();
        }
        let page = w
            .comments
            .list(None, &video, CommentOrder::Newest, None, None)
            .await
            .unwrap();
        assert_eq!(page.threads.len(), 1, "replies are not top-level");
        let thread = &page.threads[0];
        assert_eq!(thread.comment.row.reply_count, 7);
        let first: Vec<&str> = thread.replies.iter().map(|r| r.row.body.as_str()).collect();
        assert_eq!(first.len(), FIRST_REPLIES as usize);
        assert_eq!(
            first,
            ["thanks", "you're welcome", "more 0"],
            "oldest first"
        );
        // All replies by pages of 3, asked through the thread's comment or one of its replies.
        let mut bodies = Vec::new();
        let mut cursor = None;
        loop {
            let page = w
                .comments
                .replies(None, &reply.row.id, cursor.as_deref(), Some(3))
                .await
                .unwrap();
            bodies.extend(page.replies.into_iter().map(|r| r.row.body));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(bodies.len(), 7);
        assert_eq!(bodies[6], "more 4");
        // A parent of another video is refused by name.
        let other = w.video(&ann, "other", Visibility::Public).await;
        let refused = w.comments.post(&bob, &other, "hi", Some(&top)).await;
        let message = refused.expect_err("other video").to_string();
        assert!(message.starts_with("parent_id:"), "{message}");
    }
}

#[tokio::test]
async fn pages_never_skip_or_repeat_while_others_comment() {
    for engine in ENGINES {
        let w = World::new(engine).await;
        let ann = w.user("ann", false).await;
        let fans: Vec<User> = futures_join(&w, 4).await;
        let video = w.video(&ann, "clip", Visibility::Public).await;
        let mut before = Vec::new();
        for i in 0..30 {
            let id = post(&w, &fans[i % fans.len()], &video, &format!("c{i}")).await;
            before.push(id);
        }
        // Some likes, so the top order differs from the newest.
        for (i, id) in before.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            for fan in fans.iter().take(1 + i % 4) {
                w.comments.set_like(fan, id, true).await.unwrap();
            }
        }
        for order in [CommentOrder::Newest, CommentOrder::Top] {
            // Between every page, two writers each add a comment concurrently.
            let ids = all_pages(&w, &video, order, 7, async || {
                let (a, b) = tokio::join!(
                    w.comments.post(&fans[0], &video, "late", None),
                    w.comments.post(&fans[1], &video, "later", None),
                );
                a.unwrap();
                b.unwrap();
            })
            .await;
            let unique: HashSet<&CommentId> = ids.iter().collect();
            assert_eq!(unique.len(), ids.len(), "{engine:?} {order:?}: a duplicate");
            for id in &before {
                assert!(unique.contains(id), "{engine:?} {order:?}: {id} skipped");
            }
        }
        // Newest order is exactly the reverse of posting order.
        let fresh = World::new(engine).await;
        let owner = fresh.user("ann", false).await;
        let v = fresh.video(&owner, "v", Visibility::Public).await;
        let mut posted = Vec::new();
        for i in 0..9 {
            posted.push(post(&fresh, &owner, &v, &format!("n{i}")).await);
        }
        let newest = all_pages(&fresh, &v, CommentOrder::Newest, 4, async || {}).await;
        posted.reverse();
        assert_eq!(newest, posted, "{engine:?}");
    }
}

async fn futures_join(w: &World, n: usize) -> Vec<User> {
    let mut users = Vec::new();
    for i in 0..n {
        users.push(w.user(&format!("fan{i}"), false).await);
    }
    users
}

#[tokio::test]
async fn top_order_is_most_liked_then_newest_and_likes_are_idempotent() {
    for engine in ENGINES {
        let w = World::new(engine).await;
        let (ann, bob, cy) = (
            w.user("ann", false).await,
            w.user("bob", false).await,
            w.user("cy", false).await,
        );
        let video = w.video(&ann, "clip", Visibility::Public).await;
        let old = post(&w, &bob, &video, "old").await;
        let mid = post(&w, &bob, &video, "mid").await;
        let new = post(&w, &bob, &video, "new").await;
        assert_eq!(w.comments.set_like(&ann, &old, true).await.unwrap(), 1);
        assert_eq!(
            w.comments.set_like(&ann, &old, true).await.unwrap(),
            1,
            "twice"
        );
        assert_eq!(w.comments.set_like(&cy, &old, true).await.unwrap(), 2);
        assert_eq!(w.comments.set_like(&cy, &mid, true).await.unwrap(), 1);
        let top = all_pages(&w, &video, CommentOrder::Top, 10, async || {}).await;
        assert_eq!(top, [old.clone(), mid.clone(), new.clone()], "{engine:?}");
        assert_eq!(w.comments.set_like(&cy, &old, false).await.unwrap(), 1);
        assert_eq!(
            w.comments.set_like(&cy, &old, false).await.unwrap(),
            1,
            "twice"
        );
        let page = w
            .comments
            .list(Some(&cy), &video, CommentOrder::Top, None, None)
            .await
            .unwrap();
        let liked: Vec<bool> = page.threads.iter().map(|t| t.comment.liked).collect();
        // old (1 like, by ann) and mid (1, by cy) tie: the newer first.
        assert_eq!(page.threads[0].comment.row.id, mid);
        assert_eq!(liked, [true, false, false]);
        let bad = w
            .comments
            .list(None, &video, CommentOrder::Top, Some("n3"), None)
            .await;
        assert_eq!(
            code(bad),
            "invalid_cursor",
            "a newest cursor for the top order"
        );
    }
}

#[tokio::test]
async fn only_the_owner_pins_one_top_level_comment_shown_first() {
    for engine in ENGINES {
        let w = World::new(engine).await;
        let (ann, bob, admin) = (
            w.user("ann", false).await,
            w.user("bob", false).await,
            w.user("root", true).await,
        );
        let video = w.video(&ann, "clip", Visibility::Public).await;
        let a = post(&w, &bob, &video, "a").await;
        let b = post(&w, &bob, &video, "b").await;
        let reply = w.comments.post(&ann, &video, "r", Some(&a)).await.unwrap();
        assert_eq!(code(w.comments.pin(&bob, &a).await), "not_owner");
        assert_eq!(
            code(w.comments.pin(&ann, &reply.row.id).await),
            "comment_is_reply"
        );
        w.comments.pin(&ann, &a).await.unwrap();
        w.comments.pin(&ann, &a).await.unwrap();
        let page = w
            .comments
            .list(None, &video, CommentOrder::Newest, None, None)
            .await
            .unwrap();
        let pinned = page.pinned.expect("pinned");
        assert_eq!(pinned.comment.row.id, a);
        assert!(pinned.comment.row.pinned && pinned.replies.len() == 1);
        let listed: Vec<&CommentId> = page.threads.iter().map(|t| &t.comment.row.id).collect();
        assert_eq!(listed, [&b], "the pinned one is not repeated");
        // Pinning another unpins the first (an admin may pin too).
        w.comments.pin(&admin, &b).await.unwrap();
        let page = w
            .comments
            .list(None, &video, CommentOrder::Top, None, None)
            .await
            .unwrap();
        assert_eq!(page.pinned.unwrap().comment.row.id, b);
        assert_eq!(page.threads.len(), 1);
        assert!(!page.threads[0].comment.row.pinned);
        assert_eq!(code(w.comments.unpin(&bob, &b).await), "not_owner");
        w.comments.unpin(&ann, &b).await.unwrap();
        w.comments.unpin(&ann, &b).await.unwrap();
        let page = w
            .comments
            .list(None, &video, CommentOrder::Newest, None, None)
            .await
            .unwrap();
        assert!(
            page.pinned.is_none() && page.threads.len() == 2,
            "{engine:?}"
        );
        w.comments.delete(&bob, &b).await.unwrap();
        assert_eq!(code(w.comments.pin(&ann, &b).await), "comment_deleted");
    }
}

#[tokio::test]
async fn deletion_is_soft_keeps_threads_and_is_for_author_owner_or_admin() {
    for engine in ENGINES {
        let w = World::new(engine).await;
        let (ann, bob, cy, admin) = (
            w.user("ann", false).await,
            w.user("bob", false).await,
            w.user("cy", false).await,
            w.user("root", true).await,
        );
        let video = w.video(&ann, "clip", Visibility::Public).await;
        let thread = post(&w, &bob, &video, "thread").await;
        let lonely = post(&w, &bob, &video, "lonely").await;
        let r1 = w
            .comments
            .post(&cy, &video, "r1", Some(&thread))
            .await
            .unwrap()
            .row
            .id;
        let r2 = w
            .comments
            .post(&cy, &video, "r2", Some(&thread))
            .await
            .unwrap()
            .row
            .id;
        let cys = post(&w, &cy, &video, "cy's").await;
        assert_eq!(
            code(w.comments.delete(&cy, &thread).await),
            "not_comment_author"
        );
        assert_eq!(
            code(w.comments.delete(&bob, &r1).await),
            "not_comment_author"
        );
        // Author, video owner, admin.
        w.comments.delete(&cy, &r1).await.unwrap();
        w.comments.delete(&cy, &r1).await.unwrap();
        w.comments.delete(&ann, &thread).await.unwrap();
        w.comments.delete(&admin, &lonely).await.unwrap();
        let page = w
            .comments
            .list(None, &video, CommentOrder::Newest, None, None)
            .await
            .unwrap();
        let listed: Vec<(&CommentId, bool, &str)> = page
            .threads
            .iter()
            .map(|t| {
                (
                    &t.comment.row.id,
                    t.comment.row.deleted,
                    t.comment.row.body.as_str(),
                )
            })
            .collect();
        // The deleted comment with a reply stays as a placeholder; the one without is gone.
        assert_eq!(
            listed,
            [(&cys, false, "cy's"), (&thread, true, "")],
            "{engine:?}"
        );
        let thread_row = &page.threads[1];
        assert_eq!(thread_row.comment.row.reply_count, 1);
        assert_eq!(thread_row.replies.len(), 1);
        assert_eq!(thread_row.replies[0].row.id, r2);
        assert_eq!(
            code(w.comments.post(&cy, &video, "hey", Some(&thread)).await),
            "comment_deleted"
        );
        assert_eq!(
            code(w.comments.set_like(&cy, &thread, true).await),
            "comment_deleted"
        );
        // The last reply gone, the placeholder goes too.
        w.comments.delete(&cy, &r2).await.unwrap();
        let page = w
            .comments
            .list(None, &video, CommentOrder::Newest, None, None)
            .await
            .unwrap();
        assert_eq!(page.threads.len(), 1);
    }
}

#[tokio::test]
async fn comments_of_a_video_you_may_not_see_do_not_exist() {
    for engine in ENGINES {
        let w = World::new(engine).await;
        let (ann, bob) = (w.user("ann", false).await, w.user("bob", false).await);
        let private = w.video(&ann, "secret", Visibility::Private).await;
        let own = post(&w, &ann, &private, "note to self").await;
        let listed = w
            .comments
            .list(Some(&ann), &private, CommentOrder::Newest, None, None)
            .await
            .unwrap();
        assert_eq!(listed.threads.len(), 1);
        for refused in [
            code(
                w.comments
                    .list(None, &private, CommentOrder::Newest, None, None)
                    .await,
            ),
            code(
                w.comments
                    .list(Some(&bob), &private, CommentOrder::Top, None, None)
                    .await,
            ),
            code(w.comments.post(&bob, &private, "hi", None).await),
            code(w.comments.replies(Some(&bob), &own, None, None).await),
            code(w.comments.delete(&bob, &own).await),
            code(w.comments.pin(&bob, &own).await),
            code(w.comments.set_like(&bob, &own, true).await),
            code(w.comments.report(&bob, &own, "spam").await),
            code(
                w.comments
                    .replies(None, &CommentId::random(), None, None)
                    .await,
            ),
            code(w.comments.post(&bob, &VideoId::random(), "hi", None).await),
        ] {
            assert_eq!(refused, "not_found", "{engine:?}");
        }
    }
}

#[tokio::test]
async fn reports_are_once_per_reporter_and_listed_for_admins() {
    for engine in ENGINES {
        let w = World::new(engine).await;
        let (ann, bob, cy, admin) = (
            w.user("ann", false).await,
            w.user("bob", false).await,
            w.user("cy", false).await,
            w.user("root", true).await,
        );
        let video = w.video(&ann, "clip", Visibility::Public).await;
        let rude = post(&w, &bob, &video, "rude").await;
        let other = post(&w, &bob, &video, "other").await;
        assert!(w.comments.report(&ann, &rude, " spam ").await.unwrap());
        assert!(
            !w.comments
                .report(&ann, &rude, "changed my mind")
                .await
                .unwrap()
        );
        assert!(w.comments.report(&cy, &rude, "abuse").await.unwrap());
        assert!(w.comments.report(&cy, &other, "meh").await.unwrap());
        assert_eq!(
            code(w.comments.report(&cy, &other, "  ").await),
            "invalid_input"
        );
        assert_eq!(
            code(w.comments.reports(&ann, None, None).await),
            "not_admin"
        );
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = w
                .comments
                .reports(&admin, cursor.as_deref(), Some(2))
                .await
                .unwrap();
            seen.extend(
                page.reports
                    .into_iter()
                    .map(|r| (r.comment.body, r.reporter_name, r.reason)),
            );
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        let expect = [
            ("other", "cy", "meh"),
            ("rude", "cy", "abuse"),
            ("rude", "ann", "spam"),
        ];
        let seen: Vec<(&str, &str, &str)> = seen
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
            .collect();
        assert_eq!(seen, expect, "{engine:?}");
        assert_eq!(
            code(w.comments.reports(&admin, Some("x"), None).await),
            "invalid_cursor"
        );
    }
}

#[tokio::test]
async fn a_new_comment_is_announced_and_recorded_and_bad_text_is_refused() {
    for engine in ENGINES {
        let w = World::new(engine).await;
        let (ann, bob) = (w.user("ann", false).await, w.user("bob", false).await);
        let video = w.video(&ann, "clip", Visibility::Public).await;
        let mut chat = w.hub.subscribe(&Topic::video_chat(&video));
        let html = "<img src=x onerror=alert(1)>";
        let posted = w.comments.post(&bob, &video, html, None).await.unwrap();
        assert_eq!(
            posted.row.body, html,
            "stored as given: inert is the renderer's job"
        );
        let received = tokio::time::timeout(std::time::Duration::from_secs(5), chat.recv())
            .await
            .expect("a hint in time")
            .expect("a message");
        let spool_hub::Received::Message(payload) = received else {
            panic!("lagged on a fresh topic");
        };
        let hint: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(hint["type"], "comment");
        assert_eq!(hint["id"], posted.row.id.as_str());
        assert_eq!(hint["video_id"], video.as_str());
        assert_eq!(hint["author"], "bob");
        assert!(hint["parent_id"].is_null() && hint["at"].as_i64().unwrap() > 0);
        let events = w.events().await;
        assert_eq!(events.len(), 1, "{events:?}");
        let (kind, on, user, properties) = &events[0];
        assert_eq!(
            (kind.as_str(), on.as_str(), user.as_str()),
            ("comment", video.as_str(), "bob")
        );
        assert_eq!(properties["comment_id"], posted.row.id.as_str());
        for (text, part) in [
            ("", "text: must not be empty"),
            ("  \n ", "text: must not be empty"),
            ("a\u{1b}[31m", "U+001B"),
        ] {
            let refused = w
                .comments
                .post(&bob, &video, text, None)
                .await
                .expect_err(text);
            assert_eq!(refused.code(), "invalid_input");
            assert!(refused.to_string().contains(part), "{refused}");
        }
        let long = "x".repeat(2001);
        assert_eq!(
            code(w.comments.post(&bob, &video, &long, None).await),
            "invalid_input"
        );
        // Refusals are neither stored nor recorded.
        assert_eq!(w.events().await.len(), 1);
        let stored = 2000;
        let max = w
            .comments
            .post(&bob, &video, &"字".repeat(stored), None)
            .await
            .unwrap();
        assert_eq!(max.row.body.chars().count(), stored, "{engine:?}");
    }
}

#[tokio::test]
async fn deleting_a_video_deletes_its_comments_likes_and_reports() {
    for engine in ENGINES {
        let w = World::new(engine).await;
        let (ann, bob) = (w.user("ann", false).await, w.user("bob", false).await);
        let video = w.video(&ann, "clip", Visibility::Public).await;
        let top = post(&w, &bob, &video, "top").await;
        let reply = w
            .comments
            .post(&ann, &video, "r", Some(&top))
            .await
            .unwrap()
            .row
            .id;
        w.comments.set_like(&ann, &top, true).await.unwrap();
        w.comments.report(&ann, &top, "spam").await.unwrap();
        assert!(w.store.delete_video(&video).await.unwrap().is_some());
        assert_eq!(w.store.comment(&top).await.unwrap(), None, "{engine:?}");
        assert_eq!(w.store.comment(&reply).await.unwrap(), None, "{engine:?}");
        assert!(
            w.store
                .list_comment_reports(None, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            w.store
                .comment_likes_of(ann.id, &[top])
                .await
                .unwrap()
                .is_empty()
        );
    }
}
