//! `ternctl selector 'EXPR' [--labels '{"k":"v"}']`: parses a Calico label selector and says
//! whether it matches the labels (none given: no labels).
//!
//! Exit status: 0 when it matches, 1 when it does not, 2 when the selector or the labels do not
//! parse (the message names the selector's column).

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{bail, Context};
use config::calico::Selector;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The selector, e.g. "rack == 'rack-1' && has(route-reflector)".
    pub selector: String,
    /// The labels to test, as a JSON object of strings.
    #[arg(long, default_value = "{}")]
    pub labels: String,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let selector = match Selector::parse(&args.selector) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ternctl: selector: column {}: {}", e.column, e.message);
            eprintln!("  {}", args.selector);
            eprintln!("  {}^", " ".repeat(e.column.saturating_sub(1)));
            return Ok(ExitCode::from(2));
        }
    };
    let labels = match parse_labels(&args.labels) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ternctl: selector: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let matched = selector.matches(&labels);
    println!("selector: {selector}");
    println!("{}", if matched { "matches" } else { "does not match" });
    Ok(if matched { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn parse_labels(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let value: serde_json::Value = serde_json::from_str(text).context("--labels is not JSON")?;
    let Some(object) = value.as_object() else {
        bail!("--labels must be a JSON object like {{\"rack\":\"rack-1\"}}");
    };
    object
        .iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.clone(), s.to_string())),
            None => bail!("--labels: the value of {k:?} is not a string"),
        })
        .collect()
}
