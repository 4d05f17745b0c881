//! Discovery through the router against real stores (SQLite and MariaDB), the real event log
//! and the tasks the binary runs (the discovery projection, the recommender's index, the
//! search index): tracked events change the next page of the feed within a second; "not
//! interested" and hide-creator filter it; related videos; search in Chinese and English with
//! owner-only private matches, suggestions, filters and refusals; a restart resumes the
//! profiles from the projection's checkpoint.

use std::time::{Duration, Instant};

use axum::Router;
use http::StatusCode;
use serde_json::{Value, json};
use spool_api::AppState;
use spool_events::projection::ProjectionRunner;
use spool_metadata::Store;
use spool_metadata::testing::{ENGINES, Engine};
use spool_model::{UserId, VideoId, Visibility, now_millis};
use support::Reply;
use tokio_util::sync::CancellationToken;

mod support;

struct Harness {
    app: Router,
    store: Store,
    state: AppState,
    stop: CancellationToken,
    /// What the binary's supervised set runs for discovery, awaited by `stop`.
    tasks: tokio::task::JoinSet<()>,
    _t: support::TestState,
}

impl Harness {
    async fn new(engine: Engine) -> Self {
        let t = support::test_state(engine, |_| {}).await;
        Self {
            app: spool_api::router(t.state.clone()),
            store: t.store.clone(),
            state: t.state.clone(),
            stop: CancellationToken::new(),
            tasks: tokio::task::JoinSet::new(),
            _t: t,
        }
    }

    /// Starts what the binary runs for discovery (after the videos exist: the search index
    /// catches up with the catalogue when it starts).
    fn start(&mut self) {
        let s = &self.state;
        let runner = ProjectionRunner::new(
            s.recommender.projection(),
            s.tracking.shared_log().clone(),
            s.tracking.dir(),
            s.recommender.state().clone(),
        );
        self.tasks.spawn(runner.run(self.stop.clone()));
        self.tasks
            .spawn(s.recommender.clone().run(self.stop.clone()));
        self.tasks.spawn(s.search.clone().run(self.stop.clone()));
    }

    async fn stop(&mut self) {
        self.stop.cancel();
        while let Some(done) = self.tasks.join_next().await {
            done.unwrap();
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        support::call(&self.app, method, path, token, body).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Value {
        let reply = self.call("GET", path, token, None).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()
    }

    async fn video(
        &self,
        owner: UserId,
        title: &str,
        tags: &[&str],
        category: &str,
        visibility: Visibility,
    ) -> VideoId {
        support::ready_video(&self.store, owner, title, tags, category, visibility).await
    }

    async fn events(&self, token: Option<&str>, anon: &str, events: &[(&str, &VideoId, Value)]) {
        let now = now_millis();
        let batch: Vec<Value> = events
            .iter()
            .map(|(kind, video, props)| {
                json!({
                    "event_id": uuid(),
                    "type": kind,
                    "anonymous_id": anon,
                    "session_id": "s-1",
                    "video_id": video.as_str(),
                    "position_s": if *kind == "skip" { 1.0 } else { 30.0 },
                    "properties": props,
                    "occurred_at": now,
                    "sent_at": now,
                })
            })
            .collect();
        let reply = self
            .call(
                "POST",
                "/api/v1/events",
                token,
                Some(json!({ "events": batch })),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
    }
}

fn uuid() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["video"]["id"].as_str().unwrap().to_owned())
        .collect()
}

fn categories(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["video"]["category"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls until `check` holds, at most `deadline`; how long it took.
async fn within<F, Fut>(deadline: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_feed_follows_events_within_a_second_and_respects_refusals() {
    for engine in ENGINES {
        eprintln!("engine: {engine:?}");
        let mut h = Harness::new(engine).await;
        let mut nba = Vec::new();
        let mut anime = Vec::new();
        for i in 0..3 {
            let creator = h
                .store
                .create_user(&format!("creator{i}"), false)
                .await
                .unwrap();
            for j in 0..4 {
                nba.push(
                    h.video(
                        creator.id,
                        &format!("NBA game {i}{j}"),
                        &["nba", "basketball"],
                        "sports",
                        Visibility::Public,
                    )
                    .await,
                );
                anime.push(
                    h.video(
                        creator.id,
                        &format!("Mecha episode {i}{j}"),
                        &["anime", "mecha"],
                        "anime",
                        Visibility::Public,
                    )
                    .await,
                );
            }
        }
        let owner = h.store.create_user("owner", false).await.unwrap();
        let private = h
            .video(
                owner.id,
                "Private NBA tape",
                &["nba"],
                "sports",
                Visibility::Private,
            )
            .await;
        h.start();

        // A new viewer: a cold start, public videos only, a prefetch hint field per item.
        let first = h
            .get("/api/v1/feed?limit=10&anonymous_id=dev-1", None)
            .await;
        assert_eq!(first["cold_start"], json!(true));
        assert_eq!(ids(&first).len(), 10);
        assert!(!ids(&first).contains(&private.to_string()));
        assert!(
            first["items"][0].get("prefetch").is_some() && first["items"][0]["source"].is_string()
        );
        let cursor = first["next_cursor"].as_str().unwrap().to_owned();

        // Likes and full watches of NBA videos: the next page turns to NBA within a second.
        let liked: Vec<(&str, &VideoId, Value)> = nba[..2]
            .iter()
            .flat_map(|v| {
                [
                    ("like", v, json!({})),
                    ("heartbeat", v, json!({"from_s": 0.0, "to_s": 30.0})),
                ]
            })
            .collect();
        h.events(None, "dev-1", &liked).await;
        // (Every page asked for with the cursor is a page served: poll without it, then take
        // the next page once.)
        let started = Instant::now();
        loop {
            let folded = h
                .state
                .recommender
                .profile(spool_recommend::Asker {
                    user: None,
                    anonymous_id: Some("dev-1"),
                })
                .await
                .is_some_and(|p| p.interactions >= 4);
            if folded {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "the events were not folded within 1 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let page = h
            .get(
                &format!("/api/v1/feed?limit=10&anonymous_id=dev-1&cursor={cursor}"),
                None,
            )
            .await;
        let sports = |p: &Value| categories(p).iter().filter(|c| *c == "sports").count();
        // Six of ten at most for one tag (diversity), two of ten exploration.
        assert!(
            sports(&page) >= 5
                && page["items"].as_array().unwrap().iter().any(|i| {
                    ["interest", "creator", "cowatch"].contains(&i["source"].as_str().unwrap())
                }),
            "the next page did not turn to what was liked: {:?}",
            categories(&page)
        );
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "{took:?}");
        eprintln!("  the feed turned within {took:?}: {:?}", categories(&page));
        assert!(
            ids(&page).iter().all(|id| !ids(&first).contains(id)),
            "a page repeated the last"
        );

        // Early skips of anime: anime drops further.
        let skips: Vec<(&str, &VideoId, Value)> =
            anime[..3].iter().map(|v| ("skip", v, json!({}))).collect();
        h.events(None, "dev-1", &skips).await;
        within(
            Duration::from_secs(1),
            "the profile to hear the skips",
            || async {
                let p = h
                    .state
                    .recommender
                    .profile(spool_recommend::Asker {
                        user: None,
                        anonymous_id: Some("dev-1"),
                    })
                    .await;
                p.is_some_and(|p| p.interest("c:anime", now_millis()) < 0.0)
            },
        )
        .await;

        // Not interested, then hide a creator: neither comes back.
        let refused = nba[2].clone();
        let r = h
            .call(
                "POST",
                &format!("/api/v1/videos/{refused}/not-interested"),
                None,
                Some(json!({"anonymous_id": "dev-1"})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::NO_CONTENT,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let hidden = nba[4].clone();
        let r = h
            .call(
                "POST",
                &format!("/api/v1/videos/{hidden}/hide-creator"),
                None,
                Some(json!({"anonymous_id": "dev-1"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        within(
            Duration::from_secs(1),
            "refusals to filter the feed",
            || async {
                let page = h
                    .get("/api/v1/feed?limit=50&anonymous_id=dev-1", None)
                    .await;
                let ids = ids(&page);
                !ids.contains(&refused.to_string())
                    && page["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|i| i["video"]["owner"] != json!("creator1"))
            },
        )
        .await;
        // Refusals need someone to refuse for, and a video they may see.
        let r = h
            .call(
                "POST",
                &format!("/api/v1/videos/{refused}/not-interested"),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = h
            .call(
                "POST",
                &format!("/api/v1/videos/{private}/not-interested"),
                None,
                Some(json!({"anonymous_id": "dev-1"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = h
            .call("GET", "/api/v1/feed?cursor=not-a-cursor", None, None)
            .await;
        assert_eq!(
            (r.status, r.json()["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("invalid_cursor"))
        );
        let r = h
            .call("GET", "/api/v1/feed?anonymous_id=bad%20id", None, None)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);

        // Signing in takes the device's profile along.
        let viewer = h.store.create_user("viewer", false).await.unwrap();
        let token = h.store.create_token(viewer.id).await.unwrap();
        h.events(Some(&token), "dev-1", &[("play", &nba[5], json!({}))])
            .await;
        within(
            Duration::from_secs(1),
            "the anonymous profile to merge",
            || async {
                let p = h
                    .state
                    .recommender
                    .profile(spool_recommend::Asker {
                        user: Some("viewer"),
                        anonymous_id: None,
                    })
                    .await;
                p.is_some_and(|p| {
                    p.not_interested.contains(&refused) && p.hidden_creators.contains("creator1")
                })
            },
        )
        .await;
        let signed_in = h.get("/api/v1/feed?limit=50", Some(&token)).await;
        assert_eq!(signed_in["cold_start"], json!(false));
        assert!(!ids(&signed_in).contains(&refused.to_string()));

        // Related: co-watched and same-tag videos first, never itself or a private one.
        let related = h
            .get(&format!("/api/v1/videos/{}/related", nba[0]), None)
            .await;
        let related: Vec<&str> = related["videos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap())
            .collect();
        assert!(!related.contains(&nba[0].as_str()) && !related.contains(&private.as_str()));
        assert!(
            related[..3]
                .iter()
                .all(|id| nba.iter().any(|v| v.as_str() == *id)),
            "{related:?}"
        );

        // A restart resumes from the checkpoint: the profile is still there.
        h.stop().await;
        let checkpoint = h.state.tracking.dir().join("discovery.json");
        assert!(
            checkpoint.exists(),
            "no checkpoint at {}",
            checkpoint.display()
        );
        let again = spool_recommend::Recommender::new(
            h.store.clone(),
            spool_hub::Hub::local(),
            Default::default(),
        );
        let stop = CancellationToken::new();
        let runner = ProjectionRunner::new(
            again.projection(),
            h.state.tracking.shared_log().clone(),
            h.state.tracking.dir(),
            again.state().clone(),
        );
        let task = tokio::spawn(runner.run(stop.clone()));
        within(Duration::from_secs(5), "the restored profile", || async {
            again
                .profile(spool_recommend::Asker {
                    user: Some("viewer"),
                    anonymous_id: None,
                })
                .await
                .is_some_and(|p| p.not_interested.contains(&refused))
        })
        .await;
        stop.cancel();
        task.await.unwrap();
    }
}

#[tokio::test]
async fn search_in_chinese_and_english_for_those_who_may_see() {
    for engine in ENGINES {
        eprintln!("engine: {engine:?}");
        let mut h = Harness::new(engine).await;
        let ann = h.store.create_user("ann", false).await.unwrap();
        let bob = h.store.create_user("bob", false).await.unwrap();
        let ann_token = h.store.create_token(ann.id).await.unwrap();
        let bob_token = h.store.create_token(bob.id).await.unwrap();
        let cn = h
            .video(
                ann.id,
                "篮球比赛精彩集锦",
                &["篮球"],
                "sports",
                Visibility::Public,
            )
            .await;
        let en = h
            .video(
                bob.id,
                "Cooking pasta at home",
                &["food"],
                "food",
                Visibility::Public,
            )
            .await;
        let private = h
            .video(
                ann.id,
                "秘密 cooking diary",
                &[],
                "food",
                Visibility::Private,
            )
            .await;
        let unlisted = h
            .video(
                ann.id,
                "Unlisted cooking notes",
                &[],
                "food",
                Visibility::Unlisted,
            )
            .await;
        h.start();
        let found = |v: &Value| -> Vec<String> {
            v["videos"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_owned())
                .collect()
        };
        // The index catches up with the catalogue when it starts.
        within(
            Duration::from_secs(10),
            "the index to hold the catalogue",
            || async {
                found(&h.get("/api/v1/search?q=%E7%AF%AE%E7%90%83", None).await)
                    .contains(&cn.to_string())
            },
        )
        .await;
        // A word inside the Chinese title, a word, a typo, a channel name.
        for (q, expect) in [("比赛", &cn), ("pasta", &en), ("cookng", &en), ("bob", &en)] {
            let page = h
                .get(&format!("/api/v1/search?q={}", urlencode(q)), None)
                .await;
            assert_eq!(
                found(&page).first(),
                Some(&expect.to_string()),
                "{q}: {page}"
            );
        }
        // Private and unlisted: their owner finds them, nobody else does.
        for (token, sees) in [
            (None, false),
            (Some(bob_token.as_str()), false),
            (Some(ann_token.as_str()), true),
        ] {
            let page = h.get("/api/v1/search?q=cooking", token).await;
            let ids = found(&page);
            assert_eq!(
                ids.contains(&private.to_string()),
                sees,
                "{token:?}: {ids:?}"
            );
            assert_eq!(
                ids.contains(&unlisted.to_string()),
                sees,
                "{token:?}: {ids:?}"
            );
            let suggestions = h.get("/api/v1/search/suggest?q=%E7%A7%98", token).await;
            assert_eq!(
                suggestions["suggestions"].as_array().unwrap().len(),
                usize::from(sees),
                "{suggestions}"
            );
        }
        // Filters.
        let page = h
            .get(
                "/api/v1/search?q=cooking&category=food&uploaded=day&duration=short",
                None,
            )
            .await;
        assert_eq!(found(&page), vec![en.to_string()]);
        let page = h.get("/api/v1/search?q=cooking&duration=long", None).await;
        assert!(found(&page).is_empty());
        // A change reaches the index: made private, it stops matching for others.
        let r = h
            .call(
                "PATCH",
                &format!("/api/v1/videos/{en}"),
                Some(&bob_token),
                Some(json!({"visibility": "private"})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        within(
            Duration::from_secs(2),
            "the change to reach the index",
            || async {
                !found(&h.get("/api/v1/search?q=pasta", None).await).contains(&en.to_string())
            },
        )
        .await;
        assert!(
            found(&h.get("/api/v1/search?q=pasta", Some(&bob_token)).await)
                .contains(&en.to_string())
        );
        // Refusals.
        for bad in [
            "/api/v1/search",
            "/api/v1/search?q=",
            "/api/v1/search?q=x&duration=forever",
            "/api/v1/search?q=x&uploaded=decade",
            "/api/v1/search/suggest",
        ] {
            let r = h.call("GET", bad, None, None).await;
            assert_eq!(
                (r.status, r.json()["error"]["code"].clone()),
                (StatusCode::BAD_REQUEST, json!("invalid_query")),
                "{bad}"
            );
        }
        let long = "字".repeat(201);
        let r = h
            .call(
                "GET",
                &format!("/api/v1/search?q={}", urlencode(&long)),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        h.stop().await;
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
