//! spool-upload (being written).
