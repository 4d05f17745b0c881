//! The tracking (埋点) event contract: what `POST /api/v1/events` accepts, and the normalized
//! record the log stores.
//!
//! A batch is `{ "events": [ … ] }`. Limits are checked on raw bytes before anything else
//! (a batch over [`MAX_BATCH_BYTES`] or one event over [`MAX_EVENT_BYTES`] is refused whole).
//! Then every event is validated; **one invalid event refuses the whole batch** with an error
//! naming its index, `event_id` and field. A batch is therefore stored all or nothing, and a
//! client may resend the same batch safely: duplicates are recognised by `event_id`.
//!
//! Time: the device's clock is not trusted. The server records `received_at` and a
//! skew-corrected `at = received_at - (sent_at - occurred_at)`, i.e. the event's age on the
//! device applied to the server's clock. Timestamps are RFC 3339 in UTC (`…Z`, as
//! `Date.toISOString()` writes) or Unix milliseconds.

use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Largest accepted batch body.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// Largest accepted single event (its JSON text).
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 1000;
/// Longest heartbeat interval accepted (the player sends one every 10 s of playback).
pub const MAX_HEARTBEAT_S: f64 = 60.0;
/// Largest position accepted, seconds (a week; anything beyond is a client bug).
const MAX_POSITION_S: f64 = 7.0 * 24.0 * 3600.0;
/// Longest `sent_at - occurred_at` accepted: events queued offline for up to a week.
const MAX_DEVICE_AGE_MS: i64 = 7 * 24 * 3600 * 1000;
/// Longest identifier (`anonymous_id`, `session_id`).
const MAX_ID_CHARS: usize = 64;
/// Longest search query.
const MAX_QUERY_CHARS: usize = 200;

/// What happened. The wire names are snake_case (`rebuffer_start`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A video was shown (in a grid, the feed, related).
    Impression,
    /// Playback started or resumed.
    Play,
    /// Playback paused.
    Pause,
    /// The viewer jumped; `properties.from_s` is where from, `position_s` where to.
    Seek,
    /// Every 10 s of playback: `properties.from_s`..`properties.to_s` was watched.
    Heartbeat,
    /// Playback reached the end.
    Ended,
    /// The player switched rendition; `properties.height` is the new one.
    QualityChange,
    /// Playback stalled for lack of data.
    RebufferStart,
    /// Playback resumed after a stall; `properties.duration_ms` is how long it lasted.
    RebufferEnd,
    /// The viewer liked the video.
    Like,
    /// The viewer took a like back.
    Unlike,
    /// The viewer shared the video.
    Share,
    /// The viewer swiped the video away in the feed.
    Skip,
    /// The viewer asked to see less like this.
    NotInterested,
    /// The viewer asked to see nothing more from this video's creator.
    HideCreator,
    /// A search; `properties.query` is what was searched.
    Search,
    /// The viewer commented on the video (`properties.comment_id`).
    Comment,
    /// The viewer followed the video's channel (`properties.channel`).
    Follow,
    /// The viewer took a follow back.
    Unfollow,
    /// The viewer sent a bullet comment over the video (`properties.danmaku_id`; `position_s`
    /// where in the video).
    Danmaku,
    /// The viewer sent a gift on the video (`properties.gift`, `properties.count`).
    Gift,
    /// Quality of experience from the player's CMCD data on a media request (recorded by the
    /// server from `CMCD=` / `CMCD-*`): `throughput_kbps`, `buffer_ms`, `bitrate_kbps`,
    /// `startup`, `buffer_starvation`, `object_type`, `object`.
    Qoe,
}

impl EventType {
    /// Every type, for documentation and tests.
    pub const ALL: [EventType; 22] = [
        Self::Impression,
        Self::Play,
        Self::Pause,
        Self::Seek,
        Self::Heartbeat,
        Self::Ended,
        Self::QualityChange,
        Self::RebufferStart,
        Self::RebufferEnd,
        Self::Like,
        Self::Unlike,
        Self::Share,
        Self::Skip,
        Self::NotInterested,
        Self::HideCreator,
        Self::Search,
        Self::Comment,
        Self::Follow,
        Self::Unfollow,
        Self::Danmaku,
        Self::Gift,
        Self::Qoe,
    ];

    /// The wire name (`rebuffer_start`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Impression => "impression",
            Self::Play => "play",
            Self::Pause => "pause",
            Self::Seek => "seek",
            Self::Heartbeat => "heartbeat",
            Self::Ended => "ended",
            Self::QualityChange => "quality_change",
            Self::RebufferStart => "rebuffer_start",
            Self::RebufferEnd => "rebuffer_end",
            Self::Like => "like",
            Self::Unlike => "unlike",
            Self::Share => "share",
            Self::Skip => "skip",
            Self::NotInterested => "not_interested",
            Self::HideCreator => "hide_creator",
            Self::Search => "search",
            Self::Comment => "comment",
            Self::Follow => "follow",
            Self::Unfollow => "unfollow",
            Self::Danmaku => "danmaku",
            Self::Gift => "gift",
            Self::Qoe => "qoe",
        }
    }

    /// The type with wire name `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether only the server writes this type (it records what it stored: a comment, a
    /// follow, a danmaku, a gift), so a client cannot claim one that never happened.
    pub fn recorded_by_server(self) -> bool {
        matches!(
            self,
            Self::Comment | Self::Follow | Self::Unfollow | Self::Danmaku | Self::Gift
        )
    }

    /// Whether the event is about one video (all but `search`).
    pub fn needs_video(self) -> bool {
        self != Self::Search
    }

    /// Whether the event happens at a point of playback and must say where.
    pub fn needs_position(self) -> bool {
        matches!(
            self,
            Self::Play
                | Self::Pause
                | Self::Seek
                | Self::Heartbeat
                | Self::Ended
                | Self::QualityChange
                | Self::RebufferStart
                | Self::RebufferEnd
                | Self::Skip
        )
    }
}

/// One event as the client sends it. Unknown fields are ignored (newer clients may send more).
#[derive(Deserialize)]
struct WireEvent {
    event_id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    anonymous_id: Option<String>,
    user_id: Option<Value>,
    session_id: Option<String>,
    video_id: Option<String>,
    position_s: Option<f64>,
    properties: Option<Value>,
    sent_at: Option<Value>,
    occurred_at: Option<Value>,
}

/// A batch whose size and shape are checked, its events not yet validated.
#[derive(Deserialize)]
pub struct Batch {
    /// A browser's session CSRF token, for clients that cannot set headers
    /// (`navigator.sendBeacon`).
    #[serde(default)]
    pub csrf_token: Option<String>,
    events: Vec<Box<RawValue>>,
}

/// A validated event as the log stores it (JSON, one per record).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackedEvent {
    /// The client's id for the event, lower-case UUID; the dedup key.
    pub event_id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The device's id for an anonymous viewer (kept when signed in too, to join histories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<String>,
    /// The signed-in user's name, set by the server from the session or token, never by the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The client's playback or page session.
    pub session_id: String,
    /// The video, for all types but `search`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_id: Option<String>,
    /// Playback position, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_s: Option<f64>,
    /// Type-specific details (an object; `{}` when none were sent).
    pub properties: Map<String, Value>,
    /// Device clock: when it happened, Unix ms.
    pub occurred_at: i64,
    /// Device clock: when the batch was sent, Unix ms.
    pub sent_at: i64,
    /// Server clock: when the batch arrived, Unix ms.
    pub received_at: i64,
    /// Server clock, skew-corrected: `received_at - (sent_at - occurred_at)`, Unix ms.
    pub at: i64,
    /// The sender's address as the server saw it (IPv4, or the /64 network of IPv6), so
    /// projections can cap what one address counts for; absent for server-observed events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<std::net::IpAddr>,
}

/// Who sent a batch and when it arrived; the server's facts, not the client's claims.
#[derive(Clone, Debug)]
pub struct Received {
    /// The signed-in user, if any.
    pub user: Option<String>,
    /// Server clock, Unix ms.
    pub received_at: i64,
    /// The sender's address (see [`TrackedEvent::address`]).
    pub address: Option<std::net::IpAddr>,
}

/// Why a batch was refused. Each has a stable code and an HTTP status.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum BatchError {
    /// The body is larger than [`MAX_BATCH_BYTES`].
    #[error("the batch is {len} bytes; the limit is {MAX_BATCH_BYTES} bytes")]
    BatchTooLarge {
        /// Body length.
        len: usize,
    },
    /// More than [`MAX_BATCH_EVENTS`] events.
    #[error("the batch has {count} events; the limit is {MAX_BATCH_EVENTS}")]
    TooManyEvents {
        /// Events in the batch.
        count: usize,
    },
    /// One event's JSON is larger than [`MAX_EVENT_BYTES`].
    #[error("event {index} is {len} bytes; the limit is {MAX_EVENT_BYTES} bytes")]
    EventTooLarge {
        /// Position in `events`.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// The body is not `{ "events": [ … ] }`.
    #[error("expected {{\"events\": [ ... ]}}: {0}")]
    InvalidJson(String),
    /// `events` is empty.
    #[error("the batch has no events")]
    Empty,
    /// One event breaks the contract; the whole batch is refused.
    #[error("event {index} ({event_id}): {field}: {message}")]
    InvalidEvent {
        /// Position in `events`.
        index: usize,
        /// Its `event_id`, or `?` when that is what is wrong.
        event_id: String,
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl BatchError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BatchTooLarge { .. } | Self::TooManyEvents { .. } => "batch_too_large",
            Self::EventTooLarge { .. } => "event_too_large",
            Self::InvalidJson(_) => "invalid_json",
            Self::Empty => "empty_batch",
            Self::InvalidEvent { .. } => "invalid_event",
        }
    }

    /// The HTTP status that goes with it: 413 for the size limits, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Self::BatchTooLarge { .. }
            | Self::TooManyEvents { .. }
            | Self::EventTooLarge { .. } => 413,
            _ => 400,
        }
    }
}

/// Validates a batch body and returns its events normalized, or why it is refused.
pub fn parse_batch(body: &[u8], received: &Received) -> Result<Vec<TrackedEvent>, BatchError> {
    Batch::parse(body)?.validate(received)
}

impl Batch {
    /// Checks the size limits and the JSON shape `{ "events": [ … ] }`.
    pub fn parse(body: &[u8]) -> Result<Self, BatchError> {
        if body.len() > MAX_BATCH_BYTES {
            return Err(BatchError::BatchTooLarge { len: body.len() });
        }
        let batch: Batch =
            serde_json::from_slice(body).map_err(|e| BatchError::InvalidJson(e.to_string()))?;
        if batch.events.is_empty() {
            return Err(BatchError::Empty);
        }
        if batch.events.len() > MAX_BATCH_EVENTS {
            return Err(BatchError::TooManyEvents {
                count: batch.events.len(),
            });
        }
        Ok(batch)
    }

    /// How many events the batch holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the batch is empty (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Validates every event; the first invalid one refuses the whole batch.
    pub fn validate(self, received: &Received) -> Result<Vec<TrackedEvent>, BatchError> {
        // Sizes are of each event's JSON text as sent.
        if let Some((index, len)) = self
            .events
            .iter()
            .map(|event| event.get().len())
            .enumerate()
            .find(|(_, len)| *len > MAX_EVENT_BYTES)
        {
            return Err(BatchError::EventTooLarge { index, len });
        }
        self.events
            .iter()
            .enumerate()
            .map(|(index, raw)| parse_event(index, raw.get(), received))
            .collect()
    }
}

/// An invalid-event error for event `index`.
struct Fault<'a> {
    index: usize,
    event_id: &'a str,
}

impl Fault<'_> {
    fn at(&self, field: &'static str, message: impl Into<String>) -> BatchError {
        BatchError::InvalidEvent {
            index: self.index,
            event_id: self.event_id.to_owned(),
            field,
            message: message.into(),
        }
    }
}

fn parse_event(index: usize, raw: &str, received: &Received) -> Result<TrackedEvent, BatchError> {
    let unnamed = Fault {
        index,
        event_id: "?",
    };
    let wire: WireEvent =
        serde_json::from_str(raw).map_err(|e| unnamed.at("event", e.to_string()))?;
    let event_id = match wire.event_id.as_deref() {
        Some(id) if is_uuid(id) => id.to_ascii_lowercase(),
        Some(_) => return Err(unnamed.at("event_id", "must be a UUID (8-4-4-4-12 hex digits)")),
        None => return Err(unnamed.at("event_id", "is required")),
    };
    let fault = Fault {
        index,
        event_id: &event_id,
    };
    let kind_name = wire.kind.ok_or_else(|| fault.at("type", "is required"))?;
    let kind = EventType::from_name(&kind_name)
        .ok_or_else(|| fault.at("type", format!("unknown event type {kind_name:?}")))?;
    if kind.recorded_by_server() {
        return Err(fault.at(
            "type",
            format!("{kind_name} is recorded by the server when it happens; do not send it"),
        ));
    }
    if wire.user_id.is_some() {
        return Err(fault.at(
            "user_id",
            "is set by the server from the session or token; do not send it",
        ));
    }
    let anonymous_id = wire
        .anonymous_id
        .map(|id| check_id(&id).map(|()| id))
        .transpose()
        .map_err(|m| fault.at("anonymous_id", m))?;
    if anonymous_id.is_none() && received.user.is_none() {
        return Err(fault.at(
            "anonymous_id",
            "is required when the request is not signed in",
        ));
    }
    let session_id = wire
        .session_id
        .ok_or_else(|| fault.at("session_id", "is required"))?;
    check_id(&session_id).map_err(|m| fault.at("session_id", m))?;
    let video_id = match (kind.needs_video(), wire.video_id) {
        (true, None) => return Err(fault.at("video_id", format!("is required for {kind_name}"))),
        (true, Some(id)) if id.parse::<spool_model::VideoId>().is_err() => {
            return Err(fault.at("video_id", "is not a video id"));
        }
        (_, id) => id,
    };
    let position_s = match (kind.needs_position(), wire.position_s) {
        (true, None) => {
            return Err(fault.at("position_s", format!("is required for {kind_name}")));
        }
        (_, Some(p)) if !(0.0..=MAX_POSITION_S).contains(&p) => {
            return Err(fault.at("position_s", "must be between 0 and 604800 seconds"));
        }
        (_, p) => p,
    };
    let properties = match wire.properties {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(fault.at("properties", "must be an object")),
    };
    check_properties(kind, &properties).map_err(|(field, m)| fault.at(field, m))?;
    let occurred_at = wire
        .occurred_at
        .ok_or_else(|| fault.at("occurred_at", "is required"))
        .and_then(|v| timestamp_ms(&v).map_err(|m| fault.at("occurred_at", m)))?;
    let sent_at = wire
        .sent_at
        .ok_or_else(|| fault.at("sent_at", "is required"))
        .and_then(|v| timestamp_ms(&v).map_err(|m| fault.at("sent_at", m)))?;
    let age = sent_at - occurred_at;
    if !(0..=MAX_DEVICE_AGE_MS).contains(&age) {
        return Err(fault.at(
            "occurred_at",
            "must be at most a week before sent_at, and not after it",
        ));
    }
    Ok(TrackedEvent {
        event_id,
        kind,
        anonymous_id,
        user: received.user.clone(),
        session_id,
        video_id,
        position_s,
        properties,
        occurred_at,
        sent_at,
        received_at: received.received_at,
        at: received.received_at - age,
        address: received.address,
    })
}

/// The type-specific properties each type needs.
fn check_properties(
    kind: EventType,
    properties: &Map<String, Value>,
) -> Result<(), (&'static str, String)> {
    let number = |key: &'static str| -> Result<f64, (&'static str, String)> {
        match properties.get(key).and_then(Value::as_f64) {
            Some(v) if (0.0..=MAX_POSITION_S).contains(&v) => Ok(v),
            Some(_) => Err(("properties", format!("{key} must be between 0 and 604800"))),
            None => Err(("properties", format!("{key} (a number) is required"))),
        }
    };
    match kind {
        EventType::Heartbeat => {
            let intervals = heartbeat_intervals(properties).ok_or_else(|| {
                (
                    "properties",
                    format!(
                        "a heartbeat needs from_s and to_s, or intervals [[from_s, to_s], ...] \
                         (at most {MAX_INTERVALS}), seconds from 0 to 604800"
                    ),
                )
            })?;
            let mut total = 0.0;
            for (from, to) in intervals {
                if from > to {
                    return Err(("properties", "an interval ends before it starts".into()));
                }
                total += to - from;
            }
            if total > MAX_HEARTBEAT_S {
                return Err((
                    "properties",
                    format!("a heartbeat covers at most {MAX_HEARTBEAT_S} s of playback"),
                ));
            }
        }
        EventType::Seek => {
            number("from_s")?;
        }
        EventType::QualityChange => {
            let height = number("height")?;
            if height < 1.0 || height.fract() != 0.0 {
                return Err(("properties", "height must be a positive integer".into()));
            }
        }
        EventType::RebufferEnd if properties.contains_key("duration_ms") => {
            number("duration_ms")?;
        }
        EventType::Search => match properties.get("query").and_then(Value::as_str) {
            Some(q) if !q.trim().is_empty() && q.chars().count() <= MAX_QUERY_CHARS => {}
            _ => {
                return Err((
                    "properties",
                    format!("query must be a string of 1 to {MAX_QUERY_CHARS} characters"),
                ));
            }
        },
        _ => {}
    }
    Ok(())
}

/// Most intervals in one heartbeat (playback between seeks).
const MAX_INTERVALS: usize = 100;

/// The playback intervals a heartbeat reports: `intervals: [[from_s, to_s], ...]` (what the
/// web player sends: one per stretch between seeks) or one `from_s`..`to_s`. None when
/// neither is there in a valid form.
pub fn heartbeat_intervals(properties: &Map<String, Value>) -> Option<Vec<(f64, f64)>> {
    let seconds = |v: &Value| v.as_f64().filter(|s| (0.0..=MAX_POSITION_S).contains(s));
    if let Some(list) = properties.get("intervals") {
        let list = list
            .as_array()
            .filter(|l| !l.is_empty() && l.len() <= MAX_INTERVALS)?;
        return list
            .iter()
            .map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([from, to]) => Some((seconds(from)?, seconds(to)?)),
                _ => None,
            })
            .collect();
    }
    Some(vec![(
        seconds(properties.get("from_s")?)?,
        seconds(properties.get("to_s")?)?,
    )])
}

/// `[A-Za-z0-9_-]{1,64}`: ids the device makes up (UUIDs or shorter tokens).
fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "must be 1 to {MAX_ID_CHARS} of A-Z, a-z, 0-9, '-' and '_'"
        ))
    }
}

/// A UUID's 128 bits (for compact sets of ids); None when `id` is not a UUID.
pub fn uuid_bits(id: &str) -> Option<u128> {
    if !is_uuid(id) {
        return None;
    }
    // No allocation: this runs for every event, twice.
    Some(id.bytes().filter(|b| *b != b'-').fold(0u128, |bits, b| {
        let digit = (b as char).to_digit(16).expect("checked hex digit");
        (bits << 4) | u128::from(digit)
    }))
}

fn is_uuid(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// RFC 3339 UTC text or Unix milliseconds, as Unix milliseconds.
fn timestamp_ms(value: &Value) -> Result<i64, String> {
    const EXPECTED: &str =
        "must be RFC 3339 in UTC (2026-01-02T03:04:05.678Z) or Unix milliseconds";
    match value {
        Value::Number(n) => n
            .as_i64()
            .filter(|ms| *ms > 0)
            .ok_or_else(|| EXPECTED.to_owned()),
        Value::String(s) => humantime::parse_rfc3339(s)
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .ok_or_else(|| EXPECTED.to_owned()),
        _ => Err(EXPECTED.to_owned()),
    }
}
