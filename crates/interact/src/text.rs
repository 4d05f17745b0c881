//! What a message may say: trimmed, within its length, no control characters, none of the
//! admins' filtered words (the filter is moderation's: `spool_moderation::keywords`). Text is stored and delivered as the sender wrote it (HTML is only
//! text: every renderer puts it in as text, never as markup).

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
}
