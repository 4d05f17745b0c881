//! TODO(skeleton): transcode
