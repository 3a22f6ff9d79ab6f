//! Helpers shared by the integration tests of `bgp-proto`.

// Each test binary compiles this module and uses a different subset of it.
#![allow(dead_code)]

pub mod capture;
