//! The datastore flags shared by `tern-speaker` and `tern-reflector`, and what they run.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use config::calico::TranslateOptions;
use config::schema::{LogLevel, RouterIdSpec};

use super::{derive, dry_run, etcd, watch_prefixes, DatastoreOptions, EtcdOptions, LocalSettings, TlsFiles};
use crate::node::{self, Options, Source};

/// The datastores tern reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DatastoreKind {
    /// Calico's etcd v3 datastore.
    Etcd,
}

/// `--datastore etcd` and its settings (environment names as calico-node's).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct DatastoreArgs {
    /// Take the desired state from a datastore instead of a configuration file.
    #[arg(long, value_enum)]
    pub datastore: Option<DatastoreKind>,
    /// etcd endpoints.
    #[arg(long, env = "ETCD_ENDPOINTS", value_delimiter = ',', value_name = "URL[,URL]")]
    pub etcd_endpoints: Vec<String>,
    /// CA certificate of etcd's server certificate (PEM).
    #[arg(long, env = "ETCD_CA_CERT_FILE", value_name = "FILE")]
    pub etcd_ca: Option<PathBuf>,
    /// Client certificate (PEM).
    #[arg(long, env = "ETCD_CERT_FILE", value_name = "FILE", requires = "etcd_key")]
    pub etcd_cert: Option<PathBuf>,
    /// Client certificate's key (PEM).
    #[arg(long, env = "ETCD_KEY_FILE", value_name = "FILE", requires = "etcd_cert")]
    pub etcd_key: Option<PathBuf>,
    /// The Calico Node this daemon runs for.
    #[arg(long, env = "NODENAME", value_name = "NAME")]
    pub node: Option<String>,
    /// Router ID: an IPv4 address, or `hash` for one derived from the node name (calico-node's
    /// CALICO_ROUTER_ID); default: the node's IPv4 address.
    #[arg(long, env = "CALICO_ROUTER_ID", value_name = "ADDRESS|hash", value_parser = parse_router_id)]
    pub router_id: Option<RouterIdSpec>,
    /// Where BGP passwords' secrets are: `DIR/<secret name>/<key>` (a mounted Kubernetes secret).
    #[arg(long, value_name = "DIR", default_value = "/etc/tern/secrets")]
    pub secret_dir: PathBuf,
    /// Listen ranges (dynamic neighbors): a BGP connection from an address inside one of these
    /// CIDRs that is no configured peer's is accepted as an iBGP peer (a route-reflector client
    /// on a reflector) instead of refused, e.g. a node whose Node object has not arrived yet.
    #[arg(long = "listen-range", env = "TERN_LISTEN_RANGES", value_delimiter = ',', value_name = "CIDR[,CIDR]",
          value_parser = parse_cidr)]
    pub listen_ranges: Vec<ipnet::IpNet>,
    /// Read the datastore once, print the state derived for the node as JSON and exit (no session
    /// is opened).
    #[arg(long)]
    pub dry_run: bool,
}

/// A CIDR, truncated to its network (`10.0.0.1/16` is `10.0.0.0/16`), as `[global]
/// listen_ranges` reads it.
fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    s.trim()
        .parse::<ipnet::IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| format!("{s:?}: expected a CIDR such as 10.0.0.0/16 or fd00::/64"))
}

fn parse_router_id(s: &str) -> Result<RouterIdSpec, String> {
    if s == "hash" {
        return Ok(RouterIdSpec::Hash);
    }
    s.parse().map(RouterIdSpec::Address).map_err(|_| format!("{s:?}: expected an IPv4 address or \"hash\""))
}

/// The daemon flags that also apply in datastore mode.
#[derive(Clone, Debug)]
pub struct DaemonArgs {
    /// `--config`: only its `[kernel]`, `[control]` and `[log]` tables are read.
    pub config: Option<PathBuf>,
    pub recovery: bool,
    pub recovery_wait: Duration,
    pub no_control: bool,
}

/// Which binary runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Speaker,
    /// `tern-reflector`: the node must be a route reflector.
    Reflector,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Speaker => "tern-speaker",
            Role::Reflector => "tern-reflector",
        }
    }
}

fn options(args: &DatastoreArgs, daemon: &DaemonArgs, role: Role) -> Result<DatastoreOptions, String> {
    let node = args.node.clone().filter(|n| !n.is_empty()).ok_or("no node name: give --node NAME or set NODENAME")?;
    let local = match &daemon.config {
        Some(path) => LocalSettings::load(path)?,
        None => LocalSettings::default(),
    };
    let etcd = EtcdOptions {
        endpoints: args.etcd_endpoints.iter().map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect(),
        tls: TlsFiles { ca: args.etcd_ca.clone(), cert: args.etcd_cert.clone(), key: args.etcd_key.clone() },
    };
    etcd.validate().map_err(|e| e.to_string())?;
    Ok(DatastoreOptions {
        etcd,
        node,
        translate: TranslateOptions { secret_dir: args.secret_dir.clone(), router_id: args.router_id },
        local,
        require_reflector: role == Role::Reflector,
        listen_ranges: args.listen_ranges.clone(),
    })
}

/// Runs `--datastore etcd` (or `--dry-run`) to the end; the exit status for `main`.
pub fn run(args: DatastoreArgs, daemon: DaemonArgs, role: Role) -> ExitCode {
    let name = role.name();
    let opts = match options(&args, &daemon, role) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    // A dry run reports malformed objects and errors only.
    let level = if args.dry_run { LogLevel::Warn } else { opts.local.log.level };
    crate::logging::init(level, opts.local.log.format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result =
        if args.dry_run { runtime.block_on(print_dry_run(&opts)) } else { runtime.block_on(run_daemon(opts, daemon)) };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(1)
        }
    }
}

async fn print_dry_run(opts: &DatastoreOptions) -> Result<(), String> {
    let ds = etcd::read_once(&opts.etcd, &watch_prefixes()).await.map_err(|e| e.to_string())?;
    let state = derive(&ds, opts)?;
    let malformed: Vec<(String, String)> = ds.malformed().map(|e| (e.key.clone(), e.message.clone())).collect();
    let doc = dry_run::render(&state, &malformed);
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| format!("stdout: {e}"))
}

async fn run_daemon(opts: DatastoreOptions, daemon: DaemonArgs) -> Result<(), String> {
    let (stream, syncer) = etcd::start(opts).await?;
    let options = Options {
        source: Source::Stream(Box::new(stream)),
        recovery: daemon.recovery,
        recovery_wait: daemon.recovery_wait,
        no_control: daemon.no_control,
    };
    let result = node::run(options).await.map_err(|e| format!("{e:#}"));
    syncer.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        datastore: DatastoreArgs,
    }

    #[test]
    fn listen_ranges_are_a_comma_list_of_cidrs_truncated_to_their_network() {
        let cli =
            Cli::try_parse_from(["t", "--listen-range", "127.100.0.0/16, 10.1.2.3/24", "--listen-range", "fd00::1/64"])
                .expect("parse");
        let want: Vec<ipnet::IpNet> =
            ["127.100.0.0/16", "10.1.2.0/24", "fd00::/64"].iter().map(|s| s.parse().expect("net")).collect();
        assert_eq!(cli.datastore.listen_ranges, want);
        assert!(Cli::try_parse_from(["t"]).expect("parse").datastore.listen_ranges.is_empty());
    }

    #[test]
    fn a_malformed_listen_range_is_refused_with_the_value() {
        let e = Cli::try_parse_from(["t", "--listen-range", "10.0.0.0/33"]).err().expect("refused").to_string();
        assert!(e.contains("10.0.0.0/33"), "{e}");
        let e = Cli::try_parse_from(["t", "--listen-range", "10.0.0.1"]).err().expect("no length").to_string();
        assert!(e.contains("expected a CIDR"), "{e}");
    }
}
