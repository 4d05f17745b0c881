//! spool-client (being written).
