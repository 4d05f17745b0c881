//! What the user sees on stderr: progress bars (hashing, uploading) and short notes.
//!
//! Bars are drawn only when stderr is a terminal and `--no-progress` was not given; notes are
//! printed above the bars when they are drawn, and plainly on stderr otherwise. Stdout is never
//! written here: it carries only the video ids.

use std::fmt::Display;
use std::io::IsTerminal as _;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The terminal side of an upload run.
#[derive(Clone)]
pub struct Ui {
    multi: MultiProgress,
    drawn: bool,
}

impl Ui {
    /// Draws bars when `want_bars` and stderr is a terminal.
    pub fn new(want_bars: bool) -> Self {
        let drawn = want_bars && std::io::stderr().is_terminal();
        let target = if drawn {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            multi: MultiProgress::with_draw_target(target),
            drawn,
        }
    }

    /// A bar for hashing `len` bytes of `name`.
    pub fn hashing_bar(&self, name: &str, len: u64) -> ProgressBar {
        self.bar(
            "hashing   {msg:20!} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            name,
            len,
        )
    }

    /// A bar for uploading `len` bytes of `name`.
    pub fn upload_bar(&self, name: &str, len: u64) -> ProgressBar {
        self.bar(
            "uploading {msg:20!} [{bar:30.green/blue}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            name,
            len,
        )
    }

    fn bar(&self, template: &str, name: &str, len: u64) -> ProgressBar {
        let style = ProgressStyle::with_template(template)
            .expect("valid progress template")
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden())
            .with_style(style)
            .with_message(name.to_owned());
        if self.drawn { self.multi.add(bar) } else { bar }
    }

    /// Prints a one-line note on stderr without tearing the bars.
    pub fn note(&self, msg: impl Display) {
        if self.drawn {
            let _ = self.multi.println(format!("{msg}"));
        } else {
            eprintln!("{msg}");
        }
    }

    /// Removes any bars still on screen (before exiting on Ctrl-C).
    pub fn clear(&self) {
        let _ = self.multi.clear();
    }
}
