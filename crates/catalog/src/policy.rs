//! The visibility policy: who may see a video and who may change it, decided in one function,
//! [`access`], from the viewer and the video row. Every read path asks it (the video API,
//! listings, related videos, likes, progress streams, media serving through signed URLs or
//! tokens); a new moderation state (`held`, `blocked`) is one more arm there.

use spool_metadata::{User, VideoRow};
use spool_model::{UserId, VideoStatus, Visibility};

use crate::error::{CatalogError, Result};

/// Who is asking.
#[derive(Clone, Copy, Debug)]
pub enum Viewer<'a> {
    /// Nobody signed in.
    Anonymous,
    /// A signed-in user.
    User(&'a User),
    /// The holder of a valid signed media URL: the server hands those only to viewers who may
    /// see the video, so the URL stands for them.
    SignedUrl,
}

impl<'a> From<Option<&'a User>> for Viewer<'a> {
    fn from(user: Option<&'a User>) -> Self {
        user.map_or(Self::Anonymous, Self::User)
    }
}

/// What a viewer may do with a video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// It does not exist for this viewer (answer as if missing, so ids cannot be probed).
    Hidden,
    /// Anyone may see it (public or unlisted, or through a signed URL); shared caches may
    /// keep what is served.
    Anyone,
    /// Only its owner and admins may see it, and this viewer is one; only private caches.
    OwnerOrAdmin,
}

impl Access {
    /// True unless hidden.
    pub fn may_see(self) -> bool {
        self != Self::Hidden
    }
}

/// True when `user` is `owner` or an admin: the rule for changing anything someone owns (a
/// video, an upload).
pub fn owns(user: &User, owner: UserId) -> bool {
    user.is_admin || user.id == owner
}

/// THE decision: what `viewer` may do with `video`. A video held by moderation is its
/// owner's and the admins' only, whatever its visibility (a signed URL still plays: the server
/// hands those only to viewers who may see it, and they expire).
pub fn access(viewer: Viewer<'_>, video: &VideoRow) -> Access {
    if video.status == VideoStatus::Held {
        return access_to(viewer, Visibility::Private, video.owner_id);
    }
    access_to(viewer, video.visibility, video.owner_id)
}

/// The same decision for anything with a visibility and an owner (a video, a live room).
pub fn access_to(viewer: Viewer<'_>, visibility: Visibility, owner: UserId) -> Access {
    match (visibility, viewer) {
        (Visibility::Public | Visibility::Unlisted, _) | (_, Viewer::SignedUrl) => Access::Anyone,
        (Visibility::Private, Viewer::User(user)) if owns(user, owner) => Access::OwnerOrAdmin,
        (Visibility::Private, _) => Access::Hidden,
    }
}

/// True when `viewer` may see `video`.
pub fn may_see(viewer: Option<&User>, video: &VideoRow) -> bool {
    access(viewer.into(), video).may_see()
}

/// True when `video` may appear to anyone in listings, feeds, recommendations and search
/// results: public (an unlisted video is seen only by those given its link) and visible.
pub fn listed(video: &VideoRow) -> bool {
    video.visibility == Visibility::Public && may_see(None, video)
}

/// Whether `user` may change `video`: hidden is [`CatalogError::NotFound`], visible but
/// someone else's is [`CatalogError::NotOwner`].
pub fn may_change(user: &User, video: &VideoRow) -> Result<()> {
    if !may_see(Some(user), video) {
        return Err(CatalogError::video_not_found());
    }
    if owns(user, video.owner_id) {
        Ok(())
    } else {
        Err(CatalogError::NotOwner)
    }
}

/// True when `viewer` may learn what the source is (its BLAKE3 and size): the owner and
/// admins only, since a hash that shows is an oracle for the proof-of-possession flow ("does
/// the server hold this file?").
pub fn shows_source(viewer: Option<&User>, video: &VideoRow) -> bool {
    viewer.is_some_and(|user| may_change(user, video).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: UserId, admin: bool) -> User {
        User {
            id,
            name: format!("u{id}"),
            is_admin: admin,
            used_bytes: 0,
        }
    }

    fn video(owner: UserId, visibility: Visibility) -> VideoRow {
        spool_metadata::testing::video_row(owner, visibility)
    }

    #[test]
    fn the_matrix_of_viewers_and_visibilities() {
        let (owner, other, admin) = (user(1, false), user(2, false), user(3, true));
        use Access::*;
        let cases = [
            (Visibility::Public, [Anyone, Anyone, Anyone, Anyone, Anyone]),
            (
                Visibility::Unlisted,
                [Anyone, Anyone, Anyone, Anyone, Anyone],
            ),
            (
                Visibility::Private,
                [Hidden, OwnerOrAdmin, Hidden, OwnerOrAdmin, Anyone],
            ),
        ];
        for (visibility, expect) in cases {
            let v = video(1, visibility);
            let viewers = [
                Viewer::Anonymous,
                Viewer::User(&owner),
                Viewer::User(&other),
                Viewer::User(&admin),
                Viewer::SignedUrl,
            ];
            for (viewer, want) in viewers.into_iter().zip(expect) {
                assert_eq!(access(viewer, &v), want, "{visibility:?} {viewer:?}");
            }
            // Held: the owner's and the admins' whatever the visibility.
            let mut held = video(1, visibility);
            held.status = VideoStatus::Held;
            let want_held = [Hidden, OwnerOrAdmin, Hidden, OwnerOrAdmin, Anyone];
            for (viewer, want) in viewers.into_iter().zip(want_held) {
                assert_eq!(
                    access(viewer, &held),
                    want,
                    "held {visibility:?} {viewer:?}"
                );
            }
            assert!(!listed(&held));
            // Changing: owner and admin; others are told "not yours" only when they may see.
            assert!(may_change(&owner, &v).is_ok() && may_change(&admin, &v).is_ok());
            let refused = may_change(&other, &v).unwrap_err().code();
            let want = if visibility == Visibility::Private {
                "not_found"
            } else {
                "not_owner"
            };
            assert_eq!(refused, want);
            assert!(shows_source(Some(&owner), &v) && shows_source(Some(&admin), &v));
            assert!(!shows_source(Some(&other), &v) && !shows_source(None, &v));
        }
    }
}
