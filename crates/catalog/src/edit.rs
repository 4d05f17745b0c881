//! Edits of a video's text and visibility, and the one title validation (edits and uploads
//! both use [`Title`]): every limit, checked before any work proportional to the input.
//!
//! Limits are checked in an order that keeps the work bounded whatever arrives: list lengths
//! first (a caller that collects a list stops at [`MAX_TAG_INPUTS`] and reports how many it
//! saw), then lengths of each string counted only up to their limit, then their characters.

use std::collections::HashSet;

use spool_metadata::VideoUpdate;
use spool_model::Visibility;

use crate::error::{CatalogError, Result};

/// Longest title, in characters (`videos.title VARCHAR(200)`).
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest description, in characters (`videos.description VARCHAR(5000)`).
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
/// Most tags on one video.
pub const MAX_TAGS: usize = 20;
/// Most tags one edit may send, duplicates included; a longer list is refused unread.
pub const MAX_TAG_INPUTS: usize = 100;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 32;
/// Longest JSON encoding of the tag list, in bytes (`videos.tags VARCHAR(2000)`).
pub const MAX_TAGS_JSON_BYTES: usize = 2000;
/// Longest category, in characters (`videos.category VARCHAR(64)`).
pub const MAX_CATEGORY_CHARS: usize = 64;

fn invalid(field: &str, problem: impl std::fmt::Display) -> CatalogError {
    CatalogError::InvalidInput(format!("{field}: {problem}"))
}

/// Characters in `value`, counted up to `max + 1` (enough to tell "too long").
fn chars_up_to(value: &str, max: usize) -> usize {
    value.chars().take(max.saturating_add(1)).count()
}

/// Checks a one-line text: at most `max` characters as sent (the API schema's `maxLength`),
/// `min` or more once trimmed, no control characters; returns it trimmed.
fn one_line(field: &str, raw: &str, min: usize, max: usize) -> Result<String> {
    let value = raw.trim();
    if chars_up_to(value, max) < min {
        return Err(invalid(field, "must not be blank"));
    }
    if chars_up_to(raw, max) > max {
        let got = raw.chars().count();
        return Err(invalid(
            field,
            format!("must be at most {max} characters (got {got})"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// A video title: trimmed, 1 to [`MAX_TITLE_CHARS`] characters, no control characters (no
/// ESC, NUL, BEL, newline, ...). Edits and uploads both make titles only through this type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// Checks a title given by a person (an edit, upload metadata).
    pub fn parse(raw: &str) -> Result<Self> {
        one_line("title", raw, 1, MAX_TITLE_CHARS).map(Self)
    }

    /// A title made from a file name: the last path component without its extension,
    /// control characters dropped, cut to the limit; `None` when nothing is left.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let stem = match base.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => stem,
            _ => base,
        };
        let clean: String = stem
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_TITLE_CHARS)
            .collect();
        Self::parse(&clean).ok()
    }

    /// "Untitled", for a video nobody named.
    pub fn untitled() -> Self {
        Self("Untitled".to_owned())
    }

    /// The title.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The title as a `String`.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Tags as a caller collected them: at most [`MAX_TAG_INPUTS`] kept, and how many were sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagInput {
    /// The first tags sent (at most [`MAX_TAG_INPUTS`]; the collector stops keeping them there).
    pub kept: Vec<String>,
    /// How many tags were sent.
    pub sent: usize,
}

impl From<Vec<String>> for TagInput {
    fn from(tags: Vec<String>) -> Self {
        Self {
            sent: tags.len(),
            kept: tags,
        }
    }
}

/// An owner's edit as given: `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VideoEdit {
    /// New title (see [`Title`]).
    pub title: Option<String>,
    /// New description: up to [`MAX_DESCRIPTION_CHARS`] characters; no control characters
    /// other than newline, carriage return and tab.
    pub description: Option<String>,
    /// New tags: each trimmed, 1 to [`MAX_TAG_CHARS`] characters, no control characters;
    /// duplicates dropped (first one kept); at most [`MAX_TAGS`] after that, at most
    /// [`MAX_TAG_INPUTS`] sent, and at most [`MAX_TAGS_JSON_BYTES`] bytes as JSON.
    pub tags: Option<TagInput>,
    /// New category: trimmed, up to [`MAX_CATEGORY_CHARS`] characters (empty = none).
    pub category: Option<String>,
    /// New visibility.
    pub visibility: Option<Visibility>,
}

/// An edit whose every value passed its limits, normalized (trimmed, tags deduplicated);
/// only [`CheckedEdit::check`] makes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedEdit(VideoUpdate);

impl CheckedEdit {
    /// Checks and normalizes `edit`; a violation names its field and nothing is kept.
    pub fn check(edit: VideoEdit) -> Result<Self> {
        // Bounded work first: the list lengths.
        if let Some(tags) = &edit.tags
            && (tags.sent > MAX_TAG_INPUTS || tags.kept.len() > MAX_TAG_INPUTS)
        {
            return Err(invalid(
                "tags",
                format!(
                    "at most {MAX_TAGS} tags, and at most {MAX_TAG_INPUTS} sent counting \
                     duplicates (got {})",
                    tags.sent.max(tags.kept.len())
                ),
            ));
        }
        let title = edit
            .title
            .as_deref()
            .map(|t| Title::parse(t).map(Title::into_string))
            .transpose()?;
        let description = match edit.description {
            None => None,
            Some(d) => {
                if chars_up_to(&d, MAX_DESCRIPTION_CHARS) > MAX_DESCRIPTION_CHARS {
                    let got = d.chars().count();
                    return Err(invalid(
                        "description",
                        format!("must be at most {MAX_DESCRIPTION_CHARS} characters (got {got})"),
                    ));
                }
                if d.chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
                {
                    return Err(invalid(
                        "description",
                        "must not contain control characters other than newlines and tabs",
                    ));
                }
                Some(d)
            }
        };
        let tags = edit.tags.map(|t| check_tags(&t.kept)).transpose()?;
        let category = edit
            .category
            .as_deref()
            .map(|c| one_line("category", c, 0, MAX_CATEGORY_CHARS))
            .transpose()?;
        Ok(Self(VideoUpdate {
            title,
            description,
            tags,
            category,
            visibility: edit.visibility,
        }))
    }

    /// The values to store.
    pub fn update(&self) -> &VideoUpdate {
        &self.0
    }
}

/// At most [`MAX_TAG_INPUTS`] tags in: each checked, duplicates dropped in one pass.
fn check_tags(raw: &[String]) -> Result<Vec<String>> {
    let mut seen = HashSet::with_capacity(raw.len());
    let mut tags = Vec::with_capacity(raw.len().min(MAX_TAGS + 1));
    for tag in raw {
        let checked = one_line("tags", tag, 1, MAX_TAG_CHARS)
            .map_err(|e| invalid("tags", format!("tag `{}` {}", clip(tag), reason(&e))))?;
        if seen.insert(checked.clone()) {
            tags.push(checked);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(invalid(
            "tags",
            format!("at most {MAX_TAGS} tags (got {})", tags.len()),
        ));
    }
    let json_len = serde_json::to_string(&tags).map_or(usize::MAX, |j| j.len());
    if json_len > MAX_TAGS_JSON_BYTES {
        return Err(invalid(
            "tags",
            format!("must take at most {MAX_TAGS_JSON_BYTES} bytes as JSON (got {json_len})"),
        ));
    }
    Ok(tags)
}

/// A value cut short for an error message.
fn clip(value: &str) -> String {
    let mut clipped: String = value.chars().take(40).filter(|c| !c.is_control()).collect();
    if value.chars().nth(40).is_some() {
        clipped.push('…');
    }
    clipped
}

/// The problem part of an [`invalid`] message ("field: problem").
fn reason(err: &CatalogError) -> String {
    let text = err.to_string();
    match text.split_once(": ") {
        Some((_, problem)) => problem.to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit() -> VideoEdit {
        VideoEdit::default()
    }

    fn tags(list: Vec<String>) -> Option<TagInput> {
        Some(list.into())
    }

    #[test]
    fn edits_are_normalized() {
        let checked = CheckedEdit::check(VideoEdit {
            title: Some("  Holiday 2026 ".into()),
            description: Some("Line one\nLine two\twith a tab".into()),
            tags: tags(vec![
                " sea ".into(),
                "sun".into(),
                "sea".into(),
                "日本".into(),
            ]),
            category: Some(" travel ".into()),
            visibility: Some(Visibility::Public),
        })
        .unwrap();
        let u = checked.update();
        assert_eq!(u.title.as_deref(), Some("Holiday 2026"));
        assert_eq!(
            u.description.as_deref(),
            Some("Line one\nLine two\twith a tab")
        );
        assert_eq!(u.tags.as_deref().unwrap(), ["sea", "sun", "日本"]);
        assert_eq!(u.category.as_deref(), Some("travel"));
        assert_eq!(u.visibility, Some(Visibility::Public));
    }

    /// Limits, and the boundary values that pass (moved here from the store's test with the
    /// validation).
    #[test]
    fn limits_and_boundaries() {
        let t = |s: &str| s.to_owned();
        let cases: Vec<(VideoEdit, Option<&str>)> = vec![
            (
                VideoEdit {
                    title: Some(t("")),
                    ..edit()
                },
                Some("title: must not be blank"),
            ),
            (
                VideoEdit {
                    title: Some(t("   ")),
                    ..edit()
                },
                Some("title: must not be blank"),
            ),
            (
                VideoEdit {
                    title: Some("x".repeat(201)),
                    ..edit()
                },
                Some("title: must be at most 200"),
            ),
            (
                VideoEdit {
                    title: Some("é".repeat(200)),
                    ..edit()
                },
                None,
            ),
            (
                VideoEdit {
                    title: Some(t("a\u{7}b")),
                    ..edit()
                },
                Some("title: must not contain control"),
            ),
            (
                VideoEdit {
                    title: Some(t("a\nb")),
                    ..edit()
                },
                Some("title: must not contain control"),
            ),
            (
                VideoEdit {
                    description: Some("d".repeat(5001)),
                    ..edit()
                },
                Some("description: must be at most 5000"),
            ),
            (
                VideoEdit {
                    description: Some("ü".repeat(5000)),
                    ..edit()
                },
                None,
            ),
            (
                VideoEdit {
                    description: Some(t("nul\0")),
                    ..edit()
                },
                Some("description: must not contain control"),
            ),
            (
                VideoEdit {
                    tags: tags(vec![t("ok"), t(" ")]),
                    ..edit()
                },
                Some("tags: tag ` ` must not be blank"),
            ),
            (
                VideoEdit {
                    tags: tags(vec!["x".repeat(33)]),
                    ..edit()
                },
                Some("tags: tag `xxxx"),
            ),
            (
                VideoEdit {
                    tags: tags(vec!["x".repeat(32)]),
                    ..edit()
                },
                None,
            ),
            (
                VideoEdit {
                    tags: tags(vec![t("a\tb")]),
                    ..edit()
                },
                Some("tags: tag `ab` must not contain control"),
            ),
            (
                VideoEdit {
                    tags: tags((0..21).map(|i| i.to_string()).collect()),
                    ..edit()
                },
                Some("tags: at most 20 tags (got 21)"),
            ),
            // 21 given, 20 after dropping the duplicate.
            (
                VideoEdit {
                    tags: tags((0..20).map(|i| i.to_string()).chain([t("0")]).collect()),
                    ..edit()
                },
                None,
            ),
            // More sent than may be, even if all the same: refused before reading them.
            (
                VideoEdit {
                    tags: tags(vec![t("a"); 101]),
                    ..edit()
                },
                Some("tags: at most 20 tags, and at most 100 sent"),
            ),
            (
                VideoEdit {
                    tags: Some(TagInput {
                        kept: vec![t("a")],
                        sent: 130_000,
                    }),
                    ..edit()
                },
                Some(
                    "tags: at most 20 tags, and at most 100 sent counting duplicates (got 130000)",
                ),
            ),
            // 20 tags of 32 characters, most of them 4 bytes in UTF-8: over 2000 bytes.
            (
                VideoEdit {
                    tags: tags(
                        (0..20)
                            .map(|i| format!("{i:02}{}", "😀".repeat(30)))
                            .collect(),
                    ),
                    ..edit()
                },
                Some("tags: must take at most 2000 bytes as JSON"),
            ),
            (
                VideoEdit {
                    category: Some("c".repeat(65)),
                    ..edit()
                },
                Some("category: must be at most 64"),
            ),
            (
                VideoEdit {
                    category: Some("c".repeat(64)),
                    ..edit()
                },
                None,
            ),
            // The limit counts what was sent, as the API schema's maxLength does.
            (
                VideoEdit {
                    category: Some(format!(" {}", "c".repeat(64))),
                    ..edit()
                },
                Some("category: must be at most 64"),
            ),
            (
                VideoEdit {
                    category: Some(t("a\u{1b}[31m")),
                    ..edit()
                },
                Some("category: must not contain control"),
            ),
        ];
        for (i, (edit, expect)) in cases.into_iter().enumerate() {
            match (expect, CheckedEdit::check(edit)) {
                (None, Ok(_)) => {}
                (Some(prefix), Err(CatalogError::InvalidInput(msg))) => {
                    assert!(msg.starts_with(prefix), "case {i}: `{msg}`");
                }
                (expect, other) => panic!("case {i}: expected {expect:?}, got {other:?}"),
            }
        }
    }

    /// Titles from upload metadata and edits pass the same check (issue 12).
    #[test]
    fn titles_refuse_every_control_character() {
        for c in [
            '\u{1b}', '\0', '\u{7}', '\n', '\r', '\t', '\u{7f}', '\u{85}',
        ] {
            let raw = format!("bad{c}title");
            assert!(Title::parse(&raw).is_err(), "{c:?}");
            assert_eq!(
                Title::from_file_name(&format!("{raw}.mp4"))
                    .unwrap()
                    .as_str(),
                "badtitle"
            );
        }
        assert_eq!(Title::parse("  ok ").unwrap().as_str(), "ok");
        assert_eq!(
            Title::from_file_name("dir/holiday.final.mp4")
                .unwrap()
                .as_str(),
            "holiday.final"
        );
        assert_eq!(
            Title::from_file_name("C:\\clips\\cat.mov")
                .unwrap()
                .as_str(),
            "cat"
        );
        assert_eq!(
            Title::from_file_name(&"x".repeat(300))
                .unwrap()
                .as_str()
                .len(),
            200
        );
        assert!(Title::from_file_name("\u{1b}\u{7}").is_none());
    }
}
