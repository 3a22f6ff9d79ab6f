//! Helpers shared by the integration tests of `bgp-proto`.

// Each test binary compiles this module and uses a different subset of it.
#![allow(dead_code)]

pub mod capture;

use std::io::Read;
use std::path::PathBuf;

/// The repository's copy of the shared MRT dumps (`tests/data/bgp/mrt`).
pub fn mrt_data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/bgp/mrt")
}

/// An MRT dump's bytes, decompressed in memory when it ends in `.bz2` or `.gz`.
pub fn read_mrt(name: &str) -> Vec<u8> {
    let path = mrt_data_dir().join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    if name.ends_with(".bz2") {
        bzip2::read::MultiBzDecoder::new(&raw[..]).read_to_end(&mut out).expect("bzip2");
    } else if name.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out).expect("gzip");
    } else {
        out = raw;
    }
    out
}
