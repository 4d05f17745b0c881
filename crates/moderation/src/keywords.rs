//! The admins' keyword filter for danmaku, comments and live questions: words matched
//! case-insensitively anywhere in a text (Chinese has no spaces between words, so a word is a
//! substring). Moderation owns it; the interaction service calls it on every message.

use std::sync::{Arc, RwLock};

use aho_corasick::AhoCorasick;

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
    /// or overlong word, one with control characters, or too many.
    pub fn normalize(words: &[String]) -> Result<Vec<String>, String> {
        if words.len() > MAX_FILTER_WORDS {
            return Err(format!("words: at most {MAX_FILTER_WORDS}"));
        }
        let mut out = Vec::with_capacity(words.len());
        for word in words {
            let chars = word.chars().count();
            let word = word.trim().to_lowercase();
            if word.is_empty() {
                return Err("words: must not be empty".into());
            }
            if chars > MAX_FILTER_WORD_CHARS {
                return Err(format!(
                    "words: at most {MAX_FILTER_WORD_CHARS} characters ({chars} given)"
                ));
            }
            if word.chars().any(char::is_control) {
                return Err("words: control characters and line breaks are not allowed".into());
            }
            out.push(word);
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
        for bad in ["", "  ", "a\nb"] {
            assert!(WordFilter::normalize(&[bad.into()]).is_err(), "{bad:?}");
        }
        assert!(WordFilter::normalize(&["x".repeat(101)]).is_err());
    }
}
