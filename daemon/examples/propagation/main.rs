//! The node propagation benchmark (issue #7): one testbed per system (a
//! 5-node iBGP full mesh in network namespaces), `--additions` times a
//! Felix-style `blackhole 10.P.X.0/26 proto 80` added on node 1 and then
//! deleted, timing each until node N's kernel shows the change. The systems
//! take turns addition by addition, so they share the machine's load.
//! Prints one markdown table. Needs root.
//!
//! ```sh
//! cargo build --release -p tern-speaker --bins --example propagation
//! target/release/examples/propagation --nodes 5 --additions 100 --systems tern,bird1
//! ```
//! (`bench/run-propagation.sh` does both.)

mod measure;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use measure::{percentile, Binaries, Observe, System, Testbed};

#[derive(Parser, Debug)]
#[command(about = "Node propagation: blackhole on node 1 → route in node N's kernel")]
struct Args {
    /// Nodes per mesh.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Additions (each followed by its deletion) timed with route events.
    #[arg(long, default_value_t = 100)]
    additions: usize,
    /// Further additions timed by polling `ip route show`, as the issue's anchor was (0: none).
    #[arg(long, default_value_t = 0)]
    poll_additions: usize,
    /// Pause between polls, milliseconds.
    #[arg(long, default_value_t = 2)]
    poll_ms: u64,
    /// Comma-separated: tern, bird1.
    #[arg(long, default_value = "tern,bird1")]
    systems: String,
    /// The tern-speaker binary (default: next to this example's directory).
    #[arg(long)]
    speaker: Option<PathBuf>,
    /// BIRD 1.6's `bird`.
    #[arg(long, default_value = "/opt/tern-test/bird1/usr/sbin/bird")]
    bird1: PathBuf,
    /// Pause after each arrival and each withdrawal before the next change, ms.
    #[arg(long, default_value_t = 30)]
    settle_ms: u64,
    /// Write every sample as CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
}

/// Samples of one system in one observation mode.
#[derive(Default)]
struct Samples {
    add: Vec<Duration>,
    del: Vec<Duration>,
    add_missed: usize,
    del_missed: usize,
}

const LIMIT: Duration = Duration::from_secs(10);

fn default_speaker() -> PathBuf {
    // target/release/examples/propagation → target/release/tern-speaker
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().and_then(|d| d.parent()).map(|d| d.join("tern-speaker")))
        .unwrap_or_else(|| PathBuf::from("tern-speaker"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn bird_version(bird: &PathBuf) -> String {
    std::process::Command::new(bird)
        .arg("--version")
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
            text.trim().to_string()
        })
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// Tiny deterministic jitter so additions never line up with a periodic
/// timer of a daemon (BIRD's 2 s scans, keepalives).
struct Jitter(u64);

impl Jitter {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % max.max(1)
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2}", d.as_secs_f64() * 1e3)).unwrap_or_else(|| "–".into())
}

fn row(system: &str, what: &str, method: &str, samples: &mut [Duration], missed: usize) -> String {
    samples.sort();
    format!(
        "| {system} | {what} | {method} | {} | {missed} | {} | {} | {} | {} |",
        samples.len(),
        ms(percentile(samples, 50.0)),
        ms(percentile(samples, 90.0)),
        ms(percentile(samples, 99.0)),
        ms(samples.last().copied()),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if !tern_speaker::cluster::namespaces_available() {
        eprintln!("propagation: needs root and iproute2 (network namespaces)");
        return std::process::ExitCode::from(2);
    }
    let mut systems = Vec::new();
    for s in args.systems.split(',').filter(|s| !s.is_empty()) {
        match System::parse(s.trim()) {
            Some(sys) => systems.push(sys),
            None => {
                eprintln!("propagation: unknown system {s:?} (tern, bird1)");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let bins = Binaries { speaker: args.speaker.clone().unwrap_or_else(default_speaker), bird1: args.bird1.clone() };
    match run(&args, &systems, &bins).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("propagation: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args, systems: &[System], bins: &Binaries) -> Result<(), String> {
    let load_before = load_average();
    let mut beds = Vec::new();
    for (i, sys) in systems.iter().enumerate() {
        let tag = format!("pr{}", &sys.name()[..1]);
        let bed = Testbed::start(*sys, &tag, 30 + i as u8, args.nodes, bins)
            .await
            .map_err(|e| format!("{}: starting the testbed: {e}", sys.name()))?;
        beds.push(bed);
    }
    for bed in &beds {
        bed.converge(Duration::from_secs(60))
            .map_err(|dump| format!("{}: the mesh did not converge:\n{dump}", bed.system.name()))?;
        eprintln!("{}: {} nodes converged", bed.system.name(), args.nodes);
    }
    let mut csv = String::from("system,method,k,direction,ms\n");
    let mut jitter = Jitter(0x5eed);
    let settle = Duration::from_millis(args.settle_ms);
    let poll = Observe::Poll(Duration::from_millis(args.poll_ms));
    let mut results: Vec<(System, Observe, Samples)> = Vec::new();
    for (mode, count) in [(Observe::Monitor, args.additions), (poll, args.poll_additions)] {
        let mut samples: Vec<Samples> = beds.iter().map(|_| Samples::default()).collect();
        for k in 0..count {
            // Alternate which system goes first.
            let order: Vec<usize> =
                if k % 2 == 0 { (0..beds.len()).collect() } else { (0..beds.len()).rev().collect() };
            for b in order {
                let bed = &mut beds[b];
                let s = &mut samples[b];
                let offset = if matches!(mode, Observe::Monitor) { 0 } else { args.additions };
                let prefix = bed.prefix(k + offset);
                let method = if matches!(mode, Observe::Monitor) { "events" } else { "poll" };
                match bed.add(prefix, mode, LIMIT).await {
                    Some(d) => {
                        s.add.push(d);
                        csv.push_str(&format!("{},{method},{k},add,{:.3}\n", bed.system.name(), d.as_secs_f64() * 1e3));
                    }
                    None => {
                        s.add_missed += 1;
                        eprintln!("{}: {prefix} did not arrive within {LIMIT:?}", bed.system.name());
                    }
                }
                tokio::time::sleep(settle).await;
                match bed.remove(prefix, mode, LIMIT).await {
                    Some(d) => {
                        s.del.push(d);
                        csv.push_str(&format!("{},{method},{k},del,{:.3}\n", bed.system.name(), d.as_secs_f64() * 1e3));
                    }
                    None => {
                        s.del_missed += 1;
                        eprintln!("{}: {prefix} still there after {LIMIT:?}", bed.system.name());
                    }
                }
                tokio::time::sleep(settle + Duration::from_millis(jitter.next_ms(20))).await;
            }
        }
        for (bed, s) in beds.iter().zip(samples) {
            results.push((bed.system, mode, s));
        }
    }
    let load_after = load_average();

    println!("| system | change | seen by | n | missed | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    for (sys, mode, s) in &mut results {
        let method = match mode {
            Observe::Monitor => "route events".to_string(),
            Observe::Poll(d) => format!("`ip route show` every {} ms", d.as_millis()),
        };
        if s.add.is_empty() && s.add_missed == 0 {
            continue;
        }
        let name = match sys {
            System::Tern => "tern".to_string(),
            System::Bird1 => "BIRD 1.6".to_string(),
        };
        println!("{}", row(&name, "addition", &method, &mut s.add, s.add_missed));
        println!("{}", row(&name, "withdrawal", &method, &mut s.del, s.del_missed));
    }
    println!();
    println!("nodes: {} (node 1 → node {}), settle {} ms", args.nodes, args.nodes, args.settle_ms);
    println!("load average before: {load_before}; after: {load_after}");
    println!("tern-speaker {} ({})", env!("CARGO_PKG_VERSION"), bins.speaker.display());
    if systems.contains(&System::Bird1) {
        println!("{}", bird_version(&bins.bird1));
    }
    if let Some(path) = &args.csv {
        std::fs::write(path, csv).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
