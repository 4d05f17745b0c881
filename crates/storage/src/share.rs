//! Sharing published media between videos of the same content: a new video made from a blob
//! the server already transcoded gets the other video's generation and cover set as hard
//! links. The file system counts the references: deleting either video removes only its own
//! names, and the files live while any video still names them. Published files never change
//! under their name (a rewrite is a rename to a new inode), so a shared file stays what both
//! videos published.

use std::fs;
use std::io;
use std::path::Path;

use spool_model::VideoId;

use crate::atomic::sync_tree;
use crate::media::{Generation, MediaLayout};
use crate::{Result, io_err};

impl MediaLayout {
    /// Gives `to` the media `from` published: its `generation` and, when given, its cover set,
    /// under the same names, as hard links. Replaces whatever an earlier, interrupted attempt
    /// left under those names in `to`. Durable when it returns (files and directories
    /// fsynced), so the row that publishes them may commit next.
    pub fn share(
        &self,
        from: &VideoId,
        to: &VideoId,
        generation: &Generation,
        cover: Option<&Generation>,
    ) -> Result<()> {
        link_tree(
            &self.generation_dir(from, generation),
            &self.generation_dir(to, generation),
        )?;
        if let Some(cover) = cover {
            link_tree(&self.cover_dir(from, cover), &self.cover_dir(to, cover))?;
            crate::atomic::sync_dir(&self.covers_dir(to))?;
        }
        crate::atomic::sync_dir(&self.video_dir(to))?;
        crate::atomic::sync_dir(self.root())
    }
}

/// Recreates the directory tree `from` at `to` with every file hard-linked.
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    match fs::remove_dir_all(to) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(to)(e)),
    }
    copy_links(from, to)?;
    sync_tree(to)
}

fn copy_links(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).map_err(io_err(to))?;
    for entry in fs::read_dir(from).map_err(io_err(from))? {
        let entry = entry.map_err(io_err(from))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(io_err(&source))?.is_dir() {
            copy_links(&source, &target)?;
        } else {
            fs::hard_link(&source, &target).map_err(io_err(&source))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn shared_media_outlives_the_video_that_made_it() {
        let data = tempfile::tempdir().unwrap();
        let layout = MediaLayout::new(data.path());
        let (a, b): (VideoId, VideoId) = (
            "aaaaaaaaaaa".parse().unwrap(),
            "bbbbbbbbbbb".parse().unwrap(),
        );
        let generation = Generation::fresh();
        let cover = Generation::fresh();
        let gen_a = layout.generation_dir(&a, &generation);
        write(&gen_a.join("360p/seg_1.m4s"), "segment");
        write(&gen_a.join("manifest.mpd"), "mpd");
        write(&layout.cover_dir(&a, &cover).join("640.jpg"), "jpeg");
        // An interrupted earlier attempt left a stray file in b: it goes.
        write(&layout.generation_dir(&b, &generation).join("stray"), "x");

        layout.share(&a, &b, &generation, Some(&cover)).unwrap();
        let gen_b = layout.generation_dir(&b, &generation);
        assert_eq!(
            fs::read_to_string(gen_b.join("360p/seg_1.m4s")).unwrap(),
            "segment"
        );
        assert!(!gen_b.join("stray").exists());
        layout.remove_video(&a).unwrap();
        assert_eq!(
            fs::read_to_string(gen_b.join("manifest.mpd")).unwrap(),
            "mpd"
        );
        assert_eq!(
            fs::read_to_string(layout.cover_dir(&b, &cover).join("640.jpg")).unwrap(),
            "jpeg"
        );
    }
}
