//! Shared by the interact tests: the services over a fresh store on one engine, composed as
//! the binary composes them, and videos made through the store.
#![allow(dead_code)]

use std::sync::Arc;

use spool_catalog::Catalog;
use spool_events::Tracking;
use spool_hub::Hub;
use spool_interact::{Comments, Follows};
use spool_metadata::testing::{self, Engine, TestDb};
use spool_metadata::{Store, User};
use spool_model::{VideoId, Visibility};

/// The services over a fresh database (kept alive by the handles in here).
pub struct World {
    pub store: Store,
    pub hub: Hub,
    pub tracking: Arc<Tracking>,
    pub comments: Comments,
    pub follows: Follows,
    _db: TestDb,
    _data: tempfile::TempDir,
}

impl World {
    pub async fn new(engine: Engine) -> Self {
        let (db, store) = TestDb::store(engine).await;
        let data = tempfile::tempdir().unwrap();
        let hub = Hub::local();
        let catalog = Catalog::new(
            store.clone(),
            hub.clone(),
            spool_storage::LocalStore::open(data.path()).unwrap(),
            spool_storage::MediaLayout::new(data.path()),
        );
        let tracking = Arc::new(Tracking::new(
            spool_events::TrackingConfig::from_settings(
                data.path().join("events"),
                &spool_config::Config::default().events,
            ),
            catalog.event_access(),
        ));
        let comments = Comments::new(store.clone(), catalog, hub.clone(), tracking.clone());
        let follows = Follows::new(store.clone(), tracking.clone());
        Self {
            store,
            hub,
            tracking,
            comments,
            follows,
            _db: db,
            _data: data,
        }
    }

    pub async fn user(&self, name: &str, admin: bool) -> User {
        self.store.create_user(name, admin).await.unwrap()
    }

    /// A ready video of `owner` (no media behind it).
    pub async fn video(&self, owner: &User, title: &str, visibility: Visibility) -> VideoId {
        let upload =
            testing::uploaded(&self.store, owner.id, title, visibility, title.as_bytes()).await;
        self.store
            .publish_media(&upload.video_id, "{}", 100)
            .await
            .unwrap();
        upload.video_id
    }

    /// The tracking events in the log: (type, video, user, properties).
    pub async fn events(&self) -> Vec<(String, String, String, serde_json::Value)> {
        let log = self.tracking.log().await.unwrap();
        let records = log.read(0, 1000).await.unwrap();
        records
            .iter()
            .map(|r| {
                let e: serde_json::Value = serde_json::from_slice(&r.payload).unwrap();
                let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                (
                    text("type"),
                    text("video_id"),
                    text("user"),
                    e["properties"].clone(),
                )
            })
            .collect()
    }
}
