//! Follows on SQLite and MariaDB: idempotent follows and counts, no following oneself, the
//! "following" listing of followed channels' listed videos, and one tracking event per change.

mod support;

use spool_metadata::testing::ENGINES;
use spool_model::Visibility;
use support::World;

#[tokio::test]
async fn follows_are_idempotent_counted_and_recorded_once_per_change() {
    for engine in ENGINES {
        let w = World::new(engine).await;
        let (ann, bob, cy) = (
            w.user("ann", false).await,
            w.user("bob", false).await,
            w.user("cy", false).await,
        );
        let latest = w.video(&ann, "latest", Visibility::Public).await;
        let state = w.follows.set(&bob, "ann", true).await.unwrap();
        assert_eq!((state.followers, state.following), (1, Some(true)));
        let again = w.follows.set(&bob, "ann", true).await.unwrap();
        assert_eq!((again.followers, again.following), (1, Some(true)), "twice");
        assert_eq!(w.follows.set(&cy, "ann", true).await.unwrap().followers, 2);
        let seen = w.follows.state(Some(&bob), "ann").await.unwrap();
        assert_eq!((seen.followers, seen.following), (2, Some(true)));
        let anonymous = w.follows.state(None, "ann").await.unwrap();
        assert_eq!((anonymous.followers, anonymous.following), (2, None));
        let gone = w.follows.set(&bob, "ann", false).await.unwrap();
        assert_eq!((gone.followers, gone.following), (1, Some(false)));
        w.follows.set(&bob, "ann", false).await.unwrap();
        let refused = w.follows.set(&ann, "ann", true).await.expect_err("self");
        assert_eq!(refused.code(), "cannot_follow_self");
        let unknown = w
            .follows
            .set(&ann, "nobody", true)
            .await
            .expect_err("unknown");
        assert_eq!(unknown.code(), "not_found");
        // One event per change, on the channel's latest listed video.
        let events: Vec<(String, String, String, String)> = w
            .events()
            .await
            .into_iter()
            .map(|(kind, video, user, p)| {
                (kind, video, user, p["channel"].as_str().unwrap().into())
            })
            .collect();
        let on = latest.to_string();
        let expect = [
            ("follow", on.as_str(), "bob", "ann"),
            ("follow", on.as_str(), "cy", "ann"),
            ("unfollow", on.as_str(), "bob", "ann"),
        ];
        let events: Vec<(&str, &str, &str, &str)> = events
            .iter()
            .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str()))
            .collect();
        assert_eq!(events, expect, "{engine:?}");
    }
}

#[tokio::test]
async fn following_lists_followed_channels_and_their_listed_videos_newest_first() {
    for engine in ENGINES {
        let w = World::new(engine).await;
        let (ann, bob, cy, dee) = (
            w.user("ann", false).await,
            w.user("bob", false).await,
            w.user("cy", false).await,
            w.user("dee", false).await,
        );
        let a1 = w.video(&ann, "a1", Visibility::Public).await;
        w.video(&ann, "hidden", Visibility::Private).await;
        w.video(&ann, "by link", Visibility::Unlisted).await;
        w.video(&dee, "not followed", Visibility::Public).await;
        // A channel without videos can be followed; nothing is recorded for it.
        w.follows.set(&bob, "cy", true).await.unwrap();
        w.follows.set(&bob, "ann", true).await.unwrap();
        let a2 = w.video(&ann, "a2", Visibility::Public).await;
        let c1 = w.video(&cy, "c1", Visibility::Public).await;
        let following = w.follows.following(&bob, 10).await.unwrap();
        let channels: Vec<&str> = following.channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(channels.len(), 2);
        assert!(channels.contains(&"ann") && channels.contains(&"cy"));
        let mut videos: Vec<_> = following.videos.iter().map(|v| v.id.clone()).collect();
        let newest_first = following
            .videos
            .windows(2)
            .all(|p| (p[0].created_at, &p[0].id) > (p[1].created_at, &p[1].id));
        assert!(newest_first, "{engine:?}");
        videos.sort();
        let mut expect = vec![c1, a2, a1.clone()];
        expect.sort();
        assert_eq!(
            videos, expect,
            "{engine:?}: listed videos of followed channels only"
        );
        let one = w.follows.following(&bob, 1).await.unwrap();
        assert_eq!(one.videos.len(), 1);
        let none = w.follows.following(&cy, 10).await.unwrap();
        assert!(none.channels.is_empty() && none.videos.is_empty());
        assert_eq!(
            w.events().await.len(),
            1,
            "only the follow of a channel with a video"
        );
    }
}
