//! Discovery: what to show a viewer next. Pure computation over the event log — viewer
//! profiles ([`profile`]), item-to-item co-watch ([`cowatch`]), trending ([`trending`]),
//! the collaborative model ([`ease`]), the online ranking model ([`ftrl`]), candidates,
//! features, filters and diversity ([`rank`]) — folded by the events crate's projection
//! runner ([`state`]), and the service that answers the feed and related videos over them
//! ([`service`]). Knows nothing of HTTP: `crates/api/src/recommend/` maps it.
//!
//! Architecture Invariant: nothing is recommended that the catalog's policy does not show
//! to anyone (only public, ready rows enter the [`items::ItemIndex`]), and the fold is a
//! function of the log and the collaborative model it is handed, so a restart resumes from
//! the checkpoint to the same state.

pub mod cowatch;
pub mod decay;
pub mod ease;
pub mod ftrl;
pub mod items;
pub mod profile;
pub mod rank;
pub mod service;
pub mod state;
pub mod trending;

pub use service::{
    Asker, DiscoveryProjection, FeedPage, InvalidCursor, RecommendConfig, Recommender,
};
pub use state::DiscoveryState;
