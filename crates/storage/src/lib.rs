//! spool-storage (being written).
