//! [`Peer`]: one neighbour's FSM, its connections and timers.

use std::time::{Duration, Instant};

use bgp_proto::error::{cease_subcode, code};
use bgp_proto::{Message, Notification, Open};

use super::{Action, ConnId, Direction, DownReason, Input, State};
use crate::config::PeerConfig;
use crate::negotiate::{negotiate, Negotiated};

/// Per-connection progress (the RFC 4271 §8.2.2 states a TCP connection can be in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ConnState {
    /// Outgoing TCP connection requested, not yet up.
    Connecting,
    OpenSent,
    OpenConfirm,
    Established,
}

impl ConnState {
    fn state(self) -> State {
        match self {
            ConnState::Connecting => State::Connect,
            ConnState::OpenSent => State::OpenSent,
            ConnState::OpenConfirm => State::OpenConfirm,
            ConnState::Established => State::Established,
        }
    }
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    direction: Direction,
    state: ConnState,
    /// The OPEN we sent on this connection: the one to negotiate against.
    our_open: Option<Open>,
    /// HoldTimer deadline (RFC 4271 §4.4, §8.2.2).
    hold: Option<Instant>,
    /// KeepaliveTimer deadline.
    keepalive: Option<Instant>,
    negotiated: Option<Box<Negotiated>>,
}

/// How a connection ended.
enum Failure {
    /// We send this NOTIFICATION, then close.
    Send(Notification),
    /// Hold timer expired: 4/0 sent.
    HoldExpired,
    /// The peer sent this NOTIFICATION.
    Received(Notification),
    /// TCP closed under us.
    Closed,
    /// Lost a collision (RFC 4271 §6.8): Cease/Connection Collision Resolution sent.
    Collision,
}

/// One peer's RFC 4271 §8 state machine. See the module documentation.
#[derive(Debug)]
pub struct Peer {
    config: PeerConfig,
    state: State,
    /// ManualStart given and no ManualStop since (or AutomaticStart pending).
    started: bool,
    conns: Vec<Conn>,
    next_conn: u64,
    /// When to make the next outgoing connection attempt: the connect delay
    /// after a start, then the ConnectRetry timer.
    connect_at: Option<Instant>,
    /// IdleHold timer: Idle until then, then AutomaticStart.
    idle_hold_until: Option<Instant>,
    /// The IdleHold time to use after the next error.
    idle_hold_next: Duration,
    last_error: Option<Instant>,
    out: Vec<Action>,
}

impl Peer {
    pub fn new(config: PeerConfig) -> Self {
        let idle_hold_next = config.timers.idle_hold;
        Peer {
            config,
            state: State::Idle,
            started: false,
            conns: Vec::new(),
            next_conn: 1,
            connect_at: None,
            idle_hold_until: None,
            idle_hold_next,
            last_error: None,
            out: Vec::new(),
        }
    }

    pub fn config(&self) -> &PeerConfig {
        &self.config
    }

    /// Replaces the configuration. Takes effect from the next OPEN sent;
    /// a running session is not touched (the caller stops it if it must).
    pub fn set_config(&mut self, config: PeerConfig) {
        self.config = config;
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The established session's connection and what it negotiated.
    pub fn session(&self) -> Option<(ConnId, &Negotiated)> {
        self.conns
            .iter()
            .find(|c| c.state == ConnState::Established)
            .and_then(|c| c.negotiated.as_deref().map(|n| (c.id, n)))
    }

    /// The number of TCP connections the FSM tracks (pending connects included).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// A fresh id for a connection the peer opened to us; pass it in
    /// [`Input::Connected`] with [`Direction::Incoming`].
    pub fn incoming_conn_id(&mut self) -> ConnId {
        self.alloc_conn()
    }

    /// The driver wrote an UPDATE (or anything else) on the established
    /// `conn`: the KeepaliveTimer restarts, since the peer's hold timer just
    /// did (RFC 4271 §8.2.2, Established: "each time the local system sends
    /// a KEEPALIVE or UPDATE message, it restarts its KeepaliveTimer").
    pub fn update_sent(&mut self, now: Instant, conn: ConnId) {
        if let Some(c) = self.conns.iter_mut().find(|c| c.id == conn && c.state == ConnState::Established) {
            if let Some(n) = c.negotiated.as_deref().filter(|n| n.keepalive > 0) {
                c.keepalive = Some(now + secs(n.keepalive));
            }
        }
    }

    /// The earliest deadline; call [`Peer::handle_timeout`] when it passes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conn_deadlines = self.conns.iter().flat_map(|c| [c.hold, c.keepalive]);
        [self.connect_at, self.idle_hold_until].into_iter().chain(conn_deadlines).flatten().min()
    }

    /// Handles one event at `now`.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        match input {
            Input::Start => self.manual_start(now),
            Input::Stop { subcode, communication } => self.manual_stop(subcode, communication),
            Input::Error(n) => self.external_error(now, n),
            Input::Connected { conn, direction: Direction::Outgoing } => self.outgoing_connected(now, conn),
            Input::Connected { conn, direction: Direction::Incoming } => self.incoming_connected(now, conn),
            Input::ConnectFailed(conn) => self.connect_failed(now, conn),
            Input::Closed(conn) => match self.find(conn).map(|i| self.conns[i].state) {
                Some(ConnState::Connecting) => self.connect_failed(now, conn),
                Some(_) => self.fail(now, conn, Failure::Closed),
                None => {}
            },
            Input::Received(conn, msg) => self.received(now, conn, msg),
            Input::DecodeFailed(conn, e) => {
                tracing::debug!(conn = conn.0, error = %e, "decode error");
                self.fail(now, conn, Failure::Send(Notification::from(&e)))
            }
        }
        self.finish()
    }

    /// Fires every deadline at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<Action> {
        if self.idle_hold_until.is_some_and(|t| t <= now) {
            // AutomaticStart (event 3) once the IdleHold time has passed.
            self.idle_hold_until = None;
            if self.started && !self.config.passive {
                self.connect_at = Some(now);
            }
        }
        if self.connect_at.is_some_and(|t| t <= now) {
            self.connect_retry_expired(now);
        }
        let expired: Vec<ConnId> =
            self.conns.iter().filter(|c| c.hold.is_some_and(|t| t <= now)).map(|c| c.id).collect();
        for conn in expired {
            self.fail(now, conn, Failure::HoldExpired);
        }
        let mut keepalives = Vec::new();
        for c in &mut self.conns {
            if let (Some(t), Some(n)) = (c.keepalive, c.negotiated.as_deref()) {
                if t <= now {
                    keepalives.push(c.id);
                    c.keepalive = Some(now + secs(n.keepalive));
                }
            }
        }
        for conn in keepalives {
            self.out.push(Action::Send(conn, Message::Keepalive));
        }
        self.finish()
    }

    fn finish(&mut self) -> Vec<Action> {
        let to = self.derive_state();
        if to != self.state {
            tracing::debug!(peer_as = self.config.peer_as, from = ?self.state, to = ?to, "BGP state change");
            self.out.push(Action::StateChanged { from: self.state, to });
            self.state = to;
        }
        std::mem::take(&mut self.out)
    }

    fn derive_state(&self) -> State {
        if let Some(s) = self.conns.iter().map(|c| c.state).max() {
            return s.state();
        }
        if self.started && self.idle_hold_until.is_none() {
            State::Active
        } else {
            State::Idle
        }
    }

    fn alloc_conn(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        id
    }

    fn find(&self, conn: ConnId) -> Option<usize> {
        self.conns.iter().position(|c| c.id == conn)
    }

    fn live(&self) -> impl Iterator<Item = &Conn> + '_ {
        self.conns.iter().filter(|c| c.state != ConnState::Connecting)
    }

    fn manual_start(&mut self, now: Instant) {
        if self.started && self.idle_hold_until.is_none() {
            return; // RFC 4271 §8.2.2: ManualStart is ignored outside Idle.
        }
        self.started = true;
        self.idle_hold_until = None;
        if !self.config.passive && self.conns.is_empty() {
            self.connect_at = Some(now + self.config.timers.connect_delay);
        }
    }

    fn manual_stop(&mut self, subcode: u8, communication: Option<String>) {
        let requested = stop_notification(subcode, communication.as_deref());
        let established = self.conns.iter().any(|c| c.state == ConnState::Established);
        let had_live = self.live().next().is_some();
        let mut conns = std::mem::take(&mut self.conns);
        // The most advanced connection first: what it is sent is what the Down reports.
        conns.sort_by_key(|c| std::cmp::Reverse(c.state));
        let mut notification = None;
        for c in conns {
            if c.state != ConnState::Connecting {
                let n = wire_notification(requested.clone(), &c, self.config.hard_admin_reset);
                self.out.push(Action::Send(c.id, Message::Notification(n.clone())));
                notification.get_or_insert(n);
            }
            self.out.push(Action::Close(c.id));
        }
        self.started = false;
        self.connect_at = None;
        self.idle_hold_until = None;
        self.idle_hold_next = self.config.timers.idle_hold;
        self.last_error = None;
        if let (true, Some(n)) = (had_live, notification) {
            self.out.push(Action::Down { reason: DownReason::Stopped(n), established });
        }
    }

    fn external_error(&mut self, now: Instant, notification: Notification) {
        let target =
            self.conns.iter().filter(|c| c.state != ConnState::Connecting).max_by_key(|c| c.state).map(|c| c.id);
        if let Some(conn) = target {
            self.fail(now, conn, Failure::Send(notification));
        }
    }

    fn connect_retry_expired(&mut self, now: Instant) {
        self.connect_at = None;
        if !self.started || self.config.passive || self.idle_hold_until.is_some() || self.live().next().is_some() {
            return;
        }
        // A pending attempt that did not complete within ConnectRetryTime is abandoned.
        for c in self.conns.drain(..) {
            self.out.push(Action::Close(c.id));
        }
        let conn = self.alloc_conn();
        self.conns.push(Conn {
            id: conn,
            direction: Direction::Outgoing,
            state: ConnState::Connecting,
            our_open: None,
            hold: None,
            keepalive: None,
            negotiated: None,
        });
        self.out.push(Action::Connect(conn));
        self.connect_at = Some(now + self.config.timers.connect_retry);
    }

    fn connect_failed(&mut self, now: Instant, conn: ConnId) {
        let Some(i) = self.find(conn) else { return };
        if self.conns[i].state != ConnState::Connecting {
            return;
        }
        self.conns.remove(i);
        if self.conns.is_empty() && self.started && !self.config.passive {
            // RFC 4271 §8.2.2 Connect state, event 18: restart ConnectRetry, go Active.
            self.connect_at = Some(now + self.config.timers.connect_retry);
        }
    }

    /// Sends our OPEN on a fresh TCP connection and waits for the peer's
    /// with the large OpenSent hold time (RFC 4271 §8.2.2).
    fn send_open(&mut self, now: Instant, i: usize) {
        let open = self.config.open();
        let c = &mut self.conns[i];
        c.state = ConnState::OpenSent;
        c.hold = Some(now + self.config.timers.open_hold);
        c.our_open = Some(open.clone());
        self.out.push(Action::Send(c.id, Message::Open(open)));
        self.connect_at = None;
    }

    fn outgoing_connected(&mut self, now: Instant, conn: ConnId) {
        match self.find(conn) {
            Some(i) if self.conns[i].state == ConnState::Connecting => self.send_open(now, i),
            Some(_) => {}
            // An attempt we already gave up on.
            None => self.out.push(Action::Close(conn)),
        }
    }

    fn incoming_connected(&mut self, now: Instant, conn: ConnId) {
        if !self.started || self.idle_hold_until.is_some() {
            // RFC 4271 §8.2.2 Idle: connections are refused.
            self.out.push(Action::Close(conn));
            return;
        }
        if let Some(est) = self.conns.iter().find(|c| c.state == ConnState::Established) {
            let gr = est.negotiated.as_ref().is_some_and(|n| n.graceful_restart.is_some());
            if !gr {
                // RFC 4271 §6.8: a collision with an Established connection closes the new one.
                self.reject(conn, cease_subcode::CONNECTION_COLLISION_RESOLUTION);
                return;
            }
            // RFC 4724 §4.2: a new connection from a graceful-restart peer means it
            // restarted; the old session ends as if its TCP connection had failed.
            let old = est.id;
            self.conns.retain(|c| c.id != old);
            self.out.push(Action::Close(old));
            self.out.push(Action::Down { reason: DownReason::PeerRestarted, established: true });
        }
        if self.conns.iter().any(|c| c.direction == Direction::Incoming) {
            // Two connections per peer at most: one each way.
            self.reject(conn, cease_subcode::CONNECTION_REJECTED);
            return;
        }
        self.conns.push(Conn {
            id: conn,
            direction: Direction::Incoming,
            state: ConnState::Connecting,
            our_open: None,
            hold: None,
            keepalive: None,
            negotiated: None,
        });
        let i = self.conns.len() - 1;
        self.send_open(now, i);
    }

    fn reject(&mut self, conn: ConnId, subcode: u8) {
        self.out.push(Action::Send(conn, Message::Notification(Notification::cease(subcode))));
        self.out.push(Action::Close(conn));
    }

    fn received(&mut self, now: Instant, conn: ConnId, msg: Message) {
        let Some(i) = self.find(conn) else { return };
        let state = self.conns[i].state;
        match (state, msg) {
            (ConnState::Connecting, _) => {}
            (_, Message::Notification(n)) => {
                tracing::debug!(conn = conn.0, notification = %n.describe(), "NOTIFICATION received");
                self.fail(now, conn, Failure::Received(n));
            }
            (ConnState::OpenSent, Message::Open(open)) => self.open_received(now, i, open),
            (ConnState::OpenConfirm, Message::Keepalive) => self.establish(now, i),
            (ConnState::Established, Message::Keepalive) => self.restart_hold(now, i),
            (ConnState::Established, msg @ Message::Update(_)) => {
                self.restart_hold(now, i);
                self.out.push(Action::Deliver(conn, msg));
            }
            (ConnState::Established, msg @ Message::RouteRefresh(_)) => self.out.push(Action::Deliver(conn, msg)),
            (state, msg) => {
                // RFC 6608 §3: FSM Error with the state's subcode; data = the message type.
                let subcode = match state {
                    ConnState::OpenSent => 1,
                    ConnState::OpenConfirm => 2,
                    _ => 3,
                };
                let n = Notification::new(code::FSM, subcode, vec![msg.msg_type()]);
                self.fail(now, conn, Failure::Send(n));
            }
        }
    }

    fn restart_hold(&mut self, now: Instant, i: usize) {
        let c = &mut self.conns[i];
        if let Some(n) = c.negotiated.as_deref() {
            c.hold = (n.hold_time > 0).then(|| now + secs(n.hold_time));
        }
    }

    fn open_received(&mut self, now: Instant, i: usize, open: Open) {
        let conn = self.conns[i].id;
        let ours = self.conns[i].our_open.clone().unwrap_or_else(|| self.config.open());
        let negotiated = match negotiate(&self.config, &ours, &open) {
            Ok(n) => n,
            Err(e) => {
                tracing::info!(conn = conn.0, error = %e, "peer's OPEN refused");
                return self.fail(now, conn, Failure::Send(Notification::from(&e)));
            }
        };
        // RFC 4271 §6.8: the connection opened by the side with the higher BGP
        // identifier survives (RFC 6286 §2.3: the AS number breaks a tie).
        let direction = self.conns[i].direction;
        let others: Vec<(ConnId, Direction)> =
            self.live().filter(|c| c.id != conn).map(|c| (c.id, c.direction)).collect();
        let local_wins =
            (u32::from(self.config.local_id), self.config.local_as) > (u32::from(open.bgp_id), negotiated.peer_as);
        let survivor = if local_wins { Direction::Outgoing } else { Direction::Incoming };
        for (other, other_direction) in others {
            if direction != survivor && other_direction == survivor {
                tracing::debug!(conn = conn.0, "connection collision: closing this connection");
                return self.fail(now, conn, Failure::Collision);
            }
            tracing::debug!(conn = other.0, "connection collision: closing the other connection");
            self.fail(now, other, Failure::Collision);
        }
        // Pending outgoing attempts are no longer needed.
        let pending: Vec<ConnId> =
            self.conns.iter().filter(|c| c.state == ConnState::Connecting).map(|c| c.id).collect();
        for p in pending {
            self.conns.retain(|c| c.id != p);
            self.out.push(Action::Close(p));
        }
        let Some(i) = self.find(conn) else { return };
        let c = &mut self.conns[i];
        c.state = ConnState::OpenConfirm;
        c.hold = (negotiated.hold_time > 0).then(|| now + secs(negotiated.hold_time));
        c.keepalive = (negotiated.keepalive > 0).then(|| now + secs(negotiated.keepalive));
        c.negotiated = Some(Box::new(negotiated));
        self.out.push(Action::Send(conn, Message::Keepalive));
    }

    fn establish(&mut self, now: Instant, i: usize) {
        self.restart_hold(now, i);
        let c = &mut self.conns[i];
        c.state = ConnState::Established;
        let conn = c.id;
        let Some(negotiated) = c.negotiated.clone() else { return };
        tracing::info!(conn = conn.0, peer_as = negotiated.peer_as, peer_id = %negotiated.peer_id, "session established");
        // Any other connection loses to the established one (RFC 4271 §6.8).
        let others: Vec<(ConnId, ConnState)> =
            self.conns.iter().filter(|c| c.id != conn).map(|c| (c.id, c.state)).collect();
        for (other, state) in others {
            if state == ConnState::Connecting {
                self.conns.retain(|c| c.id != other);
                self.out.push(Action::Close(other));
            } else {
                self.fail(now, other, Failure::Collision);
            }
        }
        self.out.push(Action::Established { conn, negotiated });
    }

    /// Ends one connection; when it was the last live one, the peer goes
    /// Idle (with IdleHold and AutomaticStart) or, for a TCP failure before
    /// the OPEN exchange, back to Active (RFC 4271 §8.2.2).
    fn fail(&mut self, now: Instant, conn: ConnId, failure: Failure) {
        let Some(i) = self.find(conn) else { return };
        let c = self.conns.remove(i);
        let failure = match failure {
            Failure::Send(n) => Failure::Send(wire_notification(n, &c, self.config.hard_admin_reset)),
            other => other,
        };
        let sent = match &failure {
            Failure::Send(n) => Some(n.clone()),
            Failure::HoldExpired => Some(Notification::new(code::HOLD_TIMER_EXPIRED, 0, Vec::new())),
            Failure::Collision => Some(Notification::cease(cease_subcode::CONNECTION_COLLISION_RESOLUTION)),
            Failure::Received(_) | Failure::Closed => None,
        };
        if let Some(n) = sent {
            self.out.push(Action::Send(conn, Message::Notification(n)));
        }
        if !matches!(failure, Failure::Closed) {
            self.out.push(Action::Close(conn));
        }
        if matches!(failure, Failure::Collision) || self.live().next().is_some() {
            return; // Another connection carries on.
        }
        let established = c.state == ConnState::Established;
        let reason = match failure {
            Failure::Send(n) => DownReason::NotificationSent(n),
            Failure::HoldExpired => DownReason::HoldTimerExpired,
            Failure::Received(n) => DownReason::NotificationReceived(n),
            Failure::Closed | Failure::Collision => DownReason::ConnectionLost,
        };
        let collision_notice = matches!(&reason, DownReason::NotificationReceived(n)
            if n.code == code::CEASE && n.subcode == cease_subcode::CONNECTION_COLLISION_RESOLUTION);
        let benign = (c.state == ConnState::OpenSent && reason == DownReason::ConnectionLost)
            || (collision_notice && c.state != ConnState::Established);
        self.out.push(Action::Down { reason, established });
        if benign {
            // A pending outgoing attempt may still bring the session up; else
            // restart ConnectRetry and wait in Active.
            if self.conns.is_empty() && self.started && !self.config.passive {
                self.connect_at = Some(now + self.config.timers.connect_retry);
            }
            return;
        }
        for p in std::mem::take(&mut self.conns) {
            self.out.push(Action::Close(p.id));
        }
        self.connect_at = None;
        if !(self.started && self.config.automatic_restart) {
            self.started = false;
            return;
        }
        // IdleHold (RFC 4271 §8.1.1 DampPeerOscillations): doubles on
        // consecutive errors up to the maximum, forgotten after a quiet period.
        let timers = &self.config.timers;
        if self.last_error.is_some_and(|t| now.saturating_duration_since(t) >= timers.error_forget) {
            self.idle_hold_next = timers.idle_hold;
        }
        let wait = self.idle_hold_next;
        self.idle_hold_until = Some(now + wait);
        self.idle_hold_next = (wait * 2).min(timers.idle_hold_max);
        self.last_error = Some(now);
    }
}

fn secs(s: u16) -> Duration {
    Duration::from_secs(u64::from(s))
}

/// The NOTIFICATION as it goes out on `conn` (RFC 8538 §5.1): once both
/// sides set the N bit, Ceases that end a session for good (Maximum Number
/// of Prefixes, Administrative Shutdown, Peer De-configured, BFD Down, and
/// Administrative Reset when so configured) are wrapped in a Hard Reset, so
/// the peer does not keep our routes; without the N bit a Hard Reset is
/// unknown to the peer and goes out as the Cease it wraps.
fn wire_notification(n: Notification, conn: &Conn, hard_admin_reset: bool) -> Notification {
    let n_bit = conn.negotiated.as_ref().and_then(|x| x.graceful_restart.as_ref()).is_some_and(|gr| gr.notification);
    if let Some(inner) = n.hard_reset_inner() {
        return if n_bit { n } else { inner };
    }
    let hard = n.code == code::CEASE
        && match n.subcode {
            cease_subcode::MAX_PREFIXES_REACHED
            | cease_subcode::ADMINISTRATIVE_SHUTDOWN
            | cease_subcode::PEER_DECONFIGURED
            | cease_subcode::BFD_DOWN => true,
            cease_subcode::ADMINISTRATIVE_RESET => hard_admin_reset,
            _ => false,
        };
    if n_bit && hard {
        Notification::hard_reset(&n)
    } else {
        n
    }
}

/// The Cease for a ManualStop: Administrative Shutdown/Reset carry the
/// shutdown communication (RFC 9003 §2); Hard Reset wraps an Administrative
/// Reset (RFC 8538 §3); other subcodes carry no data (RFC 4486).
fn stop_notification(subcode: u8, communication: Option<&str>) -> Notification {
    match (subcode, communication) {
        (cease_subcode::ADMINISTRATIVE_SHUTDOWN | cease_subcode::ADMINISTRATIVE_RESET, Some(text)) => {
            Notification::shutdown(subcode, text)
        }
        (cease_subcode::HARD_RESET, text) => {
            Notification::hard_reset(&stop_notification(cease_subcode::ADMINISTRATIVE_RESET, text))
        }
        _ => Notification::cease(subcode),
    }
}
