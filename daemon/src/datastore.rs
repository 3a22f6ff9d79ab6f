//! Datastore mode: the desired state comes from Calico's etcd v3 datastore instead of a file.
//!
//! The [`etcd`] syncer lists Calico's objects once (one revision for every prefix), keeps a
//! [`Datastore`](config::calico::Datastore) snapshot current from a watch that starts at the
//! revision after the list, and after every change derives the node's
//! [`DesiredState`] again (`config::calico` translation, as confd does it). A state that differs
//! from the last one sent goes to the daemon ([`node::Source::Stream`](crate::node::Source)), which
//! applies only the difference: untouched sessions stay up.
//!
//! - **Revisions**: each watched prefix remembers the revision after the last event it applied;
//!   a watch re-created after a disconnection starts there, and an event older than it is never
//!   applied again.
//! - **Compaction**: a watch canceled because its start revision was compacted away leads to a
//!   full resync: list again, rebuild the snapshot, send the new state (the daemon diffs it).
//! - **Outage**: while etcd cannot be reached the daemon keeps running with the last state
//!   (sessions and routes stay); the syncer logs a warning when the outage starts and every
//!   [`OUTAGE_LOG_INTERVAL`](etcd::OUTAGE_LOG_INTERVAL) after, and retries with a bounded
//!   backoff.
//! - **Malformed objects** are logged with their key and skipped; the rest go on.
//!
//! What the datastore does not carry — control socket paths, the kernel table, logging — comes
//! from [`LocalSettings`]: the `[kernel]`, `[control]` and `[log]` tables of an optional TOML file
//! (the same tables as tern's configuration file, whose other tables are ignored here).

pub mod cli;
pub mod dry_run;
pub mod etcd;

use std::path::Path;

use config::calico::{Datastore, TranslateOptions, WATCH_PREFIXES};
use config::schema::{Control, Kernel, Log};
use config::DesiredState;
use config::KernelState;
use serde::Deserialize;

pub use etcd::{EtcdError, EtcdOptions, Syncer, TlsFiles};

/// The Calico resource kinds tern reads, under the first of [`WATCH_PREFIXES`]. Listing and
/// watching these rather than the whole resource tree keeps workload endpoints, policies and
/// the like (the bulk of a real cluster's keys, and their churn) off this connection.
const RESOURCE_KINDS: [&str; 4] = ["nodes/", "bgppeers/", "bgpconfigurations/", "ippools/"];

/// The etcd prefixes the syncer lists and watches.
pub fn watch_prefixes() -> Vec<String> {
    let [resources, ipam] = WATCH_PREFIXES;
    let mut out: Vec<String> = RESOURCE_KINDS.iter().map(|k| format!("{resources}{k}")).collect();
    out.push(ipam.to_string());
    out
}

/// Daemon settings the datastore does not carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalSettings {
    pub kernel: KernelState,
    pub control: Control,
    pub log: Log,
}

impl Default for LocalSettings {
    fn default() -> Self {
        LocalSettings { kernel: kernel_state(&Kernel::default()), control: Control::default(), log: Log::default() }
    }
}

/// The tables of a configuration file that matter in datastore mode; the others are ignored.
#[derive(Deserialize)]
struct LocalFile {
    kernel: Option<Kernel>,
    control: Option<Control>,
    log: Option<Log>,
}

fn kernel_state(k: &Kernel) -> KernelState {
    KernelState {
        table: k.table,
        protocol: *k.protocol.get_ref(),
        learn: k.learn,
        learn_protocols: k.learn_protocols.clone(),
        program: k.program,
        keep_routes_on_shutdown: k.keep_routes_on_shutdown,
    }
}

impl LocalSettings {
    /// Reads `[kernel]`, `[control]` and `[log]` from a TOML file; absent tables keep their
    /// defaults. The error names the file (and the line and column of a syntax error).
    pub fn load(path: &Path) -> Result<LocalSettings, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<LocalSettings, String> {
        let file: LocalFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let d = LocalSettings::default();
        Ok(LocalSettings {
            kernel: file.kernel.as_ref().map(kernel_state).unwrap_or(d.kernel),
            control: file.control.unwrap_or(d.control),
            log: file.log.unwrap_or(d.log),
        })
    }

    /// Puts these settings into a state derived from the datastore.
    pub fn apply(&self, state: &mut DesiredState) {
        state.kernel = self.kernel.clone();
        state.control = self.control.clone();
        state.log = self.log.clone();
    }
}

/// What the daemon (or a dry run) derives its state from.
#[derive(Clone, Debug)]
pub struct DatastoreOptions {
    pub etcd: EtcdOptions,
    /// The Calico Node this daemon runs for (`--node` or `NODENAME`).
    pub node: String,
    pub translate: TranslateOptions,
    pub local: LocalSettings,
    /// tern-reflector: a state without a route-reflector cluster ID is refused.
    pub require_reflector: bool,
    /// Listen ranges (dynamic neighbors, `--listen-range`): Calico has no resource for them, so
    /// they come from the command line and are put into every derived state.
    pub listen_ranges: Vec<ipnet::IpNet>,
}

/// Why a snapshot gives no state for this node.
pub fn derive(ds: &Datastore, options: &DatastoreOptions) -> Result<DesiredState, String> {
    let mut state = ds.desired_state(&options.node, &options.translate).map_err(|e| e.to_string())?;
    if options.require_reflector && state.rr_cluster_id.is_none() {
        return Err(format!(
            "Node {:?} has no spec.bgp.routeReflectorClusterID: tern-reflector runs only for a route \
             reflector node (run tern-speaker for the others)",
            options.node
        ));
    }
    options.local.apply(&mut state);
    state.listen_ranges = options.listen_ranges.clone();
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_settings_take_the_daemon_tables_and_ignore_the_rest() {
        let s = LocalSettings::parse(
            "[global]\nasn = 1\n[kernel]\nprogram = false\nlearn = false\ntable = 100\n\
             [control]\nsocket = \"/tmp/x.ctl\"\n[log]\nlevel = \"debug\"\n",
        )
        .expect("parse");
        assert!(!s.kernel.program && !s.kernel.learn);
        assert_eq!(s.kernel.table, 100);
        assert_eq!(s.control.socket, std::path::PathBuf::from("/tmp/x.ctl"));
        assert_eq!(s.control.socket6, Control::default().socket6);
        assert_eq!(s.log.level, config::schema::LogLevel::Debug);
        assert_eq!(LocalSettings::parse("").expect("empty"), LocalSettings::default());
    }

    #[test]
    fn local_settings_errors_name_the_position() {
        let e = LocalSettings::parse("[kernel]\ntable = \"x\"\n").expect_err("bad table");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn watch_prefixes_cover_every_kind_the_model_reads() {
        let p = watch_prefixes();
        for key in [
            "/calico/resources/v3/projectcalico.org/nodes/n1",
            "/calico/resources/v3/projectcalico.org/bgppeers/p",
            "/calico/resources/v3/projectcalico.org/bgpconfigurations/default",
            "/calico/resources/v3/projectcalico.org/ippools/pool",
            "/calico/ipam/v2/host/n1/ipv4/block/10.0.0.0-26",
        ] {
            assert!(config::calico::parse_key(key).expect("key").is_some(), "{key}");
            assert_eq!(p.iter().filter(|p| key.starts_with(p.as_str())).count(), 1, "{key}");
        }
        assert!(!p.iter().any(|p| "/calico/resources/v3/projectcalico.org/workloadendpoints/x".starts_with(p)));
    }
}
