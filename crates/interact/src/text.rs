//! What a message may say: trimmed, within its length, no control characters, none of the
//! admins' filtered words. Text is stored and delivered as the sender wrote it (HTML is only
//! text: every renderer puts it in as text, never as markup).

use std::sync::{Arc, RwLock};

use aho_corasick::AhoCorasick;

use crate::error::{InteractError, Result};

/// `text` checked and trimmed: at most `max_chars` characters as sent, not blank, no control
/// characters or line breaks. The error names `field`.
pub fn checked_text(field: &str, text: &str, max_chars: usize) -> Result<String> {
    // The length is the text as sent (what a client's schema checks), before trimming.
    let chars = text.chars().count();
    let text = text.trim();
    if text.is_empty() {
        return Err(InteractError::InvalidInput(format!(
            "{field}: must not be empty"
        )));
    }
    if chars > max_chars {
        return Err(InteractError::InvalidInput(format!(
            "{field}: at most {max_chars} characters ({chars} given)"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(InteractError::InvalidInput(format!(
            "{field}: control characters and line breaks are not allowed"
        )));
    }
    Ok(text.to_owned())
}

/// The admins' filtered words, matched case-insensitively anywhere in a text (Chinese has no
/// spaces between words, so a word is a substring). Cheap to clone; replaced as a whole.
#[derive(Clone, Default)]
pub struct WordFilter {
    words: Arc<RwLock<Arc<Compiled>>>,
}

#[derive(Default)]
struct Compiled {
    words: Vec<String>,
    matcher: Option<AhoCorasick>,
}

/// Longest filtered word, in characters; most words a filter holds.
pub const MAX_FILTER_WORD_CHARS: usize = 100;
/// See [`MAX_FILTER_WORD_CHARS`].
pub const MAX_FILTER_WORDS: usize = 10_000;

impl WordFilter {
    /// The words, normalized (trimmed, lower case, deduplicated, sorted); refuses an empty
    /// or overlong word or too many.
    pub fn normalize(words: &[String]) -> Result<Vec<String>> {
        if words.len() > MAX_FILTER_WORDS {
            return Err(InteractError::InvalidInput(format!(
                "words: at most {MAX_FILTER_WORDS}"
            )));
        }
        let mut out = Vec::with_capacity(words.len());
        for word in words {
            out.push(checked_text(
                "words",
                &word.to_lowercase(),
                MAX_FILTER_WORD_CHARS,
            )?);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Replaces the words (already normalized).
    pub fn set(&self, words: Vec<String>) {
        let matcher = (!words.is_empty())
            .then(|| AhoCorasick::new(&words).ok())
            .flatten();
        let compiled = Arc::new(Compiled { words, matcher });
        *self.words.write().unwrap_or_else(|e| e.into_inner()) = compiled;
    }

    /// The words in force.
    pub fn words(&self) -> Vec<String> {
        self.current().words.clone()
    }

    /// True when `text` holds a filtered word.
    pub fn blocks(&self, text: &str) -> bool {
        let compiled = self.current();
        compiled
            .matcher
            .as_ref()
            .is_some_and(|m| m.is_match(&text.to_lowercase()))
    }

    fn current(&self) -> Arc<Compiled> {
        self.words.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        let check = |text: &str, expect: Result<&str, &str>| {
            let got = checked_text("text", text, 5);
            match expect {
                Ok(want) => assert_eq!(got.unwrap(), want, "{text:?}"),
                Err(part) => {
                    let message = got.unwrap_err().to_string();
                    assert!(message.contains(part), "{text:?}: {message}");
                }
            }
        };
        check(" hi  ", Ok("hi"));
        check("弹幕好多啊", Ok("弹幕好多啊"));
        check("<b>", Ok("<b>"));
        check("   ", Err("empty"));
        check("弹幕好多啊!", Err("at most 5"));
        check("ab\u{b}\u{b}\u{b}\u{b}", Err("at most 5")); // counted as sent, not trimmed
        check("a\nb", Err("control"));
        check("a\u{7}", Err("control"));
    }

    #[test]
    fn the_filter_matches_words_anywhere_in_any_case() {
        let filter = WordFilter::default();
        assert!(!filter.blocks("anything"));
        let words =
            WordFilter::normalize(&["Spam".into(), " 广告 ".into(), "spam".into()]).unwrap();
        assert_eq!(words, vec!["spam", "广告"]);
        filter.set(words);
        for (text, blocked) in [
            ("buy SPAM now", true),
            ("看广告", true),
            ("spa m", false),
            ("hello", false),
        ] {
            assert_eq!(filter.blocks(text), blocked, "{text}");
        }
        assert!(WordFilter::normalize(&["".into()]).is_err());
    }
}
