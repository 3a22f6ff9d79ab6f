//! The BGP peer state machine (RFC 4271 §8), sans-IO.
//!
//! A [`Peer`] owns no socket and reads no clock. The driver feeds it
//! [`Input`]s with the current time and carries out the [`Action`]s it
//! returns; timers are deadlines the driver asks for with
//! [`Peer::poll_timeout`] and reports with [`Peer::handle_timeout`].
//!
//! One peer may have two TCP connections at once while a connection
//! collision (RFC 4271 §6.8) is being resolved; each has its own
//! per-connection state, and the peer's [`State`] is the most advanced of them.

mod peer;

use bgp_proto::{Message, Notification};

use crate::negotiate::{Negotiated, NegotiatedGracefulRestart};

pub use peer::Peer;

/// A TCP connection of one peer, named by the FSM (outgoing: in
/// [`Action::Connect`]; incoming: from [`Peer::incoming_conn_id`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Who opened a TCP connection; decides which one survives a collision (RFC 4271 §6.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We connected to the peer.
    Outgoing,
    /// The peer connected to us.
    Incoming,
}

/// RFC 4271 §8.2.2 session states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Stopped, or waiting out the IdleHold time after an error.
    Idle,
    /// An outgoing TCP connection is being set up.
    Connect,
    /// Waiting for the connect delay / ConnectRetry timer, or for the peer to
    /// connect (a passive peer stays here).
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

/// An event for the FSM (RFC 4271 §8.1 events, as the driver sees them).
// Received UPDATEs are nearly every input: boxing them would cost an
// allocation per message to shrink the rare variants.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// ManualStart (event 1); also ends an IdleHold wait early.
    Start,
    /// ManualStop (event 2): Cease with `subcode` (RFC 4486), carrying the
    /// shutdown communication for Administrative Shutdown/Reset (RFC 9003).
    /// Subcode 9 asks for a Hard Reset (RFC 8538 §3) wrapping an
    /// Administrative Reset; with the N bit exchanged the Ceases of RFC 8538
    /// §5.1 are wrapped in a Hard Reset too. The peer stays Idle.
    Stop { subcode: u8, communication: Option<String> },
    /// An error found outside the FSM on an established session (an UPDATE
    /// error asking for a session reset, maximum prefixes): send it, close,
    /// and restart after the IdleHold time (AutomaticStop, event 8).
    Error(Notification),
    /// A TCP connection is up (events 16/17).
    Connected { conn: ConnId, direction: Direction },
    /// An outgoing connection attempt failed (event 18).
    ConnectFailed(ConnId),
    /// The TCP connection closed or failed (event 18).
    Closed(ConnId),
    /// A decoded message arrived on `conn`.
    Received(ConnId, Message),
    /// A message on `conn` could not be decoded: the error's NOTIFICATION is sent
    /// and the connection closed (RFC 4271 §6).
    DecodeFailed(ConnId, bgp_proto::DecodeError),
}

/// Why a session (or a session attempt) ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// ManualStop; the Cease we sent.
    Stopped(Notification),
    /// We sent Hold Timer Expired (RFC 4271 §6.5).
    HoldTimerExpired,
    /// We found an error and sent this NOTIFICATION.
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// TCP closed without a NOTIFICATION.
    ConnectionLost,
    /// The peer opened a new connection while we still had a session with
    /// graceful restart: it restarted (RFC 4724 §4.2).
    PeerRestarted,
}

impl DownReason {
    /// Whether the receiving speaker keeps the peer's routes as stale
    /// (RFC 4724 §4.2, RFC 8538 §4): always for a lost connection or hold
    /// expiry when graceful restart was negotiated; for a NOTIFICATION only
    /// when both sides set the N bit and it is not a Hard Reset.
    pub fn keeps_routes(&self, gr: Option<&NegotiatedGracefulRestart>) -> bool {
        let Some(gr) = gr else { return false };
        match self {
            DownReason::ConnectionLost | DownReason::PeerRestarted => true,
            DownReason::HoldTimerExpired => true,
            DownReason::Stopped(n) | DownReason::NotificationSent(n) | DownReason::NotificationReceived(n) => {
                gr.notification && !is_hard_reset(n)
            }
        }
    }
}

fn is_hard_reset(n: &Notification) -> bool {
    n.code == bgp_proto::error::code::CEASE && n.subcode == bgp_proto::error::cease_subcode::HARD_RESET
}

/// What the driver must do.
// As for `Input`: Deliver(UPDATE) is the common case.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Open an outgoing TCP connection to the peer.
    Connect(ConnId),
    /// Write a message. Before [`Action::Established`] encode with
    /// `Context::default()`; after it, with the negotiated `tx` context.
    Send(ConnId, Message),
    /// Flush what was sent, then close the connection.
    Close(ConnId),
    /// The session is up on `conn`: decode with `negotiated.rx`, encode with `negotiated.tx`.
    Established {
        conn: ConnId,
        negotiated: Box<Negotiated>,
    },
    /// An UPDATE or ROUTE-REFRESH for the RIB.
    Deliver(ConnId, Message),
    /// The peer's last live connection ended. `established`: a session was up
    /// (the RIB must flush or, with graceful restart, mark stale).
    Down {
        reason: DownReason,
        established: bool,
    },
    StateChanged {
        from: State,
        to: State,
    },
}
