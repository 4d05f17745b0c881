//! The tracking event contract, table-driven: each case is one event (or batch) and the
//! outcome the contract promises.

use serde_json::{Value, json};
use spool_events::tracking::{
    BatchError, EventType, MAX_BATCH_BYTES, MAX_EVENT_BYTES, Received, parse_batch, uuid_bits,
};

const VIDEO: &str = "Xk3_9aQp-2Z";
const RECEIVED_AT: i64 = 1_800_000_000_000;

fn anonymous() -> Received {
    Received {
        user: None,
        received_at: RECEIVED_AT,
        address: None,
    }
}

/// A valid `play` event; cases change one field.
fn play() -> Value {
    json!({
        "event_id": "0b8f5f7e-3c1a-4d2b-9e6f-1a2b3c4d5e6f",
        "type": "play",
        "anonymous_id": "a-1",
        "session_id": "s-1",
        "video_id": VIDEO,
        "position_s": 0.0,
        "occurred_at": "2027-01-15T08:00:00.000Z",
        "sent_at": "2027-01-15T08:00:02.500Z",
    })
}

fn with(mut event: Value, key: &str, value: Value) -> Value {
    let map = event.as_object_mut().unwrap();
    if value.is_null() {
        map.remove(key);
    } else {
        map.insert(key.into(), value);
    }
    event
}

fn batch(events: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "events": events })).unwrap()
}

fn field_at_fault(result: Result<Vec<spool_events::tracking::TrackedEvent>, BatchError>) -> String {
    match result {
        Err(BatchError::InvalidEvent { field, .. }) => field.to_owned(),
        Err(other) => format!("other error: {other}"),
        Ok(_) => "accepted".into(),
    }
}

#[test]
fn each_invalid_event_is_refused_naming_the_field() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("valid play", play(), "accepted"),
        (
            "no event_id",
            with(play(), "event_id", Value::Null),
            "event_id",
        ),
        (
            "event_id not a uuid",
            with(play(), "event_id", json!("123")),
            "event_id",
        ),
        (
            "unknown type",
            with(play(), "type", json!("teleport")),
            "type",
        ),
        ("no type", with(play(), "type", Value::Null), "type"),
        (
            "client claims a user",
            with(play(), "user_id", json!("root")),
            "user_id",
        ),
        (
            "no viewer at all",
            with(play(), "anonymous_id", Value::Null),
            "anonymous_id",
        ),
        (
            "anonymous id with markup",
            with(play(), "anonymous_id", json!("<b>")),
            "anonymous_id",
        ),
        (
            "no session",
            with(play(), "session_id", Value::Null),
            "session_id",
        ),
        (
            "play without video",
            with(play(), "video_id", Value::Null),
            "video_id",
        ),
        (
            "bad video id",
            with(play(), "video_id", json!("../../etc")),
            "video_id",
        ),
        (
            "play without position",
            with(play(), "position_s", Value::Null),
            "position_s",
        ),
        (
            "negative position",
            with(play(), "position_s", json!(-1.0)),
            "position_s",
        ),
        (
            "properties not an object",
            with(play(), "properties", json!([1])),
            "properties",
        ),
        (
            "no occurred_at",
            with(play(), "occurred_at", Value::Null),
            "occurred_at",
        ),
        (
            "no sent_at",
            with(play(), "sent_at", Value::Null),
            "sent_at",
        ),
        (
            "timestamp not rfc3339",
            with(play(), "sent_at", json!("yesterday")),
            "sent_at",
        ),
        (
            "occurred after sent",
            with(play(), "occurred_at", json!("2027-01-15T08:00:03Z")),
            "occurred_at",
        ),
        (
            "unix ms timestamps",
            with(
                with(play(), "occurred_at", json!(1_800_000_000_000_i64)),
                "sent_at",
                json!(1_800_000_001_000_i64),
            ),
            "accepted",
        ),
        (
            "heartbeat without interval",
            with(play(), "type", json!("heartbeat")),
            "properties",
        ),
        (
            "heartbeat with interval",
            with(
                with(play(), "type", json!("heartbeat")),
                "properties",
                json!({"from_s": 10.0, "to_s": 20.0}),
            ),
            "accepted",
        ),
        (
            "heartbeat backwards",
            with(
                with(play(), "type", json!("heartbeat")),
                "properties",
                json!({"from_s": 20.0, "to_s": 10.0}),
            ),
            "properties",
        ),
        (
            "heartbeat too long",
            with(
                with(play(), "type", json!("heartbeat")),
                "properties",
                json!({"from_s": 0.0, "to_s": 600.0}),
            ),
            "properties",
        ),
        (
            "heartbeat with intervals",
            with(
                with(play(), "type", json!("heartbeat")),
                "properties",
                json!({"intervals": [[0.0, 4.0], [30.0, 36.0]], "watched_s": 10.0}),
            ),
            "accepted",
        ),
        (
            "heartbeat with a malformed interval",
            with(
                with(play(), "type", json!("heartbeat")),
                "properties",
                json!({"intervals": [[0.0, 4.0, 5.0]]}),
            ),
            "properties",
        ),
        (
            "heartbeat intervals over a minute",
            with(
                with(play(), "type", json!("heartbeat")),
                "properties",
                json!({"intervals": [[0.0, 40.0], [100.0, 140.0]]}),
            ),
            "properties",
        ),
        (
            "seek without from",
            with(play(), "type", json!("seek")),
            "properties",
        ),
        (
            "quality change with height",
            with(
                with(play(), "type", json!("quality_change")),
                "properties",
                json!({"height": 480}),
            ),
            "accepted",
        ),
        (
            "quality change fractional height",
            with(
                with(play(), "type", json!("quality_change")),
                "properties",
                json!({"height": 480.5}),
            ),
            "properties",
        ),
        (
            "search needs no video",
            with(
                with(
                    with(play(), "type", json!("search")),
                    "video_id",
                    Value::Null,
                ),
                "properties",
                json!({"query": "cats"}),
            ),
            "accepted",
        ),
        (
            "search without query",
            with(
                with(play(), "type", json!("search")),
                "video_id",
                Value::Null,
            ),
            "properties",
        ),
        (
            "impression needs no position",
            with(
                with(play(), "type", json!("impression")),
                "position_s",
                Value::Null,
            ),
            "accepted",
        ),
        (
            "unknown fields are ignored",
            with(play(), "future_field", json!(1)),
            "accepted",
        ),
    ];
    for (name, event, expected) in cases {
        let got = field_at_fault(parse_batch(&batch(vec![event]), &anonymous()));
        assert_eq!(got, expected, "case {name:?}");
    }
}

#[test]
fn every_type_has_a_wire_name_and_a_valid_example() {
    for kind in EventType::ALL {
        let name = serde_json::to_value(kind).unwrap();
        assert_eq!(name, kind.name(), "serde and name() agree");
        assert_eq!(EventType::from_name(kind.name()), Some(kind));
        let mut event = with(play(), "type", name.clone());
        let properties = match kind {
            EventType::Heartbeat => json!({"from_s": 0.0, "to_s": 10.0}),
            EventType::Seek => json!({"from_s": 30.0}),
            EventType::QualityChange => json!({"height": 720}),
            EventType::Search => json!({"query": "dogs"}),
            _ => Value::Null,
        };
        event = with(event, "properties", properties);
        let parsed = parse_batch(&batch(vec![event]), &anonymous());
        if kind.recorded_by_server() {
            assert_eq!(field_at_fault(parsed), "type", "{name}");
            continue;
        }
        let events = parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(events[0].kind, kind);
    }
}

#[test]
fn one_invalid_event_refuses_the_batch_and_is_named() {
    let bad = with(
        play(),
        "event_id",
        json!("ffffffff-0000-0000-0000-000000000002"),
    );
    let bad = with(bad, "position_s", Value::Null);
    let body = batch(vec![play(), bad]);
    let err = parse_batch(&body, &anonymous()).unwrap_err();
    assert_eq!(err.code(), "invalid_event");
    assert_eq!(err.status(), 400);
    let message = err.to_string();
    assert!(
        message.contains("event 1") && message.contains("ffffffff-0000-0000-0000-000000000002"),
        "{message}"
    );
}

#[test]
fn size_limits_are_413() {
    let padding = "x".repeat(MAX_EVENT_BYTES);
    let big = with(play(), "properties", json!({ "pad": padding }));
    let err = parse_batch(&batch(vec![play(), big]), &anonymous()).unwrap_err();
    assert_eq!(
        (err.code(), err.status()),
        ("event_too_large", 413),
        "{err}"
    );
    assert!(matches!(err, BatchError::EventTooLarge { index: 1, .. }));

    let many: Vec<Value> = (0..20)
        .map(|_| with(play(), "properties", json!({ "pad": "y".repeat(30_000) })))
        .collect();
    let body = batch(many);
    assert!(body.len() > MAX_BATCH_BYTES);
    let err = parse_batch(&body, &anonymous()).unwrap_err();
    assert_eq!((err.code(), err.status()), ("batch_too_large", 413));
}

#[test]
fn malformed_and_empty_batches_are_400() {
    for body in [&b"not json"[..], b"{}", b"{\"events\": 3}", b"[]"] {
        let err = parse_batch(body, &anonymous()).unwrap_err();
        assert_eq!((err.code(), err.status()), ("invalid_json", 400), "{err}");
    }
    let err = parse_batch(b"{\"events\": []}", &anonymous()).unwrap_err();
    assert_eq!(err.code(), "empty_batch");
}

#[test]
fn server_sets_the_user_and_corrects_the_device_clock() {
    let signed_in = Received {
        user: Some("alice".into()),
        received_at: RECEIVED_AT,
        address: None,
    };
    // A signed-in viewer may omit anonymous_id; the device clock is a day off.
    let event = with(play(), "anonymous_id", Value::Null);
    let events = parse_batch(&batch(vec![event]), &signed_in).unwrap();
    let e = &events[0];
    assert_eq!(e.user.as_deref(), Some("alice"));
    assert_eq!(e.received_at, RECEIVED_AT);
    assert_eq!(e.sent_at - e.occurred_at, 2_500);
    // 2.5 s before the server received the batch, whatever the device's clock says.
    assert_eq!(e.at, RECEIVED_AT - 2_500);
    assert_eq!(e.event_id, "0b8f5f7e-3c1a-4d2b-9e6f-1a2b3c4d5e6f");
    // Upper-case ids are normalized so retries dedupe whatever the client's casing.
    let upper = with(
        play(),
        "event_id",
        json!("0B8F5F7E-3C1A-4D2B-9E6F-1A2B3C4D5E6F"),
    );
    let events = parse_batch(&batch(vec![upper]), &anonymous()).unwrap();
    assert_eq!(events[0].event_id, "0b8f5f7e-3c1a-4d2b-9e6f-1a2b3c4d5e6f");
}

#[test]
fn uuids_become_their_128_bits_whatever_the_case() {
    let id = "0b8f5f7e-3c1a-4d2b-9e6f-1a2b3c4d5e6f";
    assert_eq!(uuid_bits(id), Some(0x0b8f5f7e_3c1a_4d2b_9e6f_1a2b3c4d5e6f));
    assert_eq!(uuid_bits(&id.to_uppercase()), uuid_bits(id));
    assert_eq!(uuid_bits("0b8f5f7e3c1a4d2b9e6f1a2b3c4d5e6f"), None);
    assert_eq!(uuid_bits("zb8f5f7e-3c1a-4d2b-9e6f-1a2b3c4d5e6f"), None);
}
