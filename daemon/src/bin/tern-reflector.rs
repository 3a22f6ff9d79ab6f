//! `tern-reflector`: the dedicated route-reflector pod of a Calico cluster.
//!
//! It runs the node daemon in datastore mode for a Calico Node that has
//! `spec.bgp.routeReflectorClusterID` (and refuses any other node): its
//! clients are the nodes Calico's rules give it (same AS, other or no cluster
//! ID) and the BGPPeers that select it, kept in step with etcd as nodes come
//! and go. Replicas are Nodes sharing one cluster ID: they peer with each
//! other as non-clients and every client peers with each of them.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tern_speaker::datastore::cli::{DaemonArgs, DatastoreArgs, DatastoreKind, Role};

/// tern's clustered BGP route reflector for Calico (etcd datastore).
#[derive(Parser, Debug)]
#[command(
    name = "tern-reflector",
    version,
    about = "tern's clustered BGP route reflector for Calico: runs a Node with a routeReflectorClusterID from etcd"
)]
struct Cli {
    /// Daemon-local settings: the [kernel], [control] and [log] tables of a
    /// tern configuration file (the rest comes from etcd).
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Started after a restart: graceful-restart R bit, deferred selection.
    #[arg(short = 'R', long)]
    recovery: bool,
    /// Longest wait for End-of-RIB in recovery, seconds.
    #[arg(long, default_value_t = 240, value_name = "SECONDS")]
    recovery_wait: u64,
    /// Serve no control socket and no HTTP endpoints.
    #[arg(long)]
    no_control: bool,
    #[command(flatten)]
    datastore: DatastoreArgs,
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // etcd is the only datastore; `--datastore etcd` may be given or not.
    cli.datastore.datastore = Some(DatastoreKind::Etcd);
    let daemon = DaemonArgs {
        config: cli.config,
        recovery: cli.recovery,
        recovery_wait: Duration::from_secs(cli.recovery_wait),
        no_control: cli.no_control,
    };
    tern_speaker::datastore::cli::run(cli.datastore, daemon, Role::Reflector)
}
