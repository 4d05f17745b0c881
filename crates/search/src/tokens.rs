//! The analyzer every text field uses: jieba's search-mode segmentation (Chinese has no spaces
//! between words; search mode also emits the shorter words inside a long one, so "篮球比赛"
//! matches "篮球"), lower-cased, without the whitespace and punctuation tokens jieba emits.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy_jieba::JiebaTokenizer;

/// The name the analyzer is registered under.
pub const ANALYZER: &str = "spool";
/// Longer tokens are dropped (URLs, hashes).
const MAX_TOKEN_CHARS: usize = 40;

/// Jieba, lower-cased, words only.
#[derive(Clone, Default)]
pub struct SpoolTokenizer {
    jieba: JiebaTokenizer,
}

impl Tokenizer for SpoolTokenizer {
    type TokenStream<'a> = Tokens;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Tokens {
        let mut tokens = Vec::new();
        let mut stream = self.jieba.token_stream(text);
        while stream.advance() {
            let token = stream.token();
            if !token.text.chars().any(char::is_alphanumeric)
                || token.text.chars().count() > MAX_TOKEN_CHARS
            {
                continue;
            }
            let mut token = token.clone();
            token.text = token.text.to_lowercase();
            tokens.push(token);
        }
        Tokens { tokens, next: 0 }
    }
}

/// The tokens of one text.
pub struct Tokens {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for Tokens {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

/// The words of `text` as the index sees them.
pub fn words(text: &str) -> Vec<String> {
    let mut tokenizer = SpoolTokenizer::default();
    let mut stream = tokenizer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_chinese_and_english_alike() {
        let w = words("NBA 篮球比赛 Highlights!");
        assert!(w.contains(&"nba".to_owned()), "{w:?}");
        assert!(w.contains(&"篮球".to_owned()), "{w:?}");
        assert!(w.contains(&"highlights".to_owned()), "{w:?}");
        assert!(
            w.iter().all(|t| t.trim() == t && !t.is_empty() && t != "!"),
            "{w:?}"
        );
    }
}
