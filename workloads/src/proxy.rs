//! TCP link proxies (being written).
