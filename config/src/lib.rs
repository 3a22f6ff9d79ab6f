//! tern-speaker's configuration: one TOML file per node.
//!
//! [`parse`] / [`load`] read and check a file: syntax errors, unknown keys and wrong types stop at
//! the first (the TOML parser's), then every semantic problem is collected. Each [`Diagnostic`]
//! names `file:line:column` and what was expected. [`DesiredState::from_config`] applies Calico's
//! confd rules (mesh, route-reflector clients, protocol names) and [`diff`] compares two states
//! for a reload. Keys and defaults: `config/REFERENCE.md`.

pub mod calico;
mod desired;
mod error;
mod router_id;
pub mod schema;
mod validate;

use std::path::Path;

pub use desired::{
    diff, protocol_name, CalicoState, DesiredPeer, DesiredState, KernelState, Password, PeerDiff, PeerKind, PoolState,
    TtlMode, CALICO_EXPORT_POLICY, CALICO_IMPORT_POLICY, CONNECT_DELAY_TIME, CONNECT_RETRY_TIME,
    DEFAULT_GRACEFUL_RESTART_TIME, DEFAULT_HOLD_TIME, DEFAULT_MULTIHOP_TTL, ERROR_WAIT_TIME,
};
pub use error::{ConfigError, Diagnostic};
pub use router_id::hash_router_id;
pub use schema::Config;
pub use validate::Community;

use error::Locator;

/// Parses and checks `text`; `file` names it in error messages.
pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
    let loc = Locator::new(file, text);
    let cfg: Config = toml::from_str(text).map_err(|e| ConfigError {
        diagnostics: vec![loc.diagnostic(e.span(), e.message().trim_end().replace('\n', " "))],
    })?;
    let diagnostics = validate::validate(&cfg, &loc);
    if diagnostics.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigError { diagnostics })
    }
}

/// Reads, parses and checks the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        diagnostics: vec![Diagnostic { file: name.clone(), line: 0, column: 0, message: format!("cannot read: {e}") }],
    })?;
    parse(&text, &name)
}

/// Reads a file and derives the state to run.
pub fn load_desired(path: &Path) -> Result<DesiredState, ConfigError> {
    load(path).map(|c| DesiredState::from_config(&c))
}
