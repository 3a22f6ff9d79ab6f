//! `ternctl`: tern's operator tool.
//!
//! Subcommands:
//! - `decode [FILE|-]`: a raw stream of BGP messages (one TCP direction's
//!   payload) as one JSON object per message;
//! - `mrt FILE`: an MRT dump (RFC 6396) as `bgpdump -m` prints it;
//! - `selector EXPR [--labels JSON]`: whether a Calico label selector matches.

mod decode;
mod mrt;
mod selector;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "ternctl", version, about = "tern's operator tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode(args) => decode::run(&args),
        Command::Mrt { file } => mrt::run(&file).map(|()| ExitCode::SUCCESS),
        Command::Selector(args) => selector::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ternctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
