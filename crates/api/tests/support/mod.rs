//! Shared by the router tests: the app state on a test database and a temp data dir, and the
//! answers as tests read them. Every test binary includes this with `mod support;`; not every
//! binary uses every helper.
#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use spool_api::{AppState, Services};
use spool_config::Config;
use spool_media::manifest::Rendition;
use spool_metadata::Store;
use spool_metadata::testing::{Engine, TestDb};
use spool_storage::LocalStore;
use spool_upload::UploadService;
use tokio_util::sync::CancellationToken;

/// An H.264 rendition at 30 fps whose average bandwidth is three quarters of its peak.
pub fn rendition(name: &str, width: u32, height: u32, bandwidth: u64) -> Rendition {
    Rendition {
        name: name.into(),
        width,
        height,
        frame_rate: 30.0,
        bandwidth,
        average_bandwidth: bandwidth * 3 / 4,
        codecs: "avc1.64001f".into(),
    }
}

/// An `AppState` on a fresh test database, with its data dir in `data`; `configure` adjusts
/// the config first (the data dir and a public URL are already set).
pub struct TestState {
    pub state: AppState,
    pub store: Store,
    pub data: tempfile::TempDir,
    pub db: TestDb,
}

impl TestState {
    /// The router over this state.
    pub fn app(&self) -> axum::Router {
        spool_api::router(self.state.clone())
    }

    /// A new user and their API token.
    pub async fn user(&self, name: &str, admin: bool) -> (spool_metadata::User, String) {
        let user = self.store.create_user(name, admin).await.unwrap();
        let token = self.store.create_token(user.id).await.unwrap();
        (user, token)
    }
}

pub async fn test_state(engine: Engine, configure: impl FnOnce(&mut Config)) -> TestState {
    let (db, store) = TestDb::store(engine).await;
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.data_dir = data.path().to_owned();
    config.server.public_url = "http://spool.test".into();
    configure(&mut config);
    let blobs = LocalStore::open(data.path()).unwrap();
    let uploads = UploadService::new(store.clone(), blobs.clone(), config.upload.clone());
    // Composed as the binary composes it (crates/spool/src/main.rs, `serve`).
    let hub = spool_hub::Hub::local();
    let catalog = spool_catalog::Catalog::new(
        store.clone(),
        hub.clone(),
        blobs,
        spool_storage::MediaLayout::new(data.path()),
    );
    let tracking = Arc::new(spool_events::Tracking::new(
        spool_events::TrackingConfig::from_settings(data.path().join("events"), &config.events),
        catalog.event_access(),
    ));
    let live = spool_live::Live::new(
        store.clone(),
        spool_storage::MediaLayout::new(data.path()),
        spool_media::process::ProcessRunner::new(&config.media),
        spool_live::LiveSettings::from_config(&config.live, None),
    );
    let recommender = spool_recommend::Recommender::new(
        store.clone(),
        hub.clone(),
        spool_recommend::RecommendConfig::default(),
    );
    let search =
        spool_search::Search::open(data.path().join("search"), store.clone(), hub.clone()).unwrap();
    let interact = spool_interact::Interact::new(
        store.clone(),
        catalog.clone(),
        hub.clone(),
        Some(tracking.clone()),
        config.interact.clone(),
    );
    tokio::spawn(interact.clone().run(CancellationToken::new()));
    let gifts = spool_gifts::Gifts::new(store.clone(), catalog.clone(), live.clone());
    let comments = spool_interact::Comments::new(
        store.clone(),
        catalog.clone(),
        hub.clone(),
        tracking.clone(),
    )
    .with_keywords(interact.keywords());
    let follows = spool_interact::Follows::new(store.clone(), tracking.clone());
    let moderation = spool_moderation::Moderation::load(
        store.clone(),
        catalog.clone(),
        config.moderation.clone(),
        &config.server.data_dir,
    )
    .await
    .unwrap();
    let gate = moderation.digest_gate();
    let uploads = uploads.with_content_gate(Arc::new(move |hash| gate.refuses(hash)));
    let services = Services {
        store: store.clone(),
        uploads,
        catalog,
        tracking,
        live,
        recommender,
        search,
        hub,
        interact,
        gifts,
        comments,
        follows,
        moderation,
    };
    let state = AppState::new(services, Arc::new(config), CancellationToken::new(), None).unwrap();
    TestState {
        state,
        store,
        data,
        db,
    }
}

/// An answer, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub async fn read(response: Response<Body>) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Self {
            status,
            headers,
            body: body.to_vec(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts the answer's status, naming `context` and the body when it differs.
    pub fn assert_status(&self, status: StatusCode, context: impl std::fmt::Display) {
        assert_eq!(
            self.status,
            status,
            "{context} {}",
            String::from_utf8_lossy(&self.body)
        );
    }

    /// Error answers always carry `{ "error": { "code", "message" } }`.
    pub fn error(&self) -> (StatusCode, String, String) {
        let json = self.json();
        let message = json["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{json}");
        (
            self.status,
            json["error"]["code"].as_str().unwrap().to_owned(),
            message.to_owned(),
        )
    }

    /// The error code (asserting there is a message too).
    pub fn code(&self) -> String {
        self.error().1
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().unwrap_or(""))
    }
}

/// A ready video of `owner`, made through the store (no media behind it).
/// Sends one request to `app` (a bearer `token`, a JSON `body`), from a fixed peer address
/// (the tracking endpoints read it), and reads the whole answer.
#[allow(dead_code)] // not every test file calls it
pub async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    use tower::ServiceExt;
    let mut request = http::Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some(json) => {
            request = request.header("content-type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let mut request = request.body(body).unwrap();
    let peer: std::net::SocketAddr = "192.0.2.9:5000".parse().unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    Reply::read(app.clone().oneshot(request).await.unwrap()).await
}

pub async fn ready_video(
    store: &spool_metadata::Store,
    owner: spool_model::UserId,
    title: &str,
    tags: &[&str],
    category: &str,
    visibility: spool_model::Visibility,
) -> spool_model::VideoId {
    let upload =
        spool_metadata::testing::uploaded(store, owner, title, visibility, title.as_bytes()).await;
    let update = spool_metadata::VideoUpdate {
        tags: Some(tags.iter().map(|t| (*t).to_owned()).collect()),
        category: Some(category.to_owned()),
        ..Default::default()
    };
    store.update_video(&upload.video_id, &update).await.unwrap();
    store
        .publish_media(&upload.video_id, "{}", 100)
        .await
        .unwrap();
    upload.video_id
}
