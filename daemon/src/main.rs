//! `tern-speaker`: the Calico node daemon (BIRD's place in calico-node).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tern_speaker::datastore::cli::{DaemonArgs, DatastoreArgs, Role};
use tern_speaker::node::{self, Options, Source};

/// tern's BGP daemon for Calico nodes.
#[derive(Parser, Debug)]
#[command(name = "tern-speaker", version, about)]
struct Cli {
    /// The node's configuration file (TOML; see config/REFERENCE.md). With
    /// --datastore only its [kernel], [control] and [log] tables are read.
    #[arg(short, long, value_name = "FILE", required_unless_present_any = ["datastore", "dry_run"])]
    config: Option<PathBuf>,
    /// Check the configuration and exit: 0 when valid, otherwise the errors
    /// (file:line:column) on stderr and status 1 (like `bird -p`).
    #[arg(long)]
    check: bool,
    /// Started after a restart (like `bird -R`): set the graceful-restart R
    /// bit and defer route selection until the peers' End-of-RIB.
    #[arg(short = 'R', long)]
    recovery: bool,
    /// Longest wait for End-of-RIB in recovery, seconds.
    #[arg(long, default_value_t = 240, value_name = "SECONDS")]
    recovery_wait: u64,
    /// Serve no control socket and no HTTP endpoints.
    #[arg(long)]
    no_control: bool,
    #[command(flatten, next_help_heading = "Datastore mode")]
    datastore: DatastoreArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.datastore.datastore.is_some() || cli.datastore.dry_run {
        let daemon = DaemonArgs {
            config: cli.config,
            recovery: cli.recovery,
            recovery_wait: Duration::from_secs(cli.recovery_wait),
            no_control: cli.no_control,
        };
        return tern_speaker::datastore::cli::run(cli.datastore, daemon, Role::Speaker);
    }
    let Some(config) = cli.config else {
        eprintln!("tern-speaker: give --config FILE or --datastore etcd");
        return ExitCode::from(2);
    };
    let state = match node::load(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    if cli.check {
        println!("{}: configuration OK ({} peers)", config.display(), state.peers.len());
        return ExitCode::SUCCESS;
    }
    tern_speaker::logging::init(state.log.level, state.log.format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tern-speaker: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let options = Options {
        source: Source::File(config),
        recovery: cli.recovery,
        recovery_wait: Duration::from_secs(cli.recovery_wait),
        no_control: cli.no_control,
    };
    match runtime.block_on(node::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tern-speaker: {e:#}");
            ExitCode::from(1)
        }
    }
}
