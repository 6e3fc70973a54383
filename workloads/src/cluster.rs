//! Demo cluster processes (being written).
