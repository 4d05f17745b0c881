//! Danmaku rules: how a bullet comment looks (mode, colour, size), how much it weighs, and
//! how it is shown to players (the JSON both the HTTP API and the socket deliver).

use serde::{Deserialize, Serialize};
use spool_metadata::DanmakuRow;

use crate::error::{InteractError, Result};

/// How long one history slice is (a long video loads lazily, slice by slice).
pub const SLICE_MS: i64 = 6 * 60 * 1000;
/// Latest point a danmaku may be anchored to (a week, the tracking contract's bound).
pub const MAX_TIME_MS: i64 = 7 * 24 * 3600 * 1000;
/// Most a live sender's player may lag behind the live edge, ms.
pub const MAX_LATENCY_MS: i64 = 60_000;

/// Where a danmaku flies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Right to left across the picture.
    #[default]
    Scroll,
    /// Fixed at the top, centred.
    Top,
    /// Fixed at the bottom (above the controls), centred.
    Bottom,
}

impl Mode {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scroll => "scroll",
            Self::Top => "top",
            Self::Bottom => "bottom",
        }
    }

    fn parse(name: &str) -> Self {
        match name {
            "top" => Self::Top,
            "bottom" => Self::Bottom,
            _ => Self::Scroll,
        }
    }
}

/// How large its letters are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    /// Smaller than the default.
    Small,
    /// The default.
    #[default]
    Normal,
    /// Larger.
    Large,
}

impl Size {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Small => "small",
            Self::Normal => "normal",
            Self::Large => "large",
        }
    }

    fn parse(name: &str) -> Self {
        match name {
            "small" => Self::Small,
            "large" => Self::Large,
            _ => Self::Normal,
        }
    }
}

/// A colour: `"#rrggbb"` (or 0xRRGGBB as a number).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ColorInput {
    /// `#rrggbb`.
    Hex(String),
    /// 0 to 16777215.
    Number(i64),
}

/// The default colour, white.
pub const WHITE: i64 = 0xFF_FF_FF;

/// The colour as 0xRRGGBB.
pub fn parse_color(color: Option<&ColorInput>) -> Result<i64> {
    let bad = || InteractError::InvalidInput("color: must be \"#rrggbb\"".into());
    match color {
        None => Ok(WHITE),
        Some(ColorInput::Number(n)) if (0..=WHITE).contains(n) => Ok(*n),
        Some(ColorInput::Number(_)) => Err(bad()),
        Some(ColorInput::Hex(hex)) => {
            let digits = hex.strip_prefix('#').ok_or_else(bad)?;
            if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            i64::from_str_radix(digits, 16).map_err(|_| bad())
        }
    }
}

/// `0xRRGGBB` as `#rrggbb`.
pub fn color_hex(color: i64) -> String {
    format!("#{:06x}", color.clamp(0, WHITE))
}

/// What a sender says in a danmaku (the HTTP body and the socket's `send` frame).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct DanmakuInput {
    /// The text.
    pub text: String,
    /// Where in the video (ms); on demand only (live danmaku are stamped by the server).
    #[serde(default)]
    pub time_ms: Option<i64>,
    /// scroll (default), top or bottom.
    #[serde(default)]
    pub mode: Option<Mode>,
    /// `#rrggbb`, default white.
    #[serde(default)]
    pub color: Option<ColorInput>,
    /// small, normal (default) or large.
    #[serde(default)]
    pub size: Option<Size>,
    /// Live only: how far the sender's player is behind the live edge (ms), so the danmaku is
    /// placed at the moment the sender saw.
    #[serde(default)]
    pub latency_ms: Option<i64>,
}

/// Who is speaking, for the weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaker {
    /// The video's or room's owner, a moderator or an admin.
    Host,
    /// Anyone else.
    Viewer,
}

/// How much a danmaku is worth showing in a crowded slice, 1 to 10: players hide the lowest
/// first (as Bilibili's "屏蔽等级" does). Hosts weigh most; a message that is mostly one
/// repeated character ("哈哈哈哈哈", "!!!!!!") or very short weighs less than one that says
/// something.
pub fn weight(text: &str, speaker: Speaker) -> i64 {
    if speaker == Speaker::Host {
        return 10;
    }
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut distinct = chars.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let mut weight = 6;
    if chars.len() <= 1 {
        weight -= 3;
    } else if chars.len() <= 3 {
        weight -= 1;
    }
    if chars.len() >= 4 && distinct.len() * 4 <= chars.len() {
        weight -= 3; // a wall of one or two characters
    }
    if chars.len() >= 8 && distinct.len() >= 6 {
        weight += 2; // says something
    }
    weight.clamp(1, 9)
}

/// One danmaku as players receive it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DanmakuView {
    /// Always `"danmaku"` (the socket's message type).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Increasing id: the resume cursor, and what a deletion names.
    pub id: i64,
    /// The video it is over.
    pub video_id: String,
    /// The live room it was sent in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    /// Sender's name.
    pub author: String,
    /// The text (plain text; render it as text).
    pub text: String,
    /// Where in the video, ms.
    pub time_ms: i64,
    /// scroll, top or bottom.
    pub mode: Mode,
    /// `#rrggbb`.
    pub color: String,
    /// small, normal or large.
    pub size: Size,
    /// 1-10 (10: the host).
    pub weight: i64,
    /// When it was sent, Unix ms.
    pub created_at: i64,
    /// True when a moderator or its author deleted it (only in resumed histories).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl From<DanmakuRow> for DanmakuView {
    fn from(row: DanmakuRow) -> Self {
        Self {
            kind: "danmaku",
            id: row.id,
            video_id: row.video_id.to_string(),
            room_id: row.room_id.map(|r| r.to_string()),
            author: row.author,
            text: if row.deleted_at.is_some() {
                String::new()
            } else {
                row.text
            },
            time_ms: row.time_ms,
            mode: Mode::parse(&row.mode),
            color: color_hex(row.color),
            size: Size::parse(&row.size),
            weight: row.weight,
            created_at: row.created_at,
            deleted: row.deleted_at.is_some(),
        }
    }
}

/// The time window a history request asks for: `from_ms` defaults to 0 and `to_ms` to one
/// slice later; a window is at most one slice long.
pub fn window(from_ms: Option<i64>, to_ms: Option<i64>) -> Result<(i64, i64)> {
    let from = from_ms.unwrap_or(0);
    let to = to_ms.unwrap_or(from.saturating_add(SLICE_MS));
    if !(0..=MAX_TIME_MS).contains(&from) || to <= from {
        return Err(InteractError::InvalidInput(
            "from_ms: must be from 0 to 604800000, and to_ms after it".into(),
        ));
    }
    if to - from > SLICE_MS {
        return Err(InteractError::InvalidInput(format!(
            "to_ms: a window is at most {SLICE_MS} ms (6 minutes); load the next slice after it"
        )));
    }
    Ok((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_from_hex_or_number() {
        let check = |input: Option<ColorInput>, expect: Option<i64>| {
            assert_eq!(parse_color(input.as_ref()).ok(), expect, "{input:?}");
        };
        check(None, Some(WHITE));
        check(Some(ColorInput::Hex("#ff0000".into())), Some(0xFF0000));
        check(Some(ColorInput::Hex("#00FFaa".into())), Some(0x00FFAA));
        check(Some(ColorInput::Number(255)), Some(255));
        check(Some(ColorInput::Hex("ff0000".into())), None);
        check(Some(ColorInput::Hex("#ff00".into())), None);
        check(Some(ColorInput::Hex("#gg0000".into())), None);
        check(Some(ColorInput::Hex("#+f0000".into())), None);
        check(Some(ColorInput::Number(-1)), None);
        check(Some(ColorInput::Number(0x1000000)), None);
        assert_eq!(color_hex(0xFF0000), "#ff0000");
    }

    #[test]
    fn weight_favours_hosts_and_messages_that_say_something() {
        let check = |text: &str, speaker: Speaker, expect: i64| {
            assert_eq!(weight(text, speaker), expect, "{text:?}");
        };
        check("哈哈哈哈哈哈哈哈", Speaker::Viewer, 3);
        check("!!!!", Speaker::Viewer, 3);
        check("6", Speaker::Viewer, 3);
        check("好", Speaker::Viewer, 3);
        check("好看", Speaker::Viewer, 5);
        check("this part is great", Speaker::Viewer, 8);
        check("前方高能预警注意", Speaker::Viewer, 8);
        check("nice one", Speaker::Viewer, 6);
        check("6", Speaker::Host, 10);
    }

    #[test]
    fn windows_are_at_most_one_slice() {
        assert_eq!(window(None, None).unwrap(), (0, SLICE_MS));
        assert_eq!(window(Some(1000), Some(2000)).unwrap(), (1000, 2000));
        assert!(window(Some(0), Some(SLICE_MS + 1)).is_err());
        assert!(window(Some(-1), None).is_err());
        assert!(window(Some(5), Some(5)).is_err());
    }
}
