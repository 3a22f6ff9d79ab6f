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
//!
//! # What a driver does
//!
//! - After every [`Peer::handle`] / [`Peer::handle_timeout`], carry out the
//!   actions in order, then re-arm one timer at [`Peer::poll_timeout`].
//! - [`Action::Connect`]: open the TCP connection (source address, MD5, TTL
//!   are the driver's), then report [`Input::Connected`] with
//!   [`Direction::Outgoing`] or [`Input::ConnectFailed`] with the same id.
//! - An accepted socket from this peer's address: take an id from
//!   [`Peer::incoming_conn_id`] and report [`Input::Connected`] with
//!   [`Direction::Incoming`]. The FSM refuses it with [`Action::Close`] when it must.
//! - Frame with a 4,096-octet limit until [`Action::Established`], then with
//!   `negotiated.rx.max_message_len()`, and decode with `negotiated.rx`.
//!   The peer may send UPDATEs right behind the KEEPALIVE that establishes
//!   the session, in the same segment: feed the FSM one frame at a time and
//!   decode the frames after a KEEPALIVE only once its actions are applied.
//! - [`Action::Send`]: encode with `negotiated.tx` once established,
//!   `Context::default()` before (only OPEN, KEEPALIVE and NOTIFICATION go
//!   out then). [`Action::Close`]: write what is queued (the NOTIFICATION)
//!   first. A socket that ends by itself is [`Input::Closed`].
//! - A decode error that asks for a session reset is [`Input::DecodeFailed`];
//!   RFC 7606 treat-as-withdraw and attribute-discard errors stay with the RIB.
//! - [`Action::Deliver`] goes to the RIB; after writing UPDATEs call
//!   [`Peer::update_sent`]. [`Action::Down`] with `established` tells the
//!   RIB to flush, or to keep routes stale when
//!   [`DownReason::keeps_routes`] says graceful restart applies.

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
