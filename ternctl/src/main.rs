//! `ternctl`: tern's operator tool.
//!
//! Subcommands:
//! - `decode [FILE|-]`: a raw stream of BGP messages (one TCP direction's
//!   payload) as one JSON object per message;
//! - `mrt FILE`: an MRT dump (RFC 6396) as `bgpdump -m` prints it;
//! - `selector EXPR [--labels JSON]`: whether a Calico label selector matches;
//! - `status`, `routes [PREFIX]`, `peer NAME`, `reload`: ask a running
//!   tern-speaker over its control socket (`--socket PATH`);
//! - `demo`: a small cluster of tern-speakers on this machine, shown and stopped.

mod birdc;
mod decode;
mod demo;
mod mrt;
mod selector;
mod status;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "ternctl", version, about = "tern's operator tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    socket: status::SocketArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decode a raw stream of concatenated BGP messages into JSON lines.
    ///
    /// One object per message (offset, length, type, message fields, or the
    /// classified error of a malformed one). Exit status: 0 when every
    /// message decoded, 2 when some were malformed, 1 when the stream could
    /// not be framed to its end (header error, truncated last message).
    Decode(decode::Args),
    /// Print an MRT dump (plain, gzip or bzip2) like `bgpdump -m`.
    Mrt {
        /// The MRT file.
        file: PathBuf,
    },
    /// Test a Calico label selector against labels (exit 0 match, 1 no match, 2 parse error).
    Selector(selector::Args),
    /// BGP peers of the running tern-speaker, as `calicoctl node status`
    /// shows them.
    Status,
    /// Routes of the running tern-speaker (`show route [for PREFIX]`).
    Routes {
        /// An address or prefix: the most specific route covering it.
        prefix: Option<String>,
    },
    /// One peer in detail (`show protocols all NAME`), e.g. Mesh_10_0_0_2.
    Peer {
        /// The peer's name.
        name: String,
    },
    /// Re-read the configuration file and apply the difference.
    Reload,
    /// Start a small cluster of tern-speakers on this machine (a mesh group
    /// and a route-reflector group; network namespaces as root), show its
    /// status and routes, and stop it.
    Demo(demo::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode(args) => decode::run(&args),
        Command::Mrt { file } => mrt::run(&file).map(|()| ExitCode::SUCCESS),
        Command::Selector(args) => selector::run(&args),
        Command::Status => status::status(&cli.socket).map_err(Into::into),
        Command::Routes { prefix } => status::routes(&cli.socket, prefix.as_deref()).map_err(Into::into),
        Command::Peer { name } => status::peer(&cli.socket, &name).map_err(Into::into),
        Command::Reload => status::reload(&cli.socket).map_err(Into::into),
        Command::Demo(args) => demo::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ternctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
