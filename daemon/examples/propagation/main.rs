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
    /// Comma-separated: tern, bird1, or tern=PATH for another tern-speaker
    /// build (to compare two builds in one run).
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
    /// Seconds to wait after the meshes converged before measuring (to attach
    /// a packet capture or a profiler to the namespaces printed on stderr).
    #[arg(long, default_value_t = 0)]
    wait_before: u64,
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

/// Wall-clock seconds, to line samples up with packet captures.
fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
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

// One thread for both measuring ends: an event or a request never waits for
// another thread to be scheduled (on a busy machine that alone costs up to a
// millisecond, and the harness would add it to both systems' times).
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if !tern_speaker::cluster::namespaces_available() {
        eprintln!("propagation: needs root and iproute2 (network namespaces)");
        return std::process::ExitCode::from(2);
    }
    let bins = Binaries { speaker: args.speaker.clone().unwrap_or_else(default_speaker), bird1: args.bird1.clone() };
    let mut systems = Vec::new();
    for s in args.systems.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, path) = s.split_once('=').map_or((s, None), |(n, p)| (n, Some(PathBuf::from(p))));
        let Some(system) = System::parse(name) else {
            eprintln!("propagation: unknown system {s:?} (tern, tern=PATH, bird1)");
            return std::process::ExitCode::from(2);
        };
        let mut bins = bins.clone();
        let label = match (system, path) {
            (System::Tern, Some(p)) => {
                bins.speaker = p;
                format!("tern ({})", bins.speaker.display())
            }
            (System::Tern, None) => "tern".to_string(),
            (System::Bird1, _) => "BIRD 1.6".to_string(),
        };
        systems.push(Entry { system, label, bins });
    }
    match run(&args, &systems).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("propagation: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// One system under test.
struct Entry {
    system: System,
    label: String,
    bins: Binaries,
}

async fn run(args: &Args, systems: &[Entry]) -> Result<(), String> {
    let load_before = load_average();
    let mut beds = Vec::new();
    for (i, e) in systems.iter().enumerate() {
        let tag = format!("pr{}{i}", &e.system.name()[..1]);
        let bed = Testbed::start(e.system, &tag, 30 + i as u8, args.nodes, &e.bins)
            .await
            .map_err(|err| format!("{}: starting the testbed: {err}", e.label))?;
        beds.push(bed);
    }
    for (bed, e) in beds.iter().zip(systems) {
        bed.converge(Duration::from_secs(60))
            .map_err(|dump| format!("{}: the mesh did not converge:\n{dump}", e.label))?;
        let names: Vec<&str> = bed.cluster.nodes.iter().filter_map(|n| n.ns.as_ref().map(|ns| ns.name())).collect();
        eprintln!("{}: {} {} nodes converged (namespaces {})", e.label, args.nodes, bed.system.name(), names.join(" "));
    }
    tokio::time::sleep(Duration::from_secs(args.wait_before)).await;
    let mut csv = String::from("system,method,k,direction,ms,start_unix_s\n");
    let mut jitter = Jitter(0x5eed);
    let settle = Duration::from_millis(args.settle_ms);
    let poll = Observe::Poll(Duration::from_millis(args.poll_ms));
    let mut results: Vec<(usize, Observe, Samples)> = Vec::new();
    for (mode, count) in [(Observe::Monitor, args.additions), (poll, args.poll_additions)] {
        let mut samples: Vec<Samples> = beds.iter().map(|_| Samples::default()).collect();
        for k in 0..count {
            // Alternate which system goes first.
            let order: Vec<usize> =
                if k % 2 == 0 { (0..beds.len()).collect() } else { (0..beds.len()).rev().collect() };
            for b in order {
                let bed = &mut beds[b];
                let s = &mut samples[b];
                let label = &systems[b].label;
                let offset = if matches!(mode, Observe::Monitor) { 0 } else { args.additions };
                let prefix = bed.prefix(k + offset);
                let method = if matches!(mode, Observe::Monitor) { "events" } else { "poll" };
                let wall = unix_now();
                match bed.add(prefix, mode, LIMIT).await {
                    Some(d) => {
                        s.add.push(d);
                        let ms = d.as_secs_f64() * 1e3;
                        csv.push_str(&format!("{label},{method},{k},add,{ms:.3},{wall:.6}\n"));
                    }
                    None => {
                        s.add_missed += 1;
                        eprintln!("{label}: {prefix} did not arrive within {LIMIT:?}");
                    }
                }
                tokio::time::sleep(settle).await;
                let wall = unix_now();
                match bed.remove(prefix, mode, LIMIT).await {
                    Some(d) => {
                        s.del.push(d);
                        let ms = d.as_secs_f64() * 1e3;
                        csv.push_str(&format!("{label},{method},{k},del,{ms:.3},{wall:.6}\n"));
                    }
                    None => {
                        s.del_missed += 1;
                        eprintln!("{label}: {prefix} still there after {LIMIT:?}");
                    }
                }
                tokio::time::sleep(settle + Duration::from_millis(jitter.next_ms(20))).await;
            }
        }
        for (b, s) in samples.into_iter().enumerate() {
            results.push((b, mode, s));
        }
    }
    let load_after = load_average();

    println!("| system | change | seen by | n | missed | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    for (b, mode, s) in &mut results {
        let method = match mode {
            Observe::Monitor => "route events".to_string(),
            Observe::Poll(d) => format!("`ip route show` every {} ms", d.as_millis()),
        };
        if s.add.is_empty() && s.add_missed == 0 {
            continue;
        }
        let name = &systems[*b].label;
        println!("{}", row(name, "addition", &method, &mut s.add, s.add_missed));
        println!("{}", row(name, "withdrawal", &method, &mut s.del, s.del_missed));
    }
    println!();
    println!("nodes: {} (node 1 → node {}), settle {} ms", args.nodes, args.nodes, args.settle_ms);
    println!("load average before: {load_before}; after: {load_after}");
    for e in systems {
        match e.system {
            System::Tern => println!("tern-speaker {} ({})", env!("CARGO_PKG_VERSION"), e.bins.speaker.display()),
            System::Bird1 => println!("{} ({})", bird_version(&e.bins.bird1), e.bins.bird1.display()),
        }
    }
    if let Some(path) = &args.csv {
        std::fs::write(path, csv).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
