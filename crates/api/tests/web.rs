//! The browser side of the API through the router (no socket): sign-up, sign-in and its
//! throttle, session cookies with CSRF protection, pages and assets with their security
//! headers, likes, channels, related videos, retrying failed processing and tracking batches
//! (`POST /api/v1/events`). Accounts run on SQLite and MariaDB.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use spool_api::AppState;
use spool_metadata::Store;
use spool_metadata::testing::{ENGINES, Engine, TestDb};
use spool_model::{UserId, VideoId, Visibility, now_millis};
use support::Reply;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

mod support;

struct Harness {
    app: Router,
    store: Store,
    state: AppState,
    tracking: Arc<spool_api::events::tracking::Tracking>,
    web_dir: tempfile::TempDir,
    data: tempfile::TempDir,
    _db: TestDb,
}

/// A browser's cookie jar of one: the session cookie and its CSRF token.
#[derive(Clone, Default)]
struct Browser {
    cookie: Option<String>,
    csrf: Option<String>,
}

async fn harness(engine: Engine) -> Harness {
    let web_dir = tempfile::tempdir().unwrap();
    let t = support::test_state(engine, |config| {
        config.web.dir = web_dir.path().to_owned();
        config.web.max_failed_logins = 3;
    })
    .await;
    Harness {
        tracking: t.state.tracking.clone(),
        app: spool_api::router(t.state.clone()),
        state: t.state,
        store: t.store,
        web_dir,
        data: t.data,
        _db: t.db,
    }
}

impl Harness {
    async fn send(&self, mut request: Request<Body>) -> Reply {
        let peer: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        Reply::read(self.app.clone().oneshot(request).await.unwrap()).await
    }

    /// A request as `browser` sends it: with its cookie, and its CSRF token when `csrf`.
    async fn call(
        &self,
        browser: &Browser,
        method: &str,
        path: &str,
        body: Option<Value>,
        csrf: bool,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(cookie) = &browser.cookie {
            request = request.header("cookie", format!("theme=dark; {cookie}"));
        }
        if let (true, Some(token)) = (csrf, &browser.csrf) {
            request = request.header("x-csrf-token", token);
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    /// Signs up or in; on success the browser holds the session.
    async fn auth(&self, browser: &mut Browser, action: &str, name: &str, password: &str) -> Reply {
        let reply = self
            .call(
                browser,
                "POST",
                &format!("/api/v1/auth/{action}"),
                Some(json!({ "name": name, "password": password })),
                false,
            )
            .await;
        if reply.status.is_success() {
            let set_cookie = reply.header("set-cookie").to_owned();
            assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
            assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
            assert!(set_cookie.contains("Secure"), "{set_cookie}");
            browser.cookie = Some(set_cookie.split(';').next().unwrap().to_owned());
            browser.csrf = Some(reply.json()["csrf_token"].as_str().unwrap().to_owned());
        }
        reply
    }

    /// A ready public video of `owner` with `tags`, made through the store.
    async fn ready_video(&self, owner: UserId, seed: &str, tags: &[&str]) -> VideoId {
        support::ready_video(&self.store, owner, seed, tags, "", Visibility::Public).await
    }
}

#[tokio::test]
async fn sign_up_sign_in_and_sessions_with_csrf() {
    for engine in ENGINES {
        eprintln!("engine: {engine:?}");
        let h = harness(engine).await;
        let mut alice = Browser::default();

        // Sign-up refuses weak passwords and bad names with reasons, then taken names.
        for (name, password, status, code) in [
            ("alice", "short", 422, "weak_password"),
            ("alice", "password123", 422, "weak_password"),
            ("alice", "alice-rocks-99", 422, "weak_password"),
            (
                "<b>alice</b>",
                "correct horse battery",
                422,
                "invalid_input",
            ),
        ] {
            let reply = h.auth(&mut alice, "signup", name, password).await;
            assert_eq!((reply.status.as_u16(), reply.code()), (status, code.into()));
        }
        let reply = h
            .auth(&mut alice, "signup", "alice", "correct horse battery")
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
        assert_eq!(reply.json()["user"]["name"], "alice");
        let mut again = Browser::default();
        let taken = h
            .auth(&mut again, "signup", "alice", "another good phrase")
            .await;
        assert_eq!(
            (taken.status, taken.code()),
            (StatusCode::CONFLICT, "already_exists".into())
        );

        // The session cookie identifies the browser; the CSRF token guards changes.
        let session = h
            .call(&alice, "GET", "/api/v1/auth/session", None, false)
            .await;
        assert_eq!(session.json()["user"]["name"], "alice");
        assert_eq!(session.json()["csrf_token"].as_str(), alice.csrf.as_deref());
        let mine = h
            .call(&alice, "GET", "/api/v1/me/videos", None, false)
            .await;
        assert_eq!(mine.status, StatusCode::OK);
        let owner = h.store.user_by_name("alice").await.unwrap().unwrap();
        let id = h.ready_video(owner.id, "alice clip", &[]).await;
        let path = format!("/api/v1/videos/{id}");
        let edit = json!({ "title": "<script>alert(1)</script>" });
        let forged = h
            .call(&alice, "PATCH", &path, Some(edit.clone()), false)
            .await;
        assert_eq!(
            (forged.status, forged.code()),
            (StatusCode::FORBIDDEN, "csrf_failed".into())
        );
        let wrong = Browser {
            csrf: Some("not-the-token".into()),
            ..alice.clone()
        };
        let forged = h
            .call(&wrong, "PATCH", &path, Some(edit.clone()), true)
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        let edited = h.call(&alice, "PATCH", &path, Some(edit), true).await;
        assert_eq!(edited.status, StatusCode::OK);
        assert_eq!(
            edited.json()["title"],
            "<script>alert(1)</script>",
            "stored as text"
        );

        // Sign-in: a wrong password and an unknown user look the same.
        let mut bob = Browser::default();
        let wrong = h.auth(&mut bob, "login", "alice", "wrong password!").await;
        let unknown = h.auth(&mut bob, "login", "nobody", "wrong password!").await;
        for reply in [&wrong, &unknown] {
            assert_eq!(
                (reply.status, reply.code()),
                (StatusCode::UNAUTHORIZED, "wrong_credentials".into())
            );
        }
        assert_eq!(wrong.json(), unknown.json());
        let ok = h
            .auth(&mut bob, "login", "alice", "correct horse battery")
            .await;
        assert_eq!(ok.status, StatusCode::OK);
        assert_ne!(bob.cookie, alice.cookie, "a new session per sign-in");

        // Repeated failures are refused for a while, even with the right password.
        for _ in 0..3 {
            h.auth(
                &mut Browser::default(),
                "login",
                "alice",
                "guess guess guess",
            )
            .await;
        }
        let locked = h
            .auth(
                &mut Browser::default(),
                "login",
                "alice",
                "correct horse battery",
            )
            .await;
        assert_eq!(
            (locked.status, locked.code()),
            (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts".into())
        );
        assert!(locked.header("retry-after").parse::<u64>().unwrap() >= 1);

        // A sign-in posted from another site is refused.
        let cross = h
            .send(
                Request::post("/api/v1/auth/login")
                    .header("origin", "https://evil.example")
                    .body(Body::from(
                        r#"{"name":"alice","password":"correct horse battery"}"#,
                    ))
                    .unwrap(),
            )
            .await;
        assert_eq!(cross.code(), "csrf_failed");

        // Signing out needs the token, ends the session and clears the cookie.
        let refused = h
            .call(&alice, "POST", "/api/v1/auth/logout", None, false)
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let out = h
            .call(&alice, "POST", "/api/v1/auth/logout", None, true)
            .await;
        assert_eq!(out.status, StatusCode::NO_CONTENT);
        assert!(out.header("set-cookie").contains("Max-Age=0"));
        let gone = h
            .call(&alice, "GET", "/api/v1/auth/session", None, false)
            .await;
        assert_eq!(gone.status, StatusCode::OK);
        assert_eq!(gone.json(), json!({"user": null, "csrf_token": null}));
        // A stale cookie reads public pages anonymously, and cannot change anything.
        let public = h.call(&alice, "GET", "/api/v1/videos", None, false).await;
        assert_eq!(public.status, StatusCode::OK);
        let denied = h
            .call(&alice, "GET", "/api/v1/me/videos", None, false)
            .await;
        assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
        // Bob's session still works and API tokens need no CSRF token.
        assert_eq!(
            h.call(&bob, "GET", "/api/v1/me/videos", None, false)
                .await
                .status,
            StatusCode::OK
        );
        let token = h.store.create_token(owner.id).await.unwrap();
        let by_token = h
            .send(
                Request::patch(&path)
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::from(r#"{"title":"by token"}"#))
                    .unwrap(),
            )
            .await;
        assert_eq!(by_token.status, StatusCode::OK);
        h.store.close().await;
    }
}

#[tokio::test]
async fn pages_and_assets_carry_security_headers() {
    let h = harness(Engine::Sqlite).await;
    // Before the app is built the pages say how to build it.
    let missing = h.call(&Browser::default(), "GET", "/", None, false).await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "web_not_built".into())
    );

    let dir = h.web_dir.path();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><script type=module src=/assets/app-1.js></script>",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("assets/app-1.js"), "console.log(1)").unwrap();
    for page in [
        "/",
        "/watch/abcdefghijk",
        "/upload",
        "/studio",
        "/feed",
        "/c/alice",
        "/signin",
        "/signup",
        "/admin/moderation",
        "/admin/moderation/abcdefghijk",
    ] {
        let reply = h.call(&Browser::default(), "GET", page, None, false).await;
        assert_eq!(reply.status, StatusCode::OK, "{page}");
        assert!(reply.header("content-type").starts_with("text/html"));
        let csp = reply.header("content-security-policy");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(reply.header("x-content-type-options"), "nosniff");
        assert_eq!(reply.header("cache-control"), "no-cache");
    }
    let asset = h
        .call(&Browser::default(), "GET", "/assets/app-1.js", None, false)
        .await;
    assert_eq!(asset.status, StatusCode::OK);
    assert_eq!(asset.body, b"console.log(1)");
    assert!(asset.header("cache-control").contains("immutable"));
    assert!(asset.header("content-type").contains("javascript"));
    // A name longer than the file system allows is a missing asset, not a 500 (schemathesis).
    let too_long = format!("/assets/{}.js", "a".repeat(300));
    let deep = format!("/assets/{}", "x/".repeat(600));
    for bad in [
        "/assets/nope.js",
        "/assets/../index.html",
        "/assets/%2e%2e/index.html",
        &too_long,
        &deep,
    ] {
        let reply = h.call(&Browser::default(), "GET", bad, None, false).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{bad}");
    }
    // Unknown paths: the app (which renders "not found") for browsers, JSON for clients.
    let request = Request::get("/no/such/page").header("accept", "text/html");
    let html = h.send(request.body(Body::empty()).unwrap()).await;
    assert_eq!(html.status, StatusCode::NOT_FOUND);
    assert!(html.header("content-type").starts_with("text/html"));
    let api = h
        .call(&Browser::default(), "GET", "/api/v1/nope", None, false)
        .await;
    assert_eq!(
        (api.status, api.code()),
        (StatusCode::NOT_FOUND, "not_found".into())
    );
}

#[tokio::test]
async fn likes_channels_related_and_retry() {
    for engine in ENGINES {
        eprintln!("engine: {engine:?}");
        let h = harness(engine).await;
        let mut fan = Browser::default();
        assert!(
            h.auth(&mut fan, "signup", "fan", "listening all day")
                .await
                .status
                .is_success()
        );
        let maker = h.store.create_user("maker", false).await.unwrap();
        let other = h.store.create_user("other", false).await.unwrap();
        let cats = h.ready_video(maker.id, "cats", &["cats", "pets"]).await;
        let more_cats = h
            .ready_video(other.id, "more cats", &["Cats", "pets"])
            .await;
        let by_maker = h.ready_video(maker.id, "maker again", &["cars"]).await;
        let unrelated = h.ready_video(other.id, "rockets", &["space"]).await;

        // Likes need a session (and its CSRF token), count once, and show on the video.
        let like = format!("/api/v1/videos/{cats}/like");
        assert_eq!(
            h.call(&Browser::default(), "PUT", &like, None, false)
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        for _ in 0..2 {
            let liked = h.call(&fan, "PUT", &like, None, true).await;
            assert_eq!(liked.json(), json!({ "likes": 1, "liked": true }));
        }
        let video = h
            .call(&fan, "GET", &format!("/api/v1/videos/{cats}"), None, false)
            .await
            .json();
        assert_eq!(
            (video["likes"].clone(), video["liked"].clone()),
            (json!(1), json!(true))
        );
        let anonymous = h
            .call(
                &Browser::default(),
                "GET",
                &format!("/api/v1/videos/{cats}"),
                None,
                false,
            )
            .await
            .json();
        assert_eq!(
            (anonymous["likes"].clone(), anonymous["liked"].clone()),
            (json!(1), Value::Null)
        );
        let unliked = h.call(&fan, "DELETE", &like, None, true).await;
        assert_eq!(unliked.json(), json!({ "likes": 0, "liked": false }));

        // Related: shared tags first, then the same channel, then the rest; never itself.
        let related = h
            .call(
                &fan,
                "GET",
                &format!("/api/v1/videos/{cats}/related"),
                None,
                false,
            )
            .await
            .json();
        let order: Vec<&str> = related["videos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            order,
            [more_cats.as_str(), by_maker.as_str(), unrelated.as_str()]
        );

        // Channels.
        let channel = h
            .call(&fan, "GET", "/api/v1/channels/maker", None, false)
            .await
            .json();
        assert_eq!(
            (channel["name"].clone(), channel["video_count"].clone()),
            (json!("maker"), json!(2))
        );
        assert_eq!(
            h.call(&fan, "GET", "/api/v1/channels/ghost", None, false)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let listed = h
            .call(&fan, "GET", "/api/v1/videos?channel=maker", None, false)
            .await
            .json();
        assert_eq!(listed["videos"].as_array().unwrap().len(), 2);
        let none = h
            .call(&fan, "GET", "/api/v1/videos?channel=ghost", None, false)
            .await
            .json();
        assert_eq!(none["videos"], json!([]));

        // Retry: only the owner, only a failed video.
        let fan_user = h.store.user_by_name("fan").await.unwrap().unwrap();
        let mine = h.ready_video(fan_user.id, "fan clip", &[]).await;
        let retry = format!("/api/v1/videos/{mine}/retry");
        let not_failed = h.call(&fan, "POST", &retry, None, true).await;
        assert_eq!(
            (not_failed.status, not_failed.code()),
            (StatusCode::CONFLICT, "not_retryable".into())
        );
        h.store.fail_video(&mine, "no video stream").await.unwrap();
        let queued = h.call(&fan, "POST", &retry, None, true).await;
        assert_eq!(queued.status, StatusCode::ACCEPTED);
        assert_eq!(queued.json()["status"], "uploaded");
        let theirs = h
            .call(
                &fan,
                "POST",
                &format!("/api/v1/videos/{cats}/retry"),
                None,
                true,
            )
            .await;
        assert_eq!(theirs.code(), "not_owner");

        // Cover candidates: none before anything is published with them.
        let candidates = h
            .call(
                &fan,
                "GET",
                &format!("/api/v1/videos/{mine}/cover/candidates"),
                None,
                false,
            )
            .await;
        assert_eq!(candidates.json(), json!({ "candidates": [] }));
        let choose = h
            .call(
                &fan,
                "POST",
                &format!("/api/v1/videos/{mine}/cover/candidates/1"),
                None,
                true,
            )
            .await;
        assert_eq!(choose.status, StatusCode::NOT_FOUND);
        h.store.close().await;
    }
}

/// Tracking events with unique ids: `types[i]` for the video, anonymous device `a-1`.
fn events(video: &VideoId, types: &[&str]) -> Vec<Value> {
    types
        .iter()
        .map(|kind| {
            let properties = match *kind {
                "heartbeat" => json!({"from_s": 0.0, "to_s": 10.0}),
                _ => json!({}),
            };
            json!({
                "event_id": format!("{:08x}-0000-4000-8000-{:012x}", rand_u32(), rand_u32()),
                "type": kind,
                "anonymous_id": "a-1",
                "session_id": "s-1",
                "video_id": video.as_str(),
                "position_s": 1.5,
                "properties": properties,
                "occurred_at": now_millis() - 1000,
                "sent_at": now_millis(),
            })
        })
        .collect()
}

fn rand_u32() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Harness {
    /// Every record in the event log, as JSON.
    async fn logged(&self) -> Vec<Value> {
        let log = self.tracking.log().await.unwrap();
        log.read(0, 100_000)
            .await
            .unwrap()
            .iter()
            .map(|r| serde_json::from_slice(&r.payload).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn tracking_batches_are_durable_deduplicated_and_attributed() {
    let h = harness(Engine::Sqlite).await;
    let anonymous = Browser::default();
    // Events are taken only for a video that exists and the sender may see (issue 12).
    let maker = h.store.create_user("maker", false).await.unwrap();
    let video = h.ready_video(maker.id, "tracked clip", &[]).await;
    let post = |browser: &Browser, body: Value, csrf: bool| {
        let browser = browser.clone();
        let h = &h;
        async move {
            h.call(&browser, "POST", "/api/v1/events", Some(body), csrf)
                .await
        }
    };

    // Anonymous viewers may send; the answer comes once the events are in the log.
    let batch = json!({ "events": events(&video, &["impression", "play", "heartbeat"]) });
    let reply = post(&anonymous, batch.clone(), false).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    assert_eq!(reply.json(), json!({"accepted": 3, "duplicates": 0}));
    let logged = h.logged().await;
    assert_eq!(logged.len(), 3);
    assert_eq!(logged[1]["type"], "play");
    assert!(logged[1].get("user").is_none());
    let age = logged[1]["received_at"].as_i64().unwrap() - logged[1]["at"].as_i64().unwrap();
    assert_eq!(
        age, 1000,
        "skew-corrected time is the device age before receipt"
    );

    // A retried batch is acknowledged but not appended twice.
    let reply = post(&anonymous, batch, false).await;
    assert_eq!(reply.json(), json!({"accepted": 0, "duplicates": 3}));
    assert_eq!(h.logged().await.len(), 3);

    // One invalid event refuses the whole batch, naming it; nothing is stored.
    let mut mixed = events(&video, &["pause", "seek"]);
    let bad_id = mixed[1]["event_id"].as_str().unwrap().to_owned();
    let reply = post(&anonymous, json!({ "events": mixed.clone() }), false).await;
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (StatusCode::BAD_REQUEST, "invalid_event")
    );
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("event 1") && message.contains(&bad_id),
        "{message}"
    );
    assert_eq!(h.logged().await.len(), 3);
    // Fixed, the same batch goes in whole.
    mixed[1]["properties"] = json!({"from_s": 30.0});
    let reply = post(&anonymous, json!({ "events": mixed }), false).await;
    assert_eq!(reply.json()["accepted"], 2);

    // Too large: 413 with the limit's code.
    let huge = json!({ "events": events(&video, &["play"]), "pad": "x".repeat(600 * 1024) });
    let reply = post(&anonymous, huge, false).await;
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large")
    );

    // Signed in: the session's user, when the CSRF token comes in the header or (sendBeacon)
    // in the body; without it the events are kept but attributed to nobody.
    let mut alice = Browser::default();
    let reply = h
        .auth(&mut alice, "signup", "alice", "correct horse battery")
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let reply = post(&alice, json!({ "events": events(&video, &["like"]) }), true).await;
    assert_eq!(reply.json()["accepted"], 1);
    let body_token = json!({
        "events": events(&video, &["share"]),
        "csrf_token": alice.csrf.clone().unwrap(),
    });
    assert_eq!(post(&alice, body_token, false).await.json()["accepted"], 1);
    let forged = json!({ "events": events(&video, &["unlike"]), "csrf_token": "guess" });
    assert_eq!(post(&alice, forged, false).await.json()["accepted"], 1);
    let logged = h.logged().await;
    let users: Vec<(&str, Option<&str>)> = logged[5..]
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["user"].as_str()))
        .collect();
    assert_eq!(
        users,
        [
            ("like", Some("alice")),
            ("share", Some("alice")),
            ("unlike", None)
        ]
    );

    // A wrong bearer token is 401, not anonymous.
    let request = Request::post("/api/v1/events")
        .header("authorization", "Bearer spool_wrong")
        .body(Body::from(
            json!({ "events": events(&video, &["play"]) }).to_string(),
        ))
        .unwrap();
    assert_eq!(h.send(request).await.status, StatusCode::UNAUTHORIZED);

    // One address flooding: the burst (2000 by default) passes, then 429 with Retry-After.
    let mut statuses = Vec::new();
    while statuses.len() < 4 && statuses.last() != Some(&StatusCode::TOO_MANY_REQUESTS) {
        let kinds = vec!["impression"; 1000];
        let reply = post(
            &anonymous,
            json!({ "events": events(&video, &kinds) }),
            false,
        )
        .await;
        statuses.push(reply.status);
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(reply.code(), "rate_limited");
            assert!(reply.header("retry-after").parse::<u64>().unwrap() >= 1);
        }
    }
    assert_eq!(statuses[0], StatusCode::OK, "{statuses:?}");
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn stats_follow_the_event_log_within_a_second() {
    let h = harness(Engine::Sqlite).await;
    let stop = CancellationToken::new();
    let aggregator = tokio::spawn(
        h.state
            .tracking
            .stats_runner(h.state.catalog.event_facts())
            .run(stop.clone()),
    );
    let (mut alice, mut bob) = (Browser::default(), Browser::default());
    h.auth(&mut alice, "signup", "alice", "correct horse battery")
        .await;
    h.auth(&mut bob, "signup", "bob", "staple battery horse")
        .await;
    let owner = h.store.user_by_name("alice").await.unwrap().unwrap();
    let video = h.ready_video(owner.id, "stats clip", &[]).await;

    // Bob watches 25 s: play, heartbeats 0-10, 10-20, 20-25 (the last on pause), then likes.
    let mut batch = events(
        &video,
        &["play", "heartbeat", "heartbeat", "heartbeat", "pause"],
    );
    for (i, (from, to)) in [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)].iter().enumerate() {
        batch[i + 1]["properties"] = json!({"from_s": from, "to_s": to});
        batch[i + 1]["position_s"] = json!(to);
    }
    batch[4]["position_s"] = json!(25.0);
    let sent = Instant::now();
    let reply = h
        .call(
            &bob,
            "POST",
            "/api/v1/events",
            Some(json!({ "events": batch })),
            true,
        )
        .await;
    assert_eq!(reply.json()["accepted"], 5);
    let path = format!("/api/v1/videos/{video}/stats");
    let stats = loop {
        let reply = h.call(&alice, "GET", &path, None, false).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
        let stats = reply.json();
        if stats["views"] == 1 || sent.elapsed() > Duration::from_secs(1) {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        sent.elapsed() <= Duration::from_secs(1),
        "stats lag: {stats}"
    );
    assert_eq!(stats["views"], 1, "{stats}");
    // The video's public count is the same tracked count.
    let public = h
        .call(
            &Browser::default(),
            "GET",
            &format!("/api/v1/videos/{video}"),
            None,
            false,
        )
        .await;
    assert_eq!(public.json()["views"], 1, "{}", public.json());
    assert_eq!(stats["unique_viewers"], 1);
    assert_eq!(stats["watch_time_s"], 25.0);
    assert_eq!(stats["avg_view_duration_s"], 25.0);
    assert_eq!(stats["likes"], 0);
    assert!(stats["events_counted"].as_u64().unwrap() >= 5);

    // Bob's history says where to resume.
    let reply = h.call(&bob, "GET", "/api/v1/me/history", None, false).await;
    let history = reply.json()["history"].clone();
    assert_eq!(history[0]["video_id"], video.as_str(), "{history}");
    assert_eq!(history[0]["position_s"], 25.0);

    // Only the owner sees the numbers.
    let reply = h.call(&bob, "GET", &path, None, false).await;
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (StatusCode::FORBIDDEN, "not_owner")
    );
    let reply = h.call(&Browser::default(), "GET", &path, None, false).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // Stopping writes the checkpoint: the numbers and the offset they cover.
    stop.cancel();
    aggregator.await.unwrap();
    let checkpoint: Value = serde_json::from_slice(
        &std::fs::read(h.data.path().join("events/aggregates.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(checkpoint["next_offset"], stats["events_counted"]);
}
