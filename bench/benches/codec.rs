//! Placeholder until the MRT reader lands.
fn main() {}
