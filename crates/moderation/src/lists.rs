//! Hash list files: `<hash> [<quality>] [<label>]` per line, `#` comments and blank lines
//! skipped — exactly what `spool moderation hash` prints. Parsed whole before anything is
//! written, so an import is all or nothing.

use std::fmt;
use std::str::FromStr;

use crate::PdqHash;

/// What a list holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// PDQ perceptual hashes, matched within a distance.
    Pdq,
    /// BLAKE3 content digests, matched exactly.
    Blake3,
}

impl ListKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pdq => "pdq",
            Self::Blake3 => "blake3",
        }
    }
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ListKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pdq" => Ok(Self::Pdq),
            "blake3" => Ok(Self::Blake3),
            other => Err(format!(
                "kind: `{}` is not pdq or blake3",
                other.chars().take(20).collect::<String>()
            )),
        }
    }
}

/// Longest label kept, in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// Most entries one import may hold.
pub const MAX_IMPORT_ENTRIES: usize = 1_000_000;
/// Longest list name.
pub const MAX_LIST_NAME: usize = 64;

/// One parsed line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListLine {
    /// 32 bytes: a PDQ hash or a BLAKE3 digest, as the kind says.
    pub hash: [u8; 32],
    /// The quality, when given.
    pub quality: Option<u8>,
    /// The label (may be empty).
    pub label: String,
}

/// `name` if it is a valid list name: 1-64 letters, digits, `-`, `_`, `.`.
pub fn checked_list_name(name: &str) -> Result<&str, String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_LIST_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name)
    } else {
        Err("list name: 1 to 64 letters, digits, '-', '_' or '.'".into())
    }
}

/// Parses a whole file; the error names the first bad line (1-based).
pub fn parse_list(text: &str) -> Result<Vec<ListLine>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: String| format!("line {}: {why}", n + 1);
        let (hash_text, rest) = split_word(line);
        let hash = PdqHash::from_str(&hash_text.to_ascii_lowercase())
            .map_err(|e| bad(e.to_string().replace("a PDQ hash", "a hash")))?;
        let (quality, label) = match split_word(rest) {
            (word, tail) if !word.is_empty() && word.chars().all(|c| c.is_ascii_digit()) => {
                let q: u32 = word
                    .parse()
                    .map_err(|_| bad(format!("quality `{word}` is not 0 to 100")))?;
                if q > 100 {
                    return Err(bad(format!("quality {q} is not 0 to 100")));
                }
                (Some(q as u8), tail)
            }
            _ => (None, rest),
        };
        let label = label.trim();
        if label.chars().count() > MAX_LABEL_CHARS {
            return Err(bad(format!(
                "label longer than {MAX_LABEL_CHARS} characters"
            )));
        }
        if label.chars().any(char::is_control) {
            return Err(bad("label has control characters".into()));
        }
        out.push(ListLine {
            hash: hash.0,
            quality,
            label: label.to_owned(),
        });
        if out.len() > MAX_IMPORT_ENTRIES {
            return Err(format!(
                "more than {MAX_IMPORT_ENTRIES} entries in one import"
            ));
        }
    }
    if out.is_empty() {
        return Err("the list has no entry (one hash per line)".into());
    }
    Ok(out)
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find([' ', '\t']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// The item an entry belongs to: its label up to a final `@<seconds>` (the frames of one
/// hashed video form one item), or the hash itself when it has no label.
pub fn item_of(label: &str, hash_hex: &str) -> String {
    if label.is_empty() {
        return hash_hex.to_owned();
    }
    match label.rsplit_once('@') {
        Some((stem, secs))
            if !stem.is_empty()
                && !secs.is_empty()
                && secs.chars().all(|c| c.is_ascii_digit() || c == '.') =>
        {
            stem.to_owned()
        }
        _ => label.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

    fn check(text: &str, expect: Result<Vec<(Option<u8>, &str)>, &str>) {
        let got = parse_list(text).map(|lines| {
            lines
                .iter()
                .map(|l| (l.quality, l.label.clone()))
                .collect::<Vec<_>>()
        });
        match (got, expect) {
            (Ok(got), Ok(want)) => {
                let want: Vec<_> = want.into_iter().map(|(q, l)| (q, l.to_owned())).collect();
                assert_eq!(got, want, "{text:?}");
            }
            (Err(got), Err(want)) => assert!(got.contains(want), "{text:?}: {got}"),
            (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn lines_as_the_hasher_prints_them_and_refusals() {
        check(H, Ok(vec![(None, "")]));
        check(
            &format!(
                "# banned\n\n{H} 100 chair.mp4@3\n{} kitten",
                H.to_uppercase()
            ),
            Ok(vec![(Some(100), "chair.mp4@3"), (None, "kitten")]),
        );
        check(
            &format!("{H}\t87\tlabel with  spaces "),
            Ok(vec![(Some(87), "label with  spaces")]),
        );
        check(&format!("{H} 2024 report"), Err("line 1: quality 2024"));
        check(
            &format!("{H}\n{}", &H[..63]),
            Err("line 2: a hash is 64 hex digits, this has 63"),
        );
        check(
            &format!("{}g", &H[..63]),
            Err("line 1: a hash is 64 hex digits, this has a character"),
        );
        check(
            &format!("{H} {}", "x".repeat(201)),
            Err("line 1: label longer"),
        );
        check("", Err("no entry"));
        check("# only a comment\n\n", Err("no entry"));
    }

    #[test]
    fn items_group_a_videos_frames() {
        assert_eq!(item_of("chair.mp4@12", H), "chair.mp4");
        assert_eq!(item_of("chair.mp4@12.5", H), "chair.mp4");
        assert_eq!(item_of("me@example", H), "me@example");
        assert_eq!(item_of("", H), H);
        assert_eq!(item_of("@3", H), "@3");
    }

    #[test]
    fn list_names() {
        assert!(checked_list_name("ncmec-2026.v1_a").is_ok());
        for bad in ["", "a b", "ä", &"x".repeat(65), "a/b"] {
            assert!(checked_list_name(bad).is_err(), "{bad:?}");
        }
    }
}
