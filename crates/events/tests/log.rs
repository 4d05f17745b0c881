//! Integration tests of the embedded event log against real files in a temp dir.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use spool_events::{EventLog, LogConfig, LogError};

fn config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        retention_bytes: None,
        retention_age: None,
        max_record_bytes: 4096,
    }
}

fn payloads(range: Range<u32>) -> Vec<Bytes> {
    range.map(|i| Bytes::from(format!("event-{i}"))).collect()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

async fn all(log: &EventLog) -> Vec<(u64, String)> {
    log.read(0, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.offset, String::from_utf8(r.payload.to_vec()).unwrap()))
        .collect()
}

fn expect_events(range: Range<u32>) -> Vec<(u64, String)> {
    range
        .map(|i| (u64::from(i), format!("event-{i}")))
        .collect()
}

async fn check_read(log: &EventLog, from: u64, max: usize, expect: Range<u64>) {
    let got: Vec<u64> = log
        .read(from, max)
        .await
        .unwrap()
        .iter()
        .map(|r| r.offset)
        .collect();
    assert_eq!(got, expect.collect::<Vec<_>>(), "read({from}, {max})");
}

#[tokio::test]
async fn round_trip_across_segment_rolls() {
    let dir = tempfile::tempdir().unwrap();
    // Each record is 24 + 7..8 bytes; 100-byte segments hold 3 records.
    let log = EventLog::open(dir.path(), config(100)).await.unwrap();
    assert_eq!(log.append(payloads(0..5)).await.unwrap(), 0..5);
    assert_eq!(log.append(payloads(5..20)).await.unwrap(), 5..20);
    assert_eq!(log.append(vec![]).await.unwrap(), 20..20);
    let segs = segments(dir.path());
    assert_eq!(segs.len(), 7, "{segs:?}");
    assert_eq!(segs[1].file_name().unwrap(), "00000000000000000003.log");
    assert_eq!(all(&log).await, expect_events(0..20));

    // Reads from the middle, bounded, across segment boundaries.
    for (from, max, expect) in [
        (0, 3, 0..3),
        (2, 5, 2..7),
        (7, 100, 7..20),
        (19, 100, 19..20),
        (20, 100, 20..20),
        (500, 100, 20..20),
        (4, 0, 0..0),
    ] {
        check_read(&log, from, max, expect).await;
    }

    log.close().await;
    let log = EventLog::open(dir.path(), config(100)).await.unwrap();
    assert_eq!(log.next_offset(), 20);
    assert_eq!(log.append(payloads(20..22)).await.unwrap(), 20..22);
    assert_eq!(all(&log).await, expect_events(0..22));
}

#[tokio::test]
async fn concurrent_appends_get_distinct_contiguous_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(EventLog::open(dir.path(), config(4096)).await.unwrap());
    let mut tasks = Vec::new();
    for t in 0..32u32 {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let mut ranges = Vec::new();
            for i in 0..10u32 {
                let batch = (0..3)
                    .map(|j| Bytes::from(format!("{t}-{i}-{j}")))
                    .collect();
                let range = log.append(batch).await.unwrap();
                assert_eq!(range.end - range.start, 3);
                ranges.push((range, format!("{t}-{i}")));
            }
            ranges
        }));
    }
    let mut ranges = Vec::new();
    for task in tasks {
        ranges.extend(task.await.unwrap());
    }
    ranges.sort_by_key(|(r, _)| r.start);
    let mut next = 0;
    for (r, _) in &ranges {
        assert_eq!(r.start, next);
        next = r.end;
    }
    assert_eq!(next, 960);
    let records = log.read(0, usize::MAX).await.unwrap();
    assert_eq!(records.len(), 960);
    for (range, prefix) in ranges {
        for (j, offset) in range.enumerate() {
            let r = &records[usize::try_from(offset).unwrap()];
            assert_eq!(r.offset, offset);
            assert_eq!(r.payload, Bytes::from(format!("{prefix}-{j}")));
        }
    }
    assert!(segments(dir.path()).len() > 1);
}

/// Appends 10 events over several segments, damages the last segment, reopens and checks
/// that exactly `survivors` events remain and offsets continue after them.
async fn check_recovery(damage: impl FnOnce(&Path), survivors: u32) {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path(), config(100)).await.unwrap();
    log.append(payloads(0..10)).await.unwrap();
    log.close().await;
    let last = segments(dir.path()).pop().unwrap();
    damage(&last);
    let log = EventLog::open(dir.path(), config(100)).await.unwrap();
    assert_eq!(all(&log).await, expect_events(0..survivors));
    assert_eq!(log.next_offset(), u64::from(survivors));
    let range = log
        .append(payloads(survivors..survivors + 2))
        .await
        .unwrap();
    assert_eq!(range, u64::from(survivors)..u64::from(survivors) + 2);
    log.close().await;
    let log = EventLog::open(dir.path(), config(100)).await.unwrap();
    assert_eq!(all(&log).await, expect_events(0..survivors + 2));
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

#[tokio::test]
async fn torn_tail_is_cut_on_open() {
    // Garbage after the last record.
    check_recovery(|p| append_bytes(p, b"\xde\xad\xbe\xef garbage"), 10).await;
    // Half a header.
    check_recovery(|p| append_bytes(p, &[7, 0, 0, 0, 1, 2]), 10).await;
    // A full header that promises more payload than was written.
    check_recovery(
        |p| {
            let mut rec = Vec::new();
            rec.extend_from_slice(&100u32.to_le_bytes());
            rec.extend_from_slice(&0u32.to_le_bytes());
            rec.extend_from_slice(&10u64.to_le_bytes());
            rec.extend_from_slice(&0i64.to_le_bytes());
            rec.extend_from_slice(b"half");
            append_bytes(p, &rec);
        },
        10,
    )
    .await;
    // The last record itself cut short (the write was torn mid-payload).
    check_recovery(
        |p| {
            let len = fs::metadata(p).unwrap().len();
            let f = OpenOptions::new().write(true).open(p).unwrap();
            f.set_len(len - 3).unwrap();
        },
        9,
    )
    .await;
}

#[tokio::test]
async fn flipped_payload_byte_is_caught_by_crc() {
    check_recovery(
        |p| {
            let mut bytes = fs::read(p).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 0x01;
            fs::write(p, bytes).unwrap();
        },
        9,
    )
    .await;
}

#[tokio::test]
async fn retention_by_size_removes_whole_old_segments_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(100);
    cfg.retention_bytes = Some(200);
    let log = EventLog::open(dir.path(), cfg).await.unwrap();
    log.append(payloads(0..10)).await.unwrap(); // segments at 0, 3, 6, 9
    assert_eq!(segments(dir.path()).len(), 4);
    let report = log.enforce_retention().await.unwrap();
    // Three full segments of 93 bytes and one of 31: drop the oldest until under 200 bytes.
    assert_eq!(report.segments_deleted, 2);
    assert_eq!(report.bytes_deleted, 186);
    assert_eq!(report.oldest_offset, 6);
    assert_eq!(log.oldest_offset(), 6);
    assert_eq!(segments(dir.path()).len(), 2);
    // Reading below the oldest retained offset starts at the oldest.
    assert_eq!(all(&log).await, expect_events(6..10));
    check_read(&log, 1, 2, 6..8).await;

    // Even a tiny limit never deletes the active segment.
    log.close().await;
    let mut cfg = config(100);
    cfg.retention_bytes = Some(1);
    let log = EventLog::open(dir.path(), cfg).await.unwrap();
    log.enforce_retention().await.unwrap();
    assert_eq!(segments(dir.path()).len(), 1);
    assert_eq!(all(&log).await, expect_events(9..10));
    assert_eq!(log.append(payloads(10..11)).await.unwrap(), 10..11);
}

#[tokio::test]
async fn retention_by_age_uses_each_segments_newest_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(100);
    cfg.retention_age = Some(Duration::from_secs(60));
    let log = EventLog::open(dir.path(), cfg).await.unwrap();
    log.append(payloads(0..3)).await.unwrap(); // fills segment 0
    tokio::time::sleep(Duration::from_millis(20)).await;
    log.append(payloads(3..6)).await.unwrap(); // segment 3
    tokio::time::sleep(Duration::from_millis(20)).await;
    log.append(payloads(6..7)).await.unwrap(); // active segment 6
    let records = log.read(0, usize::MAX).await.unwrap();
    let ts = |o: usize| records[o].timestamp_ms;
    assert!(ts(2) < ts(5) && ts(5) < ts(6));
    let age = 60_000;

    // Nothing is old enough yet.
    let report = log.enforce_retention_at(ts(2) + age).await.unwrap();
    assert_eq!(report.segments_deleted, 0);
    // Segment 0's newest record is past the age; segment 3's is not.
    let report = log.enforce_retention_at(ts(2) + age + 1).await.unwrap();
    assert_eq!((report.segments_deleted, report.oldest_offset), (1, 3));
    // Far in the future everything is old, but the active segment stays.
    let report = log.enforce_retention_at(ts(6) + 10 * age).await.unwrap();
    assert_eq!((report.segments_deleted, report.oldest_offset), (1, 6));
    assert_eq!(segments(dir.path()).len(), 1);
    assert_eq!(all(&log).await, expect_events(6..7));
}

#[tokio::test]
async fn consumer_offsets_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path(), config(100)).await.unwrap();
    assert_eq!(log.consumer_offset("views").await.unwrap(), None);
    log.commit_consumer("views", 5).await.unwrap();
    log.commit_consumer("views", 7).await.unwrap();
    log.commit_consumer("watch-time_2", 42).await.unwrap();
    log.close().await;
    let log = EventLog::open(dir.path(), config(100)).await.unwrap();
    assert_eq!(log.consumer_offset("views").await.unwrap(), Some(7));
    assert_eq!(log.consumer_offset("watch-time_2").await.unwrap(), Some(42));
    let names: Vec<String> = fs::read_dir(dir.path().join("consumers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "no temp files left: {names:?}");
}

#[tokio::test]
async fn invalid_consumer_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path(), config(100)).await.unwrap();
    let long = "a".repeat(65);
    for name in [
        "",
        "Views",
        "a/b",
        "..",
        ".hidden",
        "a b",
        "é",
        long.as_str(),
    ] {
        let err = log.commit_consumer(name, 1).await.unwrap_err();
        assert_eq!(err.code(), "invalid_consumer_name", "{name:?}");
        let err = log.consumer_offset(name).await.unwrap_err();
        assert!(matches!(err, LogError::InvalidConsumerName(_)), "{name:?}");
    }
    log.commit_consumer(&"a".repeat(64), 1).await.unwrap();
}

#[tokio::test]
async fn oversized_events_and_bad_config_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path(), config(100)).await.unwrap();
    let err = log
        .append(vec![Bytes::from(vec![0u8; 4097])])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "event_too_large");
    assert_eq!(log.next_offset(), 0);
    let err = EventLog::open(dir.path(), config(0)).await.unwrap_err();
    assert_eq!(err.code(), "event_log_invalid_config");
}
