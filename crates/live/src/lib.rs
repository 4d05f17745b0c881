//! Live streaming: rooms and stream keys ([`Live`]), RTMP ingest ([`RtmpIngest`]), and the
//! LL-HLS packager ([`Packager`]) that turns the publisher's H.264 and AAC into CMAF parts
//! and segments served from memory.
//!
//! Architecture Invariant: no HTTP here (the api crate maps [`LiveError`] codes and serves
//! what [`Packager`] renders); every task the ingest starts is owned by
//! [`RtmpIngest::run`] and ends with it; a room's visibility is decided by the catalog's one
//! policy (`spool_catalog::policy::access_to`).

pub mod cmaf;
mod error;
pub mod flv;
mod ingest;
pub mod ladder;
pub mod packager;
mod recording;
mod service;

pub use error::{LiveError, Result};
pub use ingest::RtmpIngest;
pub use packager::{
    ClosedInit, ClosedPart, Flavour, Packager, PackagerConfig, PartSink, PlaylistRequest, Position,
};
pub use service::{
    Broadcast, Live, LiveSettings, Publisher, RTMP_APP, RoomInput, RoomView, SOURCE_RENDITION,
    StreamHealth,
};
