//! Writes fuzz corpora from the repository's captures and MRT dumps.
//!
//! `fuzz-seed CORPUS_DIR [MAX_PER_TARGET]` writes one file per distinct input
//! into `CORPUS_DIR/<target>/`, named by a hash of its bytes, in each fuzz
//! target's input layout (see `fuzz/fuzz_targets/*.rs`). With
//! `MAX_PER_TARGET`, keeps at most that many small inputs per target, drawn
//! evenly from every source file (the committed seed set).
//! Called by `scripts/fuzz-seed.sh`.

#[path = "../../../bgp-proto/tests/common/capture.rs"]
#[allow(dead_code)]
mod capture;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use tern_bench::{data_dir, read_decompressed, split_mrt_records};

/// Context selector byte of the fuzz targets: bit 0 = four-octet AS.
const CTX_AS4: u8 = 0x01;
const CTX_AS2: u8 = 0x00;
/// `update_attributes` selector byte: attributes of an UPDATE, of an MRT RIB IPv4 / IPv6 entry.
const SEL_UPDATE: u8 = 0;
const SEL_RIB_V4: u8 = 2;
const SEL_RIB_V6: u8 = 3;
/// Bytes of a stream kept for one `framer` input.
const FRAMER_INPUT: usize = 8192;
/// Inputs taken from one source file for one target.
const PER_SOURCE: usize = 400;
/// Largest input considered for the committed seed set.
const SEED_MAX_BYTES: usize = 2048;

const TARGETS: [&str; 4] = ["message_decode", "update_attributes", "framer", "mrt_record"];

/// Inputs per target, per source file, in discovery order.
#[derive(Default)]
struct Corpus {
    inputs: BTreeMap<&'static str, BTreeMap<String, Vec<Vec<u8>>>>,
}

impl Corpus {
    fn add(&mut self, target: &'static str, source: &str, input: Vec<u8>) {
        let per = self.inputs.entry(target).or_default().entry(source.to_string()).or_default();
        if per.len() < PER_SOURCE {
            per.push(input);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(out_dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: fuzz-seed CORPUS_DIR [MAX_PER_TARGET]");
        std::process::exit(2);
    };
    let max_per_target: Option<usize> = args.next().map(|n| n.parse().expect("MAX_PER_TARGET is a number"));

    let mut corpus = Corpus::default();
    for path in sorted_files(&data_dir().join("pcap")) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if name.contains(".pcap") {
            add_capture(&mut corpus, &name, &path);
        }
    }
    for path in sorted_files(&data_dir().join("mrt")) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if !name.ends_with(".md") {
            add_mrt(&mut corpus, &name, &path);
        }
    }

    for target in TARGETS {
        let dir = out_dir.join(target);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let per_source = corpus.inputs.remove(target).unwrap_or_default();
        let chosen = match max_per_target {
            Some(max) => spread(per_source, max),
            None => per_source.into_values().flatten().collect(),
        };
        let mut seen = HashSet::new();
        for input in chosen {
            let name = format!("{:016x}", fnv1a(&input));
            if seen.insert(name.clone()) {
                std::fs::write(dir.join(&name), &input).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
        println!("{target}: {} inputs in {}", seen.len(), dir.display());
    }
}

fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Up to `max` small inputs, taken round-robin from every source file so
/// each capture and dump is represented.
fn spread(per_source: BTreeMap<String, Vec<Vec<u8>>>, max: usize) -> Vec<Vec<u8>> {
    let mut queues: Vec<std::vec::IntoIter<Vec<u8>>> = per_source
        .into_values()
        .map(|v| v.into_iter().filter(|i| i.len() <= SEED_MAX_BYTES).collect::<Vec<_>>().into_iter())
        .collect();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    while out.len() < max && !queues.is_empty() {
        queues.retain_mut(|q| {
            if out.len() >= max {
                return true;
            }
            // Skip inputs already taken from another file.
            for input in q.by_ref() {
                if seen.insert(fnv1a(&input)) {
                    out.push(input);
                    return true;
                }
            }
            false
        });
    }
    out
}

fn add_capture(corpus: &mut Corpus, name: &str, path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let Ok(streams) = capture::bgp_streams(&bytes) else { return };
    for (i, chunk) in streams.iter().flat_map(|s| &s.chunks).enumerate() {
        let head = &chunk[..chunk.len().min(FRAMER_INPUT)];
        // Two split-point seed bytes, then the stream.
        corpus.add("framer", name, [&[i as u8, 0x5a][..], head].concat());
        for message in capture::split_messages(chunk).messages {
            add_message(corpus, name, message, CTX_AS4);
        }
    }
}

/// A whole BGP message (header included) as `message_decode` and, for an
/// UPDATE, `update_attributes` inputs.
fn add_message(corpus: &mut Corpus, source: &str, message: &[u8], ctx: u8) {
    let (Some(&msg_type), Some(body)) = (message.get(18), message.get(19..)) else { return };
    corpus.add("message_decode", source, [&[ctx, msg_type][..], body].concat());
    if msg_type == 2 {
        if let Some(attrs) = update_attributes(body) {
            corpus.add("update_attributes", source, [&[ctx, SEL_UPDATE][..], attrs].concat());
        }
    }
}

/// The path attributes of an UPDATE body (RFC 4271 §4.3).
fn update_attributes(body: &[u8]) -> Option<&[u8]> {
    let withdrawn = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let at = 2 + withdrawn;
    let attrs_len = usize::from(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]));
    body.get(at + 2..at + 2 + attrs_len)
}

fn add_mrt(corpus: &mut Corpus, name: &str, path: &Path) {
    let Ok(data) = read_decompressed(path) else { return };
    let records = split_mrt_records(&data);
    // Runs of 1..=4 consecutive records.
    for (i, window) in records.chunks(4).enumerate() {
        let take = i % 4 + 1;
        corpus.add("mrt_record", name, window[..take.min(window.len())].concat());
    }
    for record in &records {
        add_mrt_payload(corpus, name, record);
    }
}

/// BGP messages of BGP4MP records and attributes of TABLE_DUMP_V2 RIB entries.
fn add_mrt_payload(corpus: &mut Corpus, source: &str, record: &[u8]) {
    let be16 = |at: usize| Some(u16::from_be_bytes([*record.get(at)?, *record.get(at + 1)?]));
    let (Some(mrt_type), Some(subtype)) = (be16(4), be16(6)) else { return };
    let body = match mrt_type {
        // *_ET types carry 4 more octets of microseconds (RFC 6396 §3).
        17 => record.get(16..),
        _ => record.get(12..),
    };
    let Some(body) = body else { return };
    match (mrt_type, subtype) {
        // BGP4MP(_ET) MESSAGE (1), MESSAGE_AS4 (4), and their LOCAL / ADDPATH forms (RFC 6396 §4.4, RFC 8050).
        (16 | 17, 1 | 4 | 6 | 7 | 8 | 9 | 10 | 11) => {
            let as4 = matches!(subtype, 4 | 7 | 9 | 11);
            let as_len = if as4 { 4 } else { 2 };
            let Some(afi) = body.get(2 * as_len + 2..2 * as_len + 4) else { return };
            let ip_len = if afi == [0, 2] { 16 } else { 4 };
            let Some(message) = body.get(2 * as_len + 4 + 2 * ip_len..) else { return };
            add_message(corpus, source, message, if as4 { CTX_AS4 } else { CTX_AS2 });
        }
        // TABLE_DUMP_V2 RIB_IPV4_UNICAST (2) / RIB_IPV6_UNICAST (4) (RFC 6396 §4.3.2).
        (13, 2 | 4) => {
            let Some(&plen) = body.get(4) else { return };
            let mut at = 5 + usize::from(plen).div_ceil(8);
            let Some(count) = body.get(at..at + 2).map(|c| u16::from_be_bytes([c[0], c[1]])) else { return };
            at += 2;
            let selector = if subtype == 2 { SEL_RIB_V4 } else { SEL_RIB_V6 };
            for _ in 0..count.min(4) {
                let Some(len) = body.get(at + 6..at + 8).map(|c| usize::from(u16::from_be_bytes([c[0], c[1]]))) else {
                    return;
                };
                let Some(attrs) = body.get(at + 8..at + 8 + len) else { return };
                corpus.add("update_attributes", source, [&[CTX_AS4, selector][..], attrs].concat());
                at += 8 + len;
            }
        }
        _ => {}
    }
}

/// FNV-1a, 64-bit: a stable file name for an input.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}
