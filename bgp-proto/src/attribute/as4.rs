//! RFC 6793 §4.2.3: rebuilding the 4-octet AS path and aggregator.
