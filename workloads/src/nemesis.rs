//! Nemeses (being written).
