//! spool-metadata (being written).
