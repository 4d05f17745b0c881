//! spool-api (being written).
