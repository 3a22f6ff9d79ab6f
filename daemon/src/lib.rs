//! `tern-speaker`: the daemon a Calico node runs in place of BIRD.
//!
//! The binary (`src/main.rs`) wires the pieces: the configuration
//! ([`config`]), the BGP engine ([`speaker::engine`]), the kernel sync
//! ([`fib`]), Calico's route rules ([`calico`]) and the control plane
//! ([`control`]: BIRD's control-socket protocol and HTTP).

pub mod calico;
pub mod cluster;
pub mod control;
pub mod datastore;
pub mod logging;
pub mod node;
pub mod peers;
pub mod status;
