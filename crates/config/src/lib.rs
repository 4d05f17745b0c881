//! spool-config (being written).
