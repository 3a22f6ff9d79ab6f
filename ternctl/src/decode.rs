//! `ternctl decode [FILE|-]`: a raw BGP byte stream as JSON lines.

use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `ternctl decode`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// File holding the stream; `-` or nothing for standard input.
    pub file: Option<PathBuf>,
}

pub fn run(_args: &Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
