//! Stream aggregates: views, unique viewers, watch time, completion, retention and history,
//! computed from scripted viewing sessions; duplicates and replays change nothing.

use serde_json::{Map, json};
use spool_events::aggregate::{Aggregates, Limits};
use spool_events::tracking::{EventType, TrackedEvent};

const VIDEO: &str = "Xk3_9aQp-2Z";
const MINUTE: i64 = 60_000;

/// Builds events with distinct ids.
struct Script {
    next_id: u32,
    events: Vec<TrackedEvent>,
}

impl Script {
    fn new() -> Self {
        Self {
            next_id: 0,
            events: Vec::new(),
        }
    }

    fn push(
        &mut self,
        viewer: &str,
        kind: EventType,
        at: i64,
        position_s: f64,
        props: serde_json::Value,
    ) {
        self.next_id += 1;
        let (user, anonymous_id) = match viewer.strip_prefix("user:") {
            Some(name) => (Some(name.to_owned()), None),
            None => (None, Some(viewer.to_owned())),
        };
        let properties: Map<String, serde_json::Value> = props.as_object().cloned().unwrap();
        self.events.push(TrackedEvent {
            event_id: format!("00000000-0000-4000-8000-{:012x}", self.next_id),
            kind,
            anonymous_id,
            user,
            session_id: "s".into(),
            video_id: Some(VIDEO.into()),
            position_s: Some(position_s),
            properties,
            occurred_at: at,
            sent_at: at,
            received_at: at,
            at,
            address: None,
        });
    }

    /// Playback from `from` to `to` seconds starting at `at`: heartbeats every 10 s.
    fn watch(&mut self, viewer: &str, at: i64, from: f64, to: f64) {
        self.push(viewer, EventType::Play, at, from, json!({}));
        let mut t = from;
        while t < to {
            let end = (t + 10.0).min(to);
            let when = at + ((end - from) * 1000.0) as i64;
            self.push(
                viewer,
                EventType::Heartbeat,
                when,
                end,
                json!({"from_s": t, "to_s": end}),
            );
            t = end;
        }
    }
}

fn run(script: &Script, duration_s: f64) -> Aggregates {
    let mut aggregates = Aggregates::new();
    for event in &script.events {
        aggregates.apply(event, Some(duration_s));
    }
    aggregates
}

#[test]
fn views_count_after_ten_seconds_once_per_viewer_per_hour() {
    // A session: viewer, minutes after the start, from_s, to_s.
    type Session = (&'static str, i64, f64, f64);
    // (scenario, sessions, expected views)
    let cases: Vec<(&str, Vec<Session>, u64)> = vec![
        ("9 s is no view", vec![("a", 0, 0.0, 9.0)], 0),
        ("10 s is a view", vec![("a", 0, 0.0, 10.0)], 1),
        (
            "rewatching within the hour is one view",
            vec![("a", 0, 0.0, 20.0), ("a", 10, 0.0, 20.0)],
            1,
        ),
        (
            "again after an hour is a second view",
            vec![("a", 0, 0.0, 20.0), ("a", 70, 0.0, 20.0)],
            2,
        ),
        (
            "two viewers, two views",
            vec![("a", 0, 0.0, 15.0), ("user:bob", 0, 0.0, 15.0)],
            2,
        ),
    ];
    for (name, sessions, views) in cases {
        let mut script = Script::new();
        for (viewer, minutes, from, to) in sessions {
            script.watch(viewer, minutes * MINUTE, from, to);
        }
        assert_eq!(run(&script, 60.0).video(VIDEO).views, views, "{name}");
    }
}

#[test]
fn a_short_video_counts_a_view_after_thirty_percent() {
    let mut script = Script::new();
    script.watch("a", 0, 0.0, 3.0);
    assert_eq!(run(&script, 12.0).video(VIDEO).views, 0, "25% of 12 s");
    script.watch("b", 0, 0.0, 4.0);
    assert_eq!(run(&script, 12.0).video(VIDEO).views, 1, "33% of 12 s");
}

#[test]
fn watch_time_retention_and_completion() {
    let mut script = Script::new();
    // a watches the first half of a 100 s video, b all of it, c the last 10 s only.
    script.watch("a", 0, 0.0, 50.0);
    script.watch("b", 0, 0.0, 100.0);
    script.push("b", EventType::Ended, MINUTE, 100.0, json!({}));
    script.watch("c", 0, 90.0, 100.0);
    let stats = run(&script, 100.0).video(VIDEO);
    assert_eq!(stats.unique_viewers, 3);
    assert_eq!(stats.views, 3);
    assert!(
        (stats.watch_time_s - 160.0).abs() < 1e-9,
        "{}",
        stats.watch_time_s
    );
    assert!((stats.avg_view_duration_s - 160.0 / 3.0).abs() < 1e-9);
    assert_eq!(stats.retention.len(), 100);
    let share = |n: f64| n / 3.0;
    assert_eq!(stats.retention[0], share(2.0));
    assert_eq!(stats.retention[49], share(2.0));
    assert_eq!(stats.retention[50], share(1.0), "a stopped at 50 s");
    assert_eq!(stats.retention[95], share(2.0), "c joined for the end");
    assert!(
        (stats.completion_rate - share(2.0)).abs() < 1e-9,
        "b and c reached the end"
    );
}

#[test]
fn duplicates_and_replays_change_nothing() {
    let mut script = Script::new();
    script.watch("a", 0, 0.0, 30.0);
    script.watch("user:bob", 5 * MINUTE, 0.0, 60.0);
    let once = run(&script, 60.0);

    // Every event delivered twice, the copies interleaved (a retry, an at-least-once replay).
    let mut doubled = Aggregates::new();
    for event in &script.events {
        assert!(doubled.apply(event, Some(60.0)));
        assert!(!doubled.apply(event, Some(60.0)), "a duplicate is ignored");
    }
    assert_eq!(doubled.video(VIDEO), once.video(VIDEO));
    assert_eq!(doubled.duplicates, script.events.len() as u64);

    // A checkpoint, then the whole stream replayed from the start: the same numbers.
    let text = serde_json::to_string(&once).unwrap();
    let mut restored: Aggregates = serde_json::from_str(&text).unwrap();
    for event in &script.events {
        restored.apply(event, Some(60.0));
    }
    assert_eq!(restored.video(VIDEO), once.video(VIDEO));
    assert_eq!(restored.history("bob"), once.history("bob"));
}

#[test]
fn heartbeats_may_list_the_stretches_between_seeks() {
    let mut script = Script::new();
    // 6 s from the start, a seek, then 6 s from 50 s: one view of 12 s, two stretches.
    script.push(
        "a",
        EventType::Heartbeat,
        MINUTE,
        56.0,
        json!({"intervals": [[0.0, 6.0], [50.0, 56.0]]}),
    );
    let stats = run(&script, 100.0).video(VIDEO);
    assert_eq!(stats.views, 1);
    assert_eq!(stats.watch_time_s, 12.0);
    assert_eq!(stats.retention[3], 1.0);
    assert_eq!(stats.retention[20], 0.0, "skipped over");
    assert_eq!(stats.retention[52], 1.0);
}

#[test]
fn history_keeps_where_each_user_left_off() {
    let mut script = Script::new();
    script.watch("user:bob", 0, 0.0, 42.0);
    script.push("user:bob", EventType::Pause, MINUTE, 42.0, json!({}));
    script.watch("anonymous-device", 0, 0.0, 20.0);
    let aggregates = run(&script, 120.0);
    let history = aggregates.history("bob");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].video_id, VIDEO);
    assert_eq!(history[0].position_s, 42.0);
    assert_eq!(history[0].watched_at, MINUTE);
    assert!(
        aggregates.history("anonymous-device").is_empty(),
        "history is per signed-in user"
    );
}

#[test]
fn cmcd_samples_become_qoe_averages_without_counting_viewers() {
    let mut script = Script::new();
    script.watch("a", 0, 0.0, 20.0);
    for (mtp, br, bl, su, bs) in [
        (4000, 800, 0, true, false),
        (6000, 1200, 4000, false, false),
        (2000, 800, 0, false, true),
    ] {
        script.push(
            "cmcd-session",
            EventType::Qoe,
            MINUTE,
            0.0,
            json!({"throughput_kbps": mtp, "bitrate_kbps": br, "buffer_ms": bl,
                   "startup": su, "buffer_starvation": bs, "object_type": "v"}),
        );
    }
    // Server-recorded: no viewer id at all.
    let last = script.events.len() - 1;
    script.events[last].anonymous_id = None;
    let stats = run(&script, 60.0).video(VIDEO);
    assert_eq!(stats.unique_viewers, 1, "QoE samples are not viewers");
    assert_eq!(stats.qoe.samples, 3);
    assert_eq!(stats.qoe.avg_throughput_kbps, Some(4000.0));
    assert_eq!(stats.qoe.avg_bitrate_kbps, Some(2800.0 / 3.0));
    assert_eq!(stats.qoe.avg_buffer_ms, Some(4000.0 / 3.0));
    assert_eq!(stats.qoe.startup_requests, 1);
    assert_eq!(stats.qoe.buffer_starvations, 1);
}

/// An event of `viewer` in `session` from `address` at `at`: 20 s watched (one view).
fn twenty_seconds(n: u32, viewer: &str, session: &str, address: &str, at: i64) -> TrackedEvent {
    TrackedEvent {
        event_id: format!("00000000-0000-4000-9000-{n:012x}"),
        kind: EventType::Heartbeat,
        anonymous_id: Some(viewer.to_owned()),
        user: None,
        session_id: session.to_owned(),
        video_id: Some(VIDEO.into()),
        position_s: Some(20.0),
        properties: json!({"intervals": [[0.0, 10.0], [10.0, 20.0]]})
            .as_object()
            .cloned()
            .unwrap(),
        occurred_at: at,
        sent_at: at,
        received_at: at,
        at,
        address: Some(address.parse().unwrap()),
    }
}

#[test]
fn views_are_capped_per_address_and_per_session_per_hour() {
    let limits = Limits {
        views_per_address_hour: 10,
        views_per_session_hour: 3,
        ..Limits::default()
    };
    // (scenario, viewers as (viewer, session, address, minute), expected views)
    type Viewer = (String, String, &'static str, i64);
    let many = |n: usize, session: &dyn Fn(usize) -> String, address: &'static str, minute: i64| {
        (0..n)
            .map(|i| {
                (
                    format!("v{address}-{minute}-{i}"),
                    session(i),
                    address,
                    minute,
                )
            })
            .collect::<Vec<Viewer>>()
    };
    let own = |i: usize| format!("s{i}");
    let cases: Vec<(&str, Vec<Viewer>, u64)> = vec![
        ("30 ids, one address", many(30, &own, "192.0.2.1", 5), 10),
        (
            "30 ids, three addresses",
            [
                many(10, &own, "192.0.2.1", 5),
                many(10, &own, "192.0.2.2", 5),
                many(10, &own, "192.0.2.3", 5),
            ]
            .concat(),
            30,
        ),
        (
            "8 ids, one session",
            many(8, &|_| "tab".into(), "192.0.2.9", 5),
            3,
        ),
        (
            "the next hour counts again",
            [
                many(30, &own, "192.0.2.1", 5),
                many(30, &own, "192.0.2.1", 65),
            ]
            .concat(),
            20,
        ),
    ];
    for (name, viewers, expected) in cases {
        let mut aggregates = Aggregates::with_limits(limits);
        for (n, (viewer, session, address, minute)) in viewers.iter().enumerate() {
            let at = 10 * 60 * MINUTE + minute * MINUTE + n as i64;
            aggregates.apply(
                &twenty_seconds(n as u32, viewer, session, address, at),
                Some(60.0),
            );
        }
        let stats = aggregates.video(VIDEO);
        assert_eq!(stats.views, expected, "{name}");
        assert_eq!(
            stats.unique_viewers,
            viewers.len() as u64,
            "{name}: every viewer is seen"
        );
        assert_eq!(
            stats.watch_time_s,
            viewers.len() as f64 * 20.0,
            "{name}: and watched"
        );
    }
}

#[test]
fn aggregates_stay_bounded_under_a_flood_of_invented_viewers() {
    let limits = Limits {
        max_viewers_per_video: 1000,
        views_per_address_hour: 0,
        ..Limits::default()
    };
    let mut aggregates = Aggregates::with_limits(limits);
    for n in 0..100_000u32 {
        let event = twenty_seconds(
            n,
            &format!("flood-{n}"),
            &format!("s{n}"),
            "192.0.2.1",
            MINUTE,
        );
        aggregates.apply(&event, Some(60.0));
    }
    assert!(
        aggregates.viewer_states() <= 1000,
        "{}",
        aggregates.viewer_states()
    );
    let stats = aggregates.video(VIDEO);
    assert_eq!(
        stats.unique_viewers, 100_000,
        "forgotten viewers still count"
    );
    assert_eq!(stats.retention[10], 1.0);
    let checkpoint = serde_json::to_vec(&aggregates).unwrap();
    // The event ids of the dedup window are the bulk (16 bytes of JSON digits each).
    assert!(checkpoint.len() < 4_500_000, "{} bytes", checkpoint.len());
    let without_ids = checkpoint.len() - 100_000 * 40;
    assert!(without_ids < 300_000, "{without_ids} bytes of viewer state");
}

#[test]
fn silent_viewers_are_forgotten_after_a_day_and_deleted_videos_at_once() {
    let mut aggregates = Aggregates::new();
    for n in 0..50u32 {
        aggregates.apply(
            &twenty_seconds(
                n,
                &format!("old-{n}"),
                &format!("s{n}"),
                "192.0.2.1",
                MINUTE,
            ),
            Some(60.0),
        );
    }
    assert_eq!(aggregates.viewer_states(), 50);
    // A day and a bit later (event time) one more viewer: the silent ones go.
    let later = MINUTE + 25 * 60 * MINUTE;
    aggregates.apply(
        &twenty_seconds(99, "new", "s99", "192.0.2.2", later),
        Some(60.0),
    );
    assert_eq!(aggregates.viewer_states(), 1);
    assert_eq!(aggregates.video(VIDEO).unique_viewers, 51);
    assert_eq!(aggregates.video(VIDEO).views, 51);

    let mut script = Script::new();
    script.watch("user:bob", 0, 0.0, 30.0);
    let mut aggregates = run(&script, 60.0);
    assert_eq!(aggregates.history("bob").len(), 1);
    aggregates.remove_video(VIDEO);
    assert_eq!(aggregates.video(VIDEO).views, 0);
    assert!(
        aggregates.history("bob").is_empty(),
        "history forgets deleted videos"
    );
    assert!(aggregates.video_ids().is_empty());
}
