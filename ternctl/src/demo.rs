//! `ternctl demo`: a small Calico-shaped cluster of tern-speakers on this
//! machine, shown the way an operator would look at it, then stopped.
//!
//! Two groups: three nodes in Calico's node-to-node mesh, and three nodes
//! behind a tern route reflector. As root each node runs in a network
//! namespace of its own, so routes land in real kernel tables (shown with
//! `ip route`); otherwise the nodes share loopback addresses and the demo
//! shows tern's own route table.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tern_speaker::cluster::{Cluster, ClusterSpec};

use crate::birdc::Client;
use crate::status::{self, SocketArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The tern-speaker binary (default: beside ternctl, then $PATH).
    #[arg(long, value_name = "PATH")]
    pub speaker: Option<PathBuf>,
    /// Keep the cluster running this many seconds after showing it (to look
    /// around with `ternctl --socket ...`).
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub hold: u64,
    /// Use loopback addresses even as root (no namespaces, no kernel routes).
    #[arg(long)]
    pub loopback: bool,
}

const CONVERGE: Duration = Duration::from_secs(40);

fn find_speaker(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(p) = &args.speaker {
        return Ok(p.clone());
    }
    if let Some(dir) = std::env::current_exe().ok().as_deref().and_then(Path::parent) {
        let p = dir.join("tern-speaker");
        if p.exists() {
            return Ok(p);
        }
    }
    for dir in std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default() {
        let p = dir.join("tern-speaker");
        if p.exists() {
            return Ok(p);
        }
    }
    bail!("tern-speaker not found beside ternctl or in $PATH (build it: cargo build --release -p tern-speaker, or pass --speaker)")
}

/// (peers, established) on a node's IPv4 socket.
fn peer_count(socket: &Path) -> Option<(usize, usize)> {
    let mut c = Client::connect(socket).ok()?;
    let reply = c.command("show protocols").ok()?;
    let rows = status::peer_rows(&reply, '.').ok()?;
    Some((rows.len(), rows.iter().filter(|r| r.info.starts_with("Established")).count()))
}

/// Prefixes in a node's Loc-RIB (`show route`).
fn route_count(socket: &Path) -> usize {
    let Ok(mut c) = Client::connect(socket) else { return 0 };
    let Ok(reply) = c.command("show route") else { return 0 };
    // A route line starts with its prefix; further paths of it start with `via`.
    reply
        .lines
        .iter()
        .filter(|l| {
            l.text
                .split_whitespace()
                .next()
                .is_some_and(|t| t.contains('/') && t.starts_with(|c: char| c.is_ascii_hexdigit()))
        })
        .count()
}

fn converged(cluster: &Cluster) -> bool {
    let blocks = cluster.nodes.iter().filter(|n| n.spec.rr_cluster_id.is_none()).count();
    cluster.nodes.iter().all(|n| {
        let peers_up = matches!(peer_count(&n.socket), Some((p, e)) if p > 0 && p == e);
        // Every node ends with every block (its own included).
        peers_up && route_count(&n.socket) >= blocks
    })
}

fn show(title: &str, cluster: &Cluster, node: usize, namespaces: bool) {
    let n = &cluster.nodes[node];
    println!("\n=== {title}: {} ({}) ===", n.spec.name, n.spec.address.addr());
    println!("$ ternctl status");
    let args = SocketArgs { socket: n.socket.clone() };
    if let Err(e) = status::status(&args) {
        println!("{e}");
    }
    if namespaces {
        println!("$ ip route   # the node's kernel table; proto bird = installed by tern");
        for l in n.routes(&[]) {
            println!("{l}");
        }
    } else {
        println!("$ ternctl routes");
        if let Err(e) = status::routes(&args, None) {
            println!("{e}");
        }
    }
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let speaker = find_speaker(args)?;
    let namespaces = !args.loopback && tern_speaker::cluster::namespaces_available();
    println!(
        "tern demo: 3 nodes in a node-to-node mesh and 3 nodes behind a tern route reflector, {}.",
        if namespaces {
            "each in its own network namespace on a bridge (routes go into real kernel tables)"
        } else {
            "on loopback addresses (not root: no kernel routes; run as root for namespaces)"
        }
    );
    let tag = format!("demo{}", std::process::id() % 10_000);
    let mesh = Cluster::start(ClusterSpec::mesh(&format!("{tag}m"), 1, 3, speaker.clone(), namespaces))
        .context("starting the mesh group")?;
    let reflected = Cluster::start(ClusterSpec::reflected(&format!("{tag}r"), 2, 3, speaker, namespaces))
        .context("starting the route-reflector group")?;
    println!("waiting for the sessions and routes (at most {} s)...", CONVERGE.as_secs());
    let ok = Cluster::wait_for(CONVERGE, || converged(&mesh) && converged(&reflected));
    if !ok {
        for n in mesh.nodes.iter().chain(reflected.nodes.iter()) {
            eprintln!("--- {} log ({}):\n{}", n.spec.name, n.log.display(), n.log_text());
        }
        bail!("the demo cluster did not converge within {} s", CONVERGE.as_secs());
    }
    show("mesh group", &mesh, 0, namespaces);
    show("route reflector", &reflected, 0, namespaces);
    show("reflector client", &reflected, 1, namespaces);
    if args.hold > 0 {
        println!("\nholding for {} s; sockets: {}", args.hold, mesh.dir.display());
        std::thread::sleep(Duration::from_secs(args.hold));
    }
    drop(reflected);
    drop(mesh);
    println!("\ndemo stopped: every tern-speaker, namespace and file it made is gone.");
    Ok(ExitCode::SUCCESS)
}
