//! Shared helpers of tern's benchmarks and tools: test data loading.

pub mod rib;

use std::io::Read;
use std::path::{Path, PathBuf};

/// The repository's `tests/data/bgp` folder.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/bgp")
}

/// A file's bytes, decompressed in memory when it ends in `.bz2` or `.gz`.
pub fn read_decompressed(path: &Path) -> std::io::Result<Vec<u8>> {
    let raw = std::fs::read(path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let mut out = Vec::with_capacity(raw.len() * 8);
    if name.ends_with(".bz2") {
        bzip2::read::MultiBzDecoder::new(&raw[..]).read_to_end(&mut out)?;
    } else if name.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out)?;
    } else {
        out = raw;
    }
    Ok(out)
}

/// One MRT record's bytes (RFC 6396 §2): common header + body, with the
/// extended-timestamp field of the `_ET` types (§3) inside the length.
pub fn split_mrt_records(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(header) = data.get(at..at + 12) {
        let len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]) as usize;
        let Some(record) = data.get(at..at + 12 + len) else { break };
        out.push(record);
        at += 12 + len;
    }
    out
}
