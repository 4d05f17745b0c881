//! The projection runner with a projection of a few lines (events counted per type): it
//! folds the log, checkpoints state and offset together, and after a graceful stop or a crash
//! (the task dropped mid-run, no last checkpoint) resumes so that every record counts exactly
//! once. Then the stats projection: videos that no longer exist are forgotten and their
//! events skipped, and view totals go to the catalog seam. And the server-event writer
//! drains its queue on stop.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde_json::json;
use spool_events::aggregate::{Aggregates, Limits};
use spool_events::ingest::{
    Access, AccessUnavailable, IngestConfig, Ingestion, SenderUser, ServerEventWriter, VideoAccess,
};
use spool_events::projection::{Projection, ProjectionHandle, ProjectionRunner, RunnerConfig};
use spool_events::stats::{LookupFailed, StatsProjection, VideoCatalog, VideoFacts};
use spool_events::tracking::{EventType, TrackedEvent};
use spool_events::{LogConfig, SharedLog, StoreConfig};
use spool_model::VideoId;
use tokio_util::sync::CancellationToken;

/// The whole second projection: events per type.
#[derive(Default)]
struct CountByType {
    /// Records `apply` has seen, to show what a restart refolds.
    folded: AtomicUsize,
}

impl Projection for CountByType {
    type State = BTreeMap<String, u64>;
    type Context = ();

    fn name(&self) -> &'static str {
        "count_by_type"
    }

    async fn prepare(&self, _: &[TrackedEvent], _: &ProjectionHandle<Self::State>) {}

    fn apply(&self, state: &mut Self::State, events: &[TrackedEvent], (): ()) {
        self.folded.fetch_add(events.len(), Ordering::Relaxed);
        for event in events {
            *state.entry(event.kind.name().to_owned()).or_default() += 1;
        }
    }
}

fn event(n: usize, kind: EventType, video: &str) -> TrackedEvent {
    TrackedEvent {
        event_id: format!("00000000-0000-4000-8000-{n:012x}"),
        kind,
        anonymous_id: Some(format!("viewer-{n}")),
        user: None,
        session_id: format!("s-{n}"),
        video_id: Some(video.to_owned()),
        position_s: Some(10.0),
        properties: json!({"from_s": 0.0, "to_s": 10.0})
            .as_object()
            .cloned()
            .unwrap(),
        occurred_at: 1_000_000,
        sent_at: 1_000_000,
        received_at: 1_000_000,
        at: 1_000_000 + n as i64,
        address: None,
    }
}

async fn append(log: &SharedLog, events: &[TrackedEvent]) -> u64 {
    let records = events
        .iter()
        .map(|e| {
            (
                e.event_id.clone(),
                Bytes::from(serde_json::to_vec(e).unwrap()),
            )
        })
        .collect();
    log.append(records).await.unwrap()
}

fn embedded(dir: &std::path::Path) -> Arc<SharedLog> {
    Arc::new(SharedLog::new(StoreConfig::Embedded {
        dir: dir.to_owned(),
        config: LogConfig::default(),
    }))
}

async fn wait_for_offset<S>(handle: &ProjectionHandle<S>, offset: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.next_offset() < offset {
        assert!(
            Instant::now() < deadline,
            "the runner never reached {offset}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A runner that never checkpoints on its own (only on stop), so a crash loses everything
/// since the last stop.
fn runner(
    log: &Arc<SharedLog>,
    dir: &std::path::Path,
) -> (
    ProjectionRunner<CountByType>,
    ProjectionHandle<BTreeMap<String, u64>>,
) {
    let handle = ProjectionHandle::default();
    let runner = ProjectionRunner::new(CountByType::default(), log.clone(), dir, handle.clone())
        .with_config(RunnerConfig {
            read_batch: 7,
            checkpoint_every: Duration::from_secs(3600),
            idle_poll: Duration::from_millis(20),
        });
    (runner, handle)
}

#[tokio::test]
async fn a_projection_resumes_after_a_stop_and_after_a_crash_counting_each_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = embedded(&dir.path().join("log"));
    let kinds = [EventType::Play, EventType::Heartbeat, EventType::Pause];
    let events: Vec<TrackedEvent> = (0..90)
        .map(|n| event(n, kinds[n % 3], "Xk3_9aQp-2Z"))
        .collect();

    // First run: 30 records, a graceful stop writes the checkpoint.
    let end = append(&log, &events[..30]).await;
    let (first, handle) = runner(&log, dir.path());
    let checkpoint = first.checkpoint_path().to_owned();
    let stop = CancellationToken::new();
    let task = tokio::spawn(first.run(stop.clone()));
    wait_for_offset(&handle, end).await;
    stop.cancel();
    task.await.unwrap();
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    assert_eq!(saved["next_offset"], 30);
    assert_eq!(saved["state"]["play"], 10);

    // Second run: resumes at 30 (folds only what is new), then crashes (dropped mid-run,
    // without its last checkpoint).
    let end = append(&log, &events[30..60]).await;
    let (second, handle) = runner(&log, dir.path());
    let projection_folded = {
        let task = tokio::spawn(second.run(CancellationToken::new()));
        wait_for_offset(&handle, end).await;
        assert_eq!(handle.read().await.state["heartbeat"], 20);
        task.abort();
        let _ = task.await;
        handle.read().await.next_offset
    };
    assert_eq!(projection_folded, 60);

    // Third run: back from the checkpoint at 30, so 30..90 fold once more and nothing twice.
    append(&log, &events[60..]).await;
    let (third, handle) = runner(&log, dir.path());
    let stop = CancellationToken::new();
    let task = tokio::spawn(third.run(stop.clone()));
    wait_for_offset(&handle, 90).await;
    let counts = handle.read().await.state.clone();
    assert_eq!(
        counts,
        BTreeMap::from([
            ("heartbeat".to_owned(), 30),
            ("pause".to_owned(), 30),
            ("play".to_owned(), 30)
        ])
    );
    stop.cancel();
    task.await.unwrap();
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    assert_eq!(saved["next_offset"], 90);
}

#[tokio::test]
async fn a_second_runner_on_one_handle_does_not_fold_twice() {
    let dir = tempfile::tempdir().unwrap();
    let log = embedded(&dir.path().join("log"));
    append(&log, &[event(1, EventType::Play, "Xk3_9aQp-2Z")]).await;
    let (first, handle) = runner(&log, dir.path());
    let second = ProjectionRunner::new(
        CountByType::default(),
        log.clone(),
        dir.path(),
        handle.clone(),
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(first.run(stop.clone()));
    wait_for_offset(&handle, 1).await;
    // Returns at once instead of folding the same records into the same state.
    tokio::time::timeout(Duration::from_secs(5), second.run(CancellationToken::new()))
        .await
        .unwrap();
    assert_eq!(handle.read().await.state["play"], 1);
    stop.cancel();
    task.await.unwrap();
}

/// A catalog as a table: video id -> duration (absent: no such video).
#[derive(Default)]
struct Table {
    videos: Mutex<HashMap<String, Option<f64>>>,
    views: Mutex<HashMap<String, u64>>,
}

/// The table as the stats projection's seam.
struct TableCatalog(Arc<Table>);

impl VideoCatalog for TableCatalog {
    fn videos<'a>(
        &'a self,
        ids: &'a [VideoId],
    ) -> BoxFuture<'a, Result<Vec<Option<VideoFacts>>, LookupFailed>> {
        let videos = self.0.videos.lock().unwrap();
        let found = ids
            .iter()
            .map(|id| {
                videos
                    .get(id.as_str())
                    .map(|d| VideoFacts { duration_s: *d })
            })
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn note_views(&self, totals: &[(VideoId, u64)]) {
        let mut views = self.0.views.lock().unwrap();
        for (id, n) in totals {
            views.insert(id.as_str().to_owned(), *n);
        }
    }
}

/// Starts the stats projection over `table` and `log`, checkpointing in `dir`, folding into
/// `handle`. Cancel the token and await the task to stop it.
fn start_stats(
    table: &Arc<Table>,
    log: &Arc<SharedLog>,
    dir: &std::path::Path,
    handle: &ProjectionHandle<Aggregates>,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let runner = ProjectionRunner::new(
        StatsProjection::new(Box::new(TableCatalog(table.clone())), Limits::default()),
        log.clone(),
        dir,
        handle.clone(),
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(runner.run(stop.clone()));
    (stop, task)
}

#[tokio::test]
async fn stats_forget_videos_that_no_longer_exist_and_hand_views_to_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let log = embedded(&dir.path().join("log"));
    let (kept, deleted, never) = ("Keep_video1", "Gone_video1", "Nevr_video1");
    let table = Arc::new(Table::default());
    table.videos.lock().unwrap().extend([
        (kept.to_owned(), Some(60.0)),
        (deleted.to_owned(), Some(60.0)),
    ]);
    let handle = ProjectionHandle::default();
    let (stop, task) = start_stats(&table, &log, dir.path(), &handle);
    let end = append(
        &log,
        &[
            event(1, EventType::Heartbeat, kept),
            event(2, EventType::Heartbeat, deleted),
            event(3, EventType::Heartbeat, never),
        ],
    )
    .await;
    wait_for_offset(&handle, end).await;
    {
        let folded = handle.read().await;
        assert_eq!(folded.state.views(kept), 1);
        assert_eq!(folded.state.views(deleted), 1);
        assert_eq!(folded.state.views(never), 0, "no such video: skipped");
        assert!(!folded.state.video_ids().contains(&never.to_owned()));
    }
    assert_eq!(
        table.views.lock().unwrap().get(kept),
        Some(&1),
        "views handed over"
    );

    // The video is deleted. The sweep (at the first batch after a start, then every 10
    // minutes) finds it gone, even though no event names it.
    table.videos.lock().unwrap().remove(deleted);
    stop.cancel();
    task.await.unwrap();
    let (stop, task) = start_stats(&table, &log, dir.path(), &handle);
    let end = append(&log, &[event(4, EventType::Heartbeat, kept)]).await;
    wait_for_offset(&handle, end).await;
    {
        let folded = handle.read().await;
        assert_eq!(
            folded.state.video_ids(),
            vec![kept.to_owned()],
            "swept on restart"
        );
        assert_eq!(folded.state.views(kept), 2);
    }
    stop.cancel();
    task.await.unwrap();
}

struct Everything;

impl VideoAccess for Everything {
    fn access<'a>(
        &'a self,
        _: Option<&'a SenderUser>,
        videos: &'a [VideoId],
    ) -> BoxFuture<'a, Result<Vec<Access>, AccessUnavailable>> {
        Box::pin(async move { Ok(vec![Access::Visible; videos.len()]) })
    }
}

#[tokio::test]
async fn the_server_event_writer_drains_its_queue_on_stop() {
    let dir = tempfile::tempdir().unwrap();
    let log = embedded(dir.path());
    let ingestion = Arc::new(Ingestion::new(
        log.clone(),
        &IngestConfig {
            rate_limit_per_s: 0,
            rate_limit_burst: 0,
            dedup_window: Duration::from_secs(60),
        },
        Arc::new(Everything),
    ));
    // Queued before the writer ever ran, and the stop already given: all of it lands.
    for n in 0..2500 {
        ingestion.record_server_event(
            EventType::Qoe,
            "Xk3_9aQp-2Z",
            format!("cmcd-{n}"),
            serde_json::Map::new(),
        );
    }
    let stop = CancellationToken::new();
    stop.cancel();
    tokio::time::timeout(
        Duration::from_secs(10),
        ServerEventWriter::new(ingestion.clone()).run(stop),
    )
    .await
    .unwrap();
    let store = log.get().await.unwrap();
    assert_eq!(store.next_offset().await.unwrap(), 2500);
    // After the drain the queue is shut: later events are dropped, not left behind unsaid.
    ingestion.record_server_event(
        EventType::Qoe,
        "Xk3_9aQp-2Z",
        "late".into(),
        Default::default(),
    );
    assert_eq!(store.next_offset().await.unwrap(), 2500);
}
