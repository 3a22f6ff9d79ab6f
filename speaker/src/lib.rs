//! tern's BGP engine.
//!
//! This part is sans-IO: the peer state machine of RFC 4271 §8 ([`fsm`]) and
//! capability negotiation ([`mod@negotiate`]) take events and time from a driver
//! and return actions; no sockets, no clock, no tokio.
//!
//! The RIB ([`rib`]) is sans-IO too: one owner, [`rib::Input`] in and
//! [`rib::Output`] (FIB changes, UPDATE bytes per update group) out.

pub mod config;
pub mod engine;
pub mod fsm;
pub mod negotiate;
pub mod policy;
pub mod rib;

pub use config::{GracefulRestartConfig, PeerConfig, Timers};
pub use fsm::{Action, ConnId, Direction, DownReason, Input, Peer, State};
pub use negotiate::{negotiate, Negotiated, NegotiatedGracefulRestart};
