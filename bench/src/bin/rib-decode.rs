//! Decodes the full IPv6 RIB dump (decompressed in memory first) with
//! `bgp_proto::mrt` and with `bgpkit-parser`, alternating, and prints the best
//! time of each and the ratio. Best-of-N is robust against other load on the
//! machine; criterion's medians (`benches/codec.rs`) are not on a busy 2-core
//! box. Also the harness for profilers: `--tern-only` skips bgpkit-parser
//! (`valgrind --tool=callgrind`, `perf record`).
//!
//! `cargo run --release -p tern-bench --bin rib-decode -- [--tern-only] [ROUNDS] [FILE]`

use std::time::Instant;

use tern_bench::rib::{bgpkit_rib, tern_rib, tern_rib_reusing, RIB_FILE};
use tern_bench::{data_dir, read_decompressed};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let tern_only = args.iter().any(|a| a == "--tern-only");
    args.retain(|a| a != "--tern-only");
    let mut args = args.into_iter();
    let rounds: u32 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let path = args.next().map(std::path::PathBuf::from).unwrap_or_else(|| data_dir().join(RIB_FILE));
    let data = read_decompressed(&path)?;
    let (mut tern_best, mut reuse_best, mut bgpkit_best) = (f64::MAX, f64::MAX, f64::MAX);
    let (mut tern_entries, mut reuse_entries, mut bgpkit_entries) = (0, 0, 0);
    for _ in 0..rounds {
        let start = Instant::now();
        tern_entries = tern_rib(&data).1;
        tern_best = tern_best.min(start.elapsed().as_secs_f64());
        let start = Instant::now();
        reuse_entries = tern_rib_reusing(&data);
        reuse_best = reuse_best.min(start.elapsed().as_secs_f64());
        if !tern_only {
            let start = Instant::now();
            bgpkit_entries = bgpkit_rib(&data);
            bgpkit_best = bgpkit_best.min(start.elapsed().as_secs_f64());
        }
    }
    let rate = |n: u64, t: f64| n as f64 / t / 1e6;
    println!(
        "tern:          {tern_entries} entries, best of {rounds}: {:7.1} ms, {:5.2} M entries/s",
        tern_best * 1e3,
        rate(tern_entries, tern_best)
    );
    println!(
        "tern (reusing): {reuse_entries} entries, best of {rounds}: {:7.1} ms, {:5.2} M entries/s",
        reuse_best * 1e3,
        rate(reuse_entries, reuse_best)
    );
    if !tern_only {
        println!(
            "bgpkit-parser: {bgpkit_entries} entries, best of {rounds}: {:7.1} ms, {:5.2} M entries/s",
            bgpkit_best * 1e3,
            rate(bgpkit_entries, bgpkit_best)
        );
        println!(
            "ratio to bgpkit-parser: tern {:.2}x, tern (reusing) {:.2}x",
            bgpkit_best / tern_best,
            bgpkit_best / reuse_best
        );
    }
    Ok(())
}
