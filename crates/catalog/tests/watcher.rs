//! The change watcher, the bridge from `spool worker` processes (which cannot reach this
//! process's hub) into the hub: a row changed behind the catalog's back reaches a subscriber,
//! and nothing is queried while nobody listens. On SQLite and MariaDB.

use std::time::Duration;

use spool_catalog::Catalog;
use spool_hub::{Hub, Topic};
use spool_metadata::VideoUpdate;
use spool_metadata::testing::{self, ENGINES, Engine, TestDb};
use spool_model::{VideoId, Visibility};
use spool_storage::LocalStore;
use tokio_util::sync::CancellationToken;

/// A catalog over `store` with a fresh hub, its files in `data`.
fn catalog(store: &spool_metadata::Store, data: &std::path::Path) -> (Catalog, Hub) {
    let hub = Hub::local();
    let catalog = Catalog::new(
        store.clone(),
        hub.clone(),
        LocalStore::open(data).unwrap(),
        spool_storage::MediaLayout::new(data),
    );
    (catalog, hub)
}

/// A video titled "clip", as an upload creates it.
async fn new_video(store: &spool_metadata::Store) -> VideoId {
    let ann = store.create_user("ann", false).await.unwrap();
    let upload = testing::new_upload(ann.id, "clip", Visibility::Public, Some(4));
    store.create_upload(&upload, 0).await.unwrap();
    upload.video_id
}

/// A fresh store on `engine` (kept by the returned database and data dir) with a catalog over
/// it and one new video.
async fn setup(
    engine: Engine,
) -> (
    TestDb,
    spool_metadata::Store,
    tempfile::TempDir,
    Catalog,
    Hub,
    VideoId,
) {
    let (db, store) = TestDb::store(engine).await;
    let data = tempfile::tempdir().unwrap();
    let (catalog, hub) = catalog(&store, data.path());
    let id = new_video(&store).await;
    (db, store, data, catalog, hub, id)
}

/// Spawns `run` (a background task's loop) with a token that stops it.
fn spawn_until_stopped<F>(
    run: impl FnOnce(CancellationToken) -> F,
) -> (CancellationToken, tokio::task::JoinHandle<()>)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let stop = CancellationToken::new();
    (stop.clone(), tokio::spawn(run(stop)))
}

fn renamed() -> VideoUpdate {
    VideoUpdate {
        title: Some("renamed".into()),
        ..VideoUpdate::default()
    }
}

#[tokio::test]
async fn rows_changed_by_other_processes_reach_subscribers() {
    for engine in ENGINES {
        let (_db, store, _data, catalog, hub, id) = setup(engine).await;

        let (stop, watcher) = spawn_until_stopped(|stop| catalog.change_watcher().run(stop));
        // Nobody listens: the watcher does not query (an observation window of more than one
        // period, not a wait for something to happen).
        let before = store.queries_started();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            store.queries_started(),
            before,
            "{engine:?}: queried for nobody"
        );

        let mut subscription = hub.subscribe(&Topic::video(&id));
        // First sighting: one notification (the subscriber may have read before a change).
        tokio::time::timeout(Duration::from_secs(10), subscription.recv())
            .await
            .expect("first sighting")
            .unwrap();
        // A write by "another process" (straight to the database, no hub); the row is older
        // than the observation window above, so its new `updated_at` differs.
        assert!(store.update_video(&id, &renamed()).await.unwrap());
        tokio::time::timeout(Duration::from_secs(10), subscription.recv())
            .await
            .expect("the change is noticed")
            .unwrap();
        stop.cancel();
        watcher.await.unwrap();
    }
}

/// A change announced on the hub (the in-process pipeline publishing, or the watcher relaying a
/// worker's write) is visible at the next read, not only when the cached row expires.
#[tokio::test]
async fn a_notified_change_drops_the_cached_row() {
    for engine in ENGINES {
        let (_db, store, _data, catalog, hub, id) = setup(engine).await;
        let (stop, invalidator) = spawn_until_stopped(|stop| catalog.row_invalidator().run(stop));

        let title =
            |row: Option<std::sync::Arc<spool_metadata::VideoRow>>| row.unwrap().title.clone();
        assert_eq!(title(catalog.row(&id).await.unwrap()), "clip");
        assert!(store.update_video(&id, &renamed()).await.unwrap());
        assert_eq!(
            title(catalog.row(&id).await.unwrap()),
            "clip",
            "{engine:?}: the row is cached (else this test proves nothing)"
        );
        let notified = std::time::Instant::now();
        hub.notify(&Topic::video(&id));
        // Well inside the cache's one-second lifetime.
        let deadline = Duration::from_millis(300);
        while title(catalog.row(&id).await.unwrap()) != "renamed" {
            assert!(
                notified.elapsed() < deadline,
                "{engine:?}: still the cached row {deadline:?} after the notification"
            );
            tokio::task::yield_now().await;
        }
        stop.cancel();
        invalidator.await.unwrap();
    }
}
