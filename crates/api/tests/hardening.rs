//! What a hostile client tried (issue 12), through the router: locking someone else out of
//! sign-in, non-canonical signed-URL expiries, links built from a forged `Host`, reading
//! `/metrics` anonymously, API JSON without `Cache-Control`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{Request, StatusCode};
use serde_json::json;
use spool_media::Published;
use spool_metadata::testing::{self, Engine};
use spool_model::{UserId, VideoId, Visibility};
use support::{Reply, TestState, rendition};
use tower::ServiceExt;

mod support;

async fn send(app: &Router, request: Request<Body>) -> Reply {
    Reply::read(app.clone().oneshot(request).await.unwrap()).await
}

fn from(address: &str, mut request: Request<Body>) -> Request<Body> {
    let peer: SocketAddr = format!("{address}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

fn login(name: &str, password: &str) -> Request<Body> {
    Request::post("/api/v1/auth/login")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({ "name": name, "password": password }).to_string(),
        ))
        .unwrap()
}

#[tokio::test]
async fn wrong_passwords_from_one_address_do_not_lock_the_owner_out_from_another() {
    let t = support::test_state(Engine::Sqlite, |c| c.web.max_failed_logins = 5).await;
    let app = t.app();
    let signup = send(
        &app,
        from(
            "127.0.0.3",
            Request::post("/api/v1/auth/signup")
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({ "name": "alice", "password": "correct horse battery" }).to_string(),
                ))
                .unwrap(),
        ),
    )
    .await;
    assert_eq!(signup.status, StatusCode::CREATED);

    // The attacker at 127.0.0.2 guesses until refused.
    let mut refused = None;
    for attempt in 0..8 {
        let r = send(&app, from("127.0.0.2", login("alice", "guess guess guess"))).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(attempt);
            break;
        }
        assert_eq!(r.code(), "wrong_credentials");
    }
    assert_eq!(
        refused,
        Some(5),
        "the guesser is slowed down after 5 failures"
    );
    // Even the right password is refused from the attacker's address…
    let r = send(
        &app,
        from("127.0.0.2", login("alice", "correct horse battery")),
    )
    .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // …but the owner, from their own address, signs in at once.
    let r = send(
        &app,
        from("127.0.0.3", login("alice", "correct horse battery")),
    )
    .await;
    r.assert_status(StatusCode::OK, "the owner signs in");

    // One address trying many names is throttled by address too.
    let mut refused = false;
    for n in 0..25 {
        let r = send(
            &app,
            from("127.0.0.4", login(&format!("user{n}"), "guess guess guess")),
        )
        .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            refused = true;
            break;
        }
    }
    assert!(refused, "an address guessing across names is throttled");
    let r = send(
        &app,
        from("127.0.0.3", login("alice", "correct horse battery")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

/// A fresh state (`configure`d), its router, and a user ann with her API token.
async fn with_ann(
    configure: impl FnOnce(&mut spool_config::Config),
) -> (TestState, Router, spool_metadata::User, String) {
    let t = support::test_state(Engine::Sqlite, configure).await;
    let app = t.app();
    let (ann, token) = t.user("ann", false).await;
    (t, app, ann, token)
}

/// A ready video of `owner` with published media (no files behind it; master playlists are
/// rendered from the row).
async fn ready_video(t: &TestState, owner: UserId, visibility: Visibility, seed: &str) -> VideoId {
    let title = format!("Video {seed}");
    let upload = testing::uploaded(&t.store, owner, &title, visibility, seed.as_bytes()).await;
    let published = Published {
        generation: "g1".into(),
        renditions: vec![rendition("360p", 640, 360, 900_000)],
        audio: None,
        complete: true,
        storyboard: false,
        ladder_key: None,
        dash: true,
    };
    assert!(
        t.store
            .publish_media(&upload.video_id, &published.to_json(), 100)
            .await
            .unwrap()
    );
    upload.video_id
}

fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut r = Request::get(path);
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    r.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn signed_urls_accept_only_the_canonical_expiry() {
    let (t, app, owner, token) = with_ann(|_| {}).await;
    let id = ready_video(&t, owner.id, Visibility::Private, "secret").await;
    let v = send(&app, get(&format!("/api/v1/videos/{id}"), Some(&token))).await;
    let hls = v.json()["hls_url"].as_str().unwrap().to_owned();
    let path = hls.strip_prefix("http://spool.test").unwrap().to_owned();
    // /media/s/<expires>/<signature>/<id>/master.m3u8
    let parts: Vec<&str> = path.split('/').collect();
    let (expires, signature) = (parts[3], parts[4]);
    let with = |e: &str| format!("/media/s/{e}/{signature}/{id}/master.m3u8");
    let ok = send(&app, get(&with(expires), None)).await;
    assert_eq!(ok.status, StatusCode::OK, "{path}");
    for spelling in [
        format!("0{expires}"),
        format!("00{expires}"),
        format!("+{expires}"),
        format!("%2B{expires}"),
        format!("{expires}%20"),
    ] {
        let r = send(&app, get(&with(&spelling), None)).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::FORBIDDEN, "invalid_signature"),
            "{spelling}"
        );
    }
}

#[tokio::test]
async fn links_use_the_configured_public_url_whatever_the_host_header_says() {
    let (t, app, owner, token) =
        with_ann(|c| c.server.public_url = "https://video.example.com/".into()).await;
    let forged = "evil.example";

    let created = send(
        &app,
        Request::post("/api/v1/uploads")
            .header("host", forged)
            .header("tus-resumable", "1.0.0")
            .header("authorization", format!("Bearer {token}"))
            .header("upload-length", "10")
            .header(
                "upload-metadata",
                format!("blake3 {}", base64_of(&"ab".repeat(32))),
            )
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let location = created.header("location");
    assert!(
        location.starts_with("https://video.example.com/api/v1/uploads/"),
        "{location}"
    );
    let found = send(
        &app,
        Request::get(format!("/api/v1/uploads?blake3={}", "ab".repeat(32)))
            .header("host", forged)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let url = found.json()["uploads"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(url, location);

    for visibility in [Visibility::Public, Visibility::Private] {
        let id = ready_video(&t, owner.id, visibility, &format!("{visibility:?}")).await;
        let v = send(
            &app,
            Request::get(format!("/api/v1/videos/{id}"))
                .header("host", forged)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let json = v.json();
        for key in ["hls_url", "dash_url", "cover_url"] {
            if let Some(link) = json[key].as_str() {
                assert!(
                    link.starts_with("https://video.example.com/media/"),
                    "{key}: {link}"
                );
                assert!(!link.contains(forged), "{key}: {link}");
            }
        }
    }
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn metrics_are_for_admins_on_the_main_listener_and_for_anyone_on_their_own() {
    let mut t = support::test_state(Engine::Sqlite, |_| {}).await;
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    assert!(
        t.state.set_metrics(recorder.handle()),
        "the state is not shared yet"
    );
    let app = t.app();
    let (_, user_token) = t.user("ann", false).await;
    let (_, admin_token) = t.user("root", true).await;

    let anonymous = send(&app, get("/metrics", None)).await;
    assert_eq!(
        (anonymous.status, anonymous.code().as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let user = send(&app, get("/metrics", Some(&user_token))).await;
    assert_eq!(
        (user.status, user.code().as_str()),
        (StatusCode::FORBIDDEN, "not_admin")
    );
    let admin = send(&app, get("/metrics", Some(&admin_token))).await;
    assert_eq!(admin.status, StatusCode::OK);
    assert!(admin.header("content-type").starts_with("text/plain"));

    let metrics_only = spool_api::metrics_router(t.state.clone());
    let open = send(&metrics_only, get("/metrics", None)).await;
    assert_eq!(open.status, StatusCode::OK);
    let other = send(&metrics_only, get("/api/v1/videos", None)).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "only metrics there");
}

#[tokio::test]
async fn api_json_is_private_and_not_stored_unless_it_says_otherwise() {
    let (t, app, owner, token) = with_ann(|_| {}).await;
    let private = ready_video(&t, owner.id, Visibility::Private, "p").await;
    let public = ready_video(&t, owner.id, Visibility::Public, "q").await;

    for (path, token) in [
        (format!("/api/v1/videos/{private}"), Some(token.as_str())),
        (format!("/api/v1/videos/{public}"), None),
        ("/api/v1/me/videos".to_owned(), Some(token.as_str())),
        ("/api/v1/videos".to_owned(), None),
        ("/api/v1/auth/session".to_owned(), None),
        (format!("/api/v1/videos/{private}"), None), // 404
    ] {
        let r = send(&app, get(&path, token)).await;
        let cache = r.header("cache-control");
        assert!(
            cache.contains("no-store") || cache.contains("private"),
            "{path}: Cache-Control `{cache}`"
        );
    }
    let r = send(
        &app,
        get(&format!("/api/v1/videos/{private}"), Some(&token)),
    )
    .await;
    assert_eq!(r.header("cache-control"), "private, no-store");
    // Media keep their own caching (immutable segments, short-lived playlists).
    let r = send(&app, get(&format!("/media/{public}/master.m3u8"), None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.header("cache-control").contains("no-store"));
}
