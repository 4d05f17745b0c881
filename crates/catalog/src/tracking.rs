//! The catalog's answers to event tracking's two seams ([`spool_events::ingest::VideoAccess`]
//! and [`spool_events::stats::VideoCatalog`]): visibility by the one policy, and durations
//! and view totals over the hot rows. The composition root hands these to
//! [`spool_events::Tracking`], which knows nothing of the catalog.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use spool_events::ingest::{Access, AccessUnavailable, SenderUser, VideoAccess};
use spool_events::stats::{LookupFailed, VideoCatalog, VideoFacts};
use spool_metadata::User;
use spool_model::VideoId;

use crate::{Catalog, policy};

impl Catalog {
    /// Ingestion's visibility seam, answered with [`policy::may_see`].
    pub fn event_access(&self) -> Arc<dyn VideoAccess> {
        Arc::new(EventAccess {
            catalog: self.clone(),
        })
    }

    /// The hot rows of `ids`, in order (both seams look videos up in batches); the error
    /// as text, for the seams' own error types.
    async fn rows(
        &self,
        ids: &[VideoId],
    ) -> Result<Vec<Option<std::sync::Arc<spool_metadata::VideoRow>>>, String> {
        self.inner
            .rows
            .get_many(ids)
            .await
            .map_err(|e| e.to_string())
    }

    /// The stats projection's window on the catalog.
    pub fn event_facts(&self) -> Box<dyn VideoCatalog> {
        Box::new(EventFacts {
            catalog: self.clone(),
        })
    }
}

struct EventAccess {
    catalog: Catalog,
}

impl VideoAccess for EventAccess {
    fn access<'a>(
        &'a self,
        user: Option<&'a SenderUser>,
        videos: &'a [VideoId],
    ) -> BoxFuture<'a, Result<Vec<Access>, AccessUnavailable>> {
        Box::pin(async move {
            // The policy takes a user row; only its id and admin flag matter to it.
            let user = user.map(|u| User {
                id: u.id,
                name: u.name.clone(),
                is_admin: u.is_admin,
                used_bytes: 0,
            });
            let rows = self.catalog.rows(videos).await.map_err(AccessUnavailable)?;
            Ok(rows
                .iter()
                .map(|row| match row {
                    None => Access::Unknown,
                    Some(row) if policy::may_see(user.as_ref(), row) => Access::Visible,
                    Some(_) => Access::Hidden,
                })
                .collect())
        })
    }
}

struct EventFacts {
    catalog: Catalog,
}

impl VideoCatalog for EventFacts {
    fn videos<'a>(
        &'a self,
        ids: &'a [VideoId],
    ) -> BoxFuture<'a, Result<Vec<Option<VideoFacts>>, LookupFailed>> {
        Box::pin(async move {
            let rows = self.catalog.rows(ids).await.map_err(LookupFailed)?;
            Ok(rows
                .into_iter()
                .map(|row| {
                    row.map(|row| VideoFacts {
                        duration_s: row.duration_ms.map(|ms| ms as f64 / 1000.0),
                    })
                })
                .collect())
        })
    }

    fn note_views(&self, totals: &[(VideoId, u64)]) {
        for (video, views) in totals {
            self.catalog
                .views()
                .note_views(video, i64::try_from(*views).unwrap_or(i64::MAX));
        }
    }
}
