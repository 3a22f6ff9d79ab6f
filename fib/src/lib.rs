//! tern's hands on the node's routing table, over rtnetlink (rtnetlink(7)).
//!
//! **Watch (kernel → tern).** A full dump at start, then multicast events for
//! IPv4/IPv6 routes and links; no periodic rescan. Lost events (`Overrun`),
//! a link going down or away (the kernel drops IPv4 routes without telling)
//! trigger a new dump, diffed against what is known. A [`RouteFilter`]
//! selects the routes BGP sees; consumers read [`LocalRouteEvent`]s from
//! [`FibEvents`] and may ask for a [`Fib::snapshot`]. Routes of tern's own
//! protocol are never reported, and the kernel's echoes of our own installs
//! are dropped before they reach user space (a BPF filter on the socket).
//!
//! **Install (tern → kernel).** [`Fib::apply`] takes [`RouteChange`]s; routes
//! go into one table with tern's protocol number (default 12) with replace
//! semantics, many requests per `sendmsg` (acks matched by sequence
//! number). Routes of our protocol left by a
//! previous run are kept until re-learned, end-of-RIB or a deadline.
//! Routes of other programs are never replaced or removed.
//!
//! Layout: [`route`], [`filter`], [`view`] and [`reconcile`] are sans-IO
//! (plain data and state machines, unit-tested); [`message`] translates
//! netlink messages; `driver`, `batch` and `netns` hold the tokio and socket
//! code.

pub mod filter;
pub mod message;
pub mod reconcile;
pub mod route;
pub mod testns;
pub mod view;

mod batch;
mod driver;
mod netns;

pub use driver::{Fib, FibConfig, FibEvents, FibStatus, RouteChange, ShutdownMode};
pub use filter::{InterfacePattern, PrefixRange, RouteFilter};
pub use reconcile::{PendingReason, ReconcilerStatus};
pub use route::{
    Gateway, InvalidRoute, LocalNextHop, LocalRoute, LocalRouteEvent, Route, RouteKey, RouteKind, RouteTarget,
    PROTO_BIRD, PROTO_BOOT, PROTO_FELIX, TABLE_LOCAL, TABLE_MAIN,
};

/// Why the kernel sync could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum FibError {
    #[error("netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("network namespace: {0}")]
    Netns(String),
    #[error("netlink: {0}")]
    Netlink(String),
    #[error("the kernel sync has stopped")]
    Stopped,
}
