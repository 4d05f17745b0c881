//! Follows: a user follows a channel (another user); the channel's follower count, and what
//! the followed channels published lately for the home page. A follow or unfollow that
//! changed something is recorded as a tracking event on the channel's latest listed video,
//! so the recommender raises (or lowers) its affinity for the creator.

use std::sync::Arc;

use spool_catalog::{CatalogError, policy};
use spool_events::Tracking;
use spool_events::tracking::EventType;
use spool_metadata::{FollowedChannel, MetadataError, Store, User, VideoRow};

/// Channels answered by [`Follows::following`].
pub const MAX_FOLLOWED_LISTED: u32 = 100;

/// Why a follow operation failed, each with a stable machine code.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// No channel has this name.
    #[error("channel not found")]
    NotFound,
    /// Following oneself.
    #[error("you cannot follow your own channel")]
    OwnChannel,
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The metadata store failed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl FollowError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::OwnChannel => "cannot_follow_self",
            Self::Catalog(e) => e.code(),
            Self::Metadata(e) => e.code(),
        }
    }
}

/// A channel's followers and whether the asker is one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowState {
    /// Users following the channel.
    pub followers: i64,
    /// Whether the asker follows it (None when nobody is signed in).
    pub following: Option<bool>,
}

/// What a user follows: the channels, and their latest listed videos, newest first.
#[derive(Clone, Debug)]
pub struct Following {
    /// Followed channels, latest follow first.
    pub channels: Vec<FollowedChannel>,
    /// The channels' latest listed videos, newest first.
    pub videos: Vec<VideoRow>,
}

/// The follow service; cheap to clone.
#[derive(Clone)]
pub struct Follows {
    store: Store,
    tracking: Arc<Tracking>,
}

impl Follows {
    /// The service over `store`, recording into `tracking`.
    pub fn new(store: Store, tracking: Arc<Tracking>) -> Self {
        Self { store, tracking }
    }

    async fn channel(&self, name: &str) -> Result<User, FollowError> {
        self.store
            .user_by_name(name)
            .await?
            .ok_or(FollowError::NotFound)
    }

    /// `user` follows (or stops following) the channel `name`; idempotent.
    pub async fn set(
        &self,
        user: &User,
        name: &str,
        following: bool,
    ) -> Result<FollowState, FollowError> {
        let channel = self.channel(name).await?;
        if channel.id == user.id && following {
            return Err(FollowError::OwnChannel);
        }
        if self
            .store
            .set_follow(user.id, channel.id, following)
            .await?
        {
            self.record(user, &channel, following).await?;
        }
        Ok(FollowState {
            followers: self.store.follower_count(channel.id).await?,
            following: Some(following),
        })
    }

    /// Records the change on the channel's latest listed video (tracking events are about a
    /// video); a channel with none has nothing for the recommender to raise yet.
    async fn record(
        &self,
        user: &User,
        channel: &User,
        following: bool,
    ) -> Result<(), FollowError> {
        let latest = self
            .store
            .list_public_videos_by_owner(channel.id, None, 1)
            .await?
            .into_iter()
            .find(policy::listed);
        let Some(video) = latest else {
            return Ok(());
        };
        let kind = if following {
            EventType::Follow
        } else {
            EventType::Unfollow
        };
        let mut properties = serde_json::Map::new();
        properties.insert("channel".into(), channel.name.clone().into());
        let recorded = self
            .tracking
            .ingestion()
            .record_for_viewer(kind, video.id.as_str(), Some(&user.name), None, properties)
            .await;
        // The follow is stored already: a log that is down costs one signal, not the follow.
        if let Err(e) = recorded {
            tracing::warn!(channel = %channel.name, "follow event not recorded: {e}");
        }
        Ok(())
    }

    /// The channel `name`'s followers and whether `viewer` follows it.
    pub async fn state(
        &self,
        viewer: Option<&User>,
        name: &str,
    ) -> Result<FollowState, FollowError> {
        let channel = self.channel(name).await?;
        let following = match viewer {
            Some(user) => Some(self.store.follows(user.id, channel.id).await?),
            None => None,
        };
        Ok(FollowState {
            followers: self.store.follower_count(channel.id).await?,
            following,
        })
    }

    /// The channels `user` follows and at most `videos` of their latest listed videos.
    pub async fn following(&self, user: &User, videos: u32) -> Result<Following, FollowError> {
        let channels = self
            .store
            .followed_channels(user.id, MAX_FOLLOWED_LISTED)
            .await?;
        let videos = self
            .store
            .list_public_videos_followed(user.id, videos.clamp(1, 100))
            .await?
            .into_iter()
            .filter(policy::listed)
            .collect();
        Ok(Following { channels, videos })
    }
}
