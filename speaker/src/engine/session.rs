//! The task of one peer: owns its [`Peer`] FSM and its TCP connections
//! (two at once while a collision is resolved), feeds the FSM what the
//! sockets and the timers bring, and carries out its actions.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bgp_proto::message::message_type;
use bgp_proto::{Context, Family, Framer, Message, MessageError, Notification, RouteRefresh, UpdateError};
use bytes::BytesMut;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::conn::{self, Chunk, ConnEvent, Counters, OutQueue, SocketOptions};
use super::status::{capability_names, down_reason, socket_error};
use super::{EngineError, Event, PeerSpec, PeerStatus};
use crate::fsm::{Action, ConnId, Direction, DownReason, Input, Peer, State};
use crate::negotiate::{Negotiated, NegotiatedGracefulRestart};
use crate::rib::{self, PeerId, PeerInfo, PolicyId};

/// How long a stopping session waits for its NOTIFICATIONs to be written.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// What the engine tells a peer task.
#[derive(Debug)]
pub(super) enum PeerCmd {
    /// A connection the listener accepted from the peer's address.
    Incoming(TcpStream),
    /// ManualStop with this Cease subcode; the task ends.
    Stop { subcode: u8, communication: Option<String> },
    /// Close the session with this NOTIFICATION (maximum prefixes).
    Error(Notification),
    /// Send ROUTE-REFRESH for the family.
    RouteRefresh(Family, oneshot::Sender<Result<(), EngineError>>),
}

/// What a peer task tells the RIB task.
// UPDATEs are nearly every message: boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum FromPeer {
    Up {
        peer: PeerId,
        info: Box<PeerInfo>,
        out: OutQueue,
    },
    Down {
        peer: PeerId,
        graceful: bool,
    },
    /// The session fell back to Idle, or to Active from OpenSent or later:
    /// a dynamic peer is removed.
    Ended {
        peer: PeerId,
    },
    Rib(rib::Input),
}

/// Everything a peer task is started with.
pub(super) struct SessionSetup {
    pub id: PeerId,
    pub spec: PeerSpec,
    pub import: Option<PolicyId>,
    pub export: Option<PolicyId>,
    pub to_rib: mpsc::Sender<FromPeer>,
    pub drained: mpsc::UnboundedSender<(PeerId, usize)>,
    pub events: mpsc::UnboundedSender<Event>,
    pub status: Arc<Mutex<PeerStatus>>,
    pub counters: Arc<Counters>,
}

struct Conn {
    out: OutQueue,
    writer: JoinHandle<()>,
    reader: JoinHandle<()>,
    framer: Framer,
    rx: Context,
    tx: Context,
    established: bool,
    local: Option<SocketAddr>,
}

struct Session {
    s: SessionSetup,
    fsm: Peer,
    sock: SocketOptions,
    conns: HashMap<ConnId, Conn>,
    connecting: HashMap<ConnId, JoinHandle<()>>,
    ev_tx: mpsc::Sender<ConnEvent>,
    closing: Vec<JoinHandle<()>>,
    /// Why the session is going down, for the next state change.
    reason: Option<String>,
    gr: Option<NegotiatedGracefulRestart>,
}

/// Starts the task of a peer (ManualStart).
pub(super) fn spawn(setup: SessionSetup, ctl: mpsc::UnboundedReceiver<PeerCmd>) -> JoinHandle<()> {
    let (ev_tx, ev_rx) = mpsc::channel(16);
    let sock =
        SocketOptions { local: setup.spec.local_address, password: setup.spec.password.clone(), ttl: setup.spec.ttl };
    let session = Session {
        fsm: Peer::new(setup.spec.fsm.clone()),
        s: setup,
        sock,
        conns: HashMap::new(),
        connecting: HashMap::new(),
        ev_tx,
        closing: Vec::new(),
        reason: None,
        gr: None,
    };
    tokio::spawn(session.run(ctl, ev_rx))
}

impl Session {
    async fn run(mut self, mut ctl: mpsc::UnboundedReceiver<PeerCmd>, mut ev_rx: mpsc::Receiver<ConnEvent>) {
        self.input(Input::Start).await;
        loop {
            let deadline = self.fsm.poll_timeout().map(Instant::from_std);
            tokio::select! {
                cmd = ctl.recv() => match cmd {
                    Some(PeerCmd::Stop { subcode, communication }) => {
                        self.input(Input::Stop { subcode, communication }).await;
                        break;
                    }
                    None => {
                        let subcode = bgp_proto::error::cease_subcode::ADMINISTRATIVE_SHUTDOWN;
                        self.input(Input::Stop { subcode, communication: None }).await;
                        break;
                    }
                    Some(PeerCmd::Incoming(stream)) => self.incoming(stream).await,
                    Some(PeerCmd::Error(n)) => self.input(Input::Error(n)).await,
                    Some(PeerCmd::RouteRefresh(family, reply)) => {
                        let _ = reply.send(self.send_route_refresh(family));
                    }
                },
                Some(ev) = ev_rx.recv() => self.conn_event(ev).await,
                _ = sleep_until(deadline) => {
                    let actions = self.fsm.handle_timeout(std::time::Instant::now());
                    self.execute(actions).await;
                }
            }
        }
        self.finish().await;
    }

    /// Stops every connection and waits (bounded) for queued messages,
    /// the NOTIFICATION above all, to be written.
    async fn finish(mut self) {
        for (_, h) in self.connecting.drain() {
            h.abort();
        }
        for (_, c) in self.conns.drain() {
            c.out.close();
            c.reader.abort();
            self.closing.push(c.writer);
        }
        let deadline = Instant::now() + CLOSE_WAIT;
        for h in self.closing.drain(..) {
            let abort = h.abort_handle();
            if tokio::time::timeout_at(deadline, h).await.is_err() {
                abort.abort();
            }
        }
    }

    async fn input(&mut self, input: Input) {
        let actions = self.fsm.handle(std::time::Instant::now(), input);
        self.execute(actions).await;
    }

    async fn incoming(&mut self, stream: TcpStream) {
        if let Ok(remote) = stream.peer_addr() {
            if let Err(e) = conn::apply_ttl(&stream, remote.ip(), self.s.spec.ttl) {
                tracing::warn!(peer = %self.s.spec.name, error = %e, "TTL options not set on an incoming connection");
            }
        }
        let _ = stream.set_nodelay(true);
        let id = self.fsm.incoming_conn_id();
        self.open_conn(id, stream);
        self.input(Input::Connected { conn: id, direction: Direction::Incoming }).await;
    }

    fn open_conn(&mut self, id: ConnId, stream: TcpStream) {
        let local = stream.local_addr().ok();
        let (rd, wr) = stream.into_split();
        let reader = conn::spawn_reader(id, rd, self.ev_tx.clone());
        let (out, writer) = conn::spawn_writer(wr, Arc::clone(&self.s.counters), self.s.id, self.s.drained.clone());
        let framer = Framer::with_max_message_len(bgp_proto::context::MAX_MESSAGE_LEN);
        let conn = Conn {
            out,
            writer,
            reader,
            framer,
            rx: Context::default(),
            tx: Context::default(),
            established: false,
            local,
        };
        self.conns.insert(id, conn);
    }

    async fn conn_event(&mut self, ev: ConnEvent) {
        match ev {
            ConnEvent::Connected(id, result) => {
                if self.connecting.remove(&id).is_none() {
                    return; // Given up on by the FSM: the stream just drops.
                }
                match result {
                    Ok(stream) => {
                        self.open_conn(id, stream);
                        self.input(Input::Connected { conn: id, direction: Direction::Outgoing }).await;
                    }
                    Err(e) => {
                        tracing::debug!(peer = %self.s.spec.name, error = %e, "connect failed");
                        self.set_error(socket_error(&e));
                        self.input(Input::ConnectFailed(id)).await;
                    }
                }
            }
            ConnEvent::Data(id, buf) => {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.framer.extend(buf);
                    self.process_frames(id).await;
                }
            }
            ConnEvent::Closed(id, err) => {
                if !self.conns.contains_key(&id) {
                    return;
                }
                match &err {
                    Some(e) => self.set_error(socket_error(e)),
                    None => self.set_error("Connection closed".to_string()),
                }
                self.input(Input::Closed(id)).await;
                self.drop_conn(id);
            }
        }
    }

    fn set_error(&mut self, text: String) {
        self.reason = Some(text.clone());
        if let Ok(mut st) = self.s.status.lock() {
            st.last_error = Some(text);
        }
    }

    /// Feeds the FSM every whole message received on `id`, one at a time:
    /// the actions of one (Established changes the decode context) are
    /// carried out before the next is decoded.
    async fn process_frames(&mut self, id: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&id) else { return };
            let frame = match c.framer.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => return self.input(Input::DecodeFailed(id, e)).await,
            };
            self.s.counters.messages_in.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if frame.msg_type == message_type::UPDATE {
                self.s.counters.updates_in.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            let input = match frame.decode(&c.rx) {
                Ok(msg) => Input::Received(id, msg),
                Err(MessageError::Update(UpdateError::TreatAsWithdraw { withdrawn, error })) => {
                    tracing::info!(peer = %self.s.spec.name, error = %error, routes = withdrawn.len(),
                        "malformed UPDATE treated as withdraw (RFC 7606)");
                    if c.established {
                        let input = rib::Input::Withdraw { peer: self.s.id, routes: withdrawn };
                        let _ = self.s.to_rib.send(FromPeer::Rib(input)).await;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::info!(peer = %self.s.spec.name, error = %e, "message not accepted");
                    Input::DecodeFailed(id, e.error().clone())
                }
            };
            self.input(input).await;
        }
    }

    fn drop_conn(&mut self, id: ConnId) {
        if let Some(h) = self.connecting.remove(&id) {
            h.abort();
        }
        if let Some(c) = self.conns.remove(&id) {
            c.out.close();
            c.reader.abort();
            self.closing.retain(|h| !h.is_finished());
            self.closing.push(c.writer);
        }
    }

    fn send(&mut self, id: ConnId, msg: &Message) {
        let Some(c) = self.conns.get(&id) else { return };
        let ctx = if c.established { &c.tx } else { &Context::default() };
        let mut buf = BytesMut::new();
        match msg.encode(ctx, &mut buf) {
            Ok(()) => c.out.push(Chunk::Owned(buf.freeze())),
            Err(e) => {
                tracing::warn!(peer = %self.s.spec.name, msg = msg.type_name(), error = %e, "message not encoded")
            }
        }
    }

    fn send_route_refresh(&mut self, family: Family) -> Result<(), EngineError> {
        let name = &self.s.spec.name;
        let Some((conn, n)) = self.fsm.session() else {
            return Err(EngineError::NotEstablished(name.clone()));
        };
        if !n.route_refresh || !n.families.contains(&family) {
            return Err(EngineError::NotNegotiated(format!("route refresh of {family} with {name}")));
        }
        self.send(conn, &Message::RouteRefresh(RouteRefresh::new(family)));
        Ok(())
    }

    async fn execute(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Connect(id) => {
                    let remote = SocketAddr::new(self.s.spec.address, self.s.spec.port);
                    let opts = self.sock.clone();
                    let tx = self.ev_tx.clone();
                    let task = tokio::spawn(async move {
                        let result = conn::connect(remote, &opts).await;
                        let _ = tx.send(ConnEvent::Connected(id, result)).await;
                    });
                    self.connecting.insert(id, task);
                }
                Action::Send(id, msg) => self.send(id, &msg),
                Action::Close(id) => self.drop_conn(id),
                Action::Established { conn, negotiated } => self.established(conn, *negotiated).await,
                Action::Deliver(_, Message::Update(update)) => {
                    count_routes(&update, &self.s.counters);
                    let input = rib::Input::Update { peer: self.s.id, update };
                    let _ = self.s.to_rib.send(FromPeer::Rib(input)).await;
                }
                Action::Deliver(_, Message::RouteRefresh(refresh)) => {
                    let input = rib::Input::RouteRefresh { peer: self.s.id, refresh };
                    let _ = self.s.to_rib.send(FromPeer::Rib(input)).await;
                }
                Action::Deliver(..) => {}
                Action::Down { reason, established } => {
                    // A socket error already says more than "connection lost".
                    if reason != DownReason::ConnectionLost || self.reason.is_none() {
                        self.set_error(down_reason(&reason));
                    }
                    if established {
                        let graceful = reason.keeps_routes(self.gr.as_ref());
                        let _ = self.s.to_rib.send(FromPeer::Down { peer: self.s.id, graceful }).await;
                    }
                }
                Action::StateChanged { from, to } => {
                    self.state_changed(from, to);
                    if to == State::Idle || (to == State::Active && from >= State::OpenSent) {
                        let _ = self.s.to_rib.send(FromPeer::Ended { peer: self.s.id }).await;
                    }
                }
            }
        }
    }

    async fn established(&mut self, id: ConnId, n: Negotiated) {
        let Some(c) = self.conns.get_mut(&id) else { return };
        c.established = true;
        c.rx = n.rx.clone();
        c.tx = n.tx.clone();
        c.framer.set_max_message_len(n.rx.max_message_len());
        let local = c.local.map(|a| conn::canonical(a.ip()));
        let out = c.out.clone();
        self.gr = n.graceful_restart.clone();
        let spec = &self.s.spec;
        let pick_v4 = |a: Option<IpAddr>| match a {
            Some(IpAddr::V4(v4)) => Some(v4),
            _ => None,
        };
        let pick_v6 = |a: Option<IpAddr>| match a {
            Some(IpAddr::V6(v6)) => Some(v6),
            _ => None,
        };
        let info = PeerInfo {
            address: spec.address,
            asn: n.peer_as,
            router_id: n.peer_id,
            ctx: n.tx.clone(),
            families: n.families.clone(),
            rr_client: spec.rr_client,
            next_hop: spec.next_hop,
            local_v4: pick_v4(local).or(pick_v4(spec.local_address)),
            local_v6: pick_v6(local).or(pick_v6(spec.local_address)),
            import_policy: self.s.import,
            export_policy: self.s.export,
            graceful_restart: n.graceful_restart.as_ref().map(|g| Duration::from_secs(u64::from(g.peer_restart_time))),
            allow_own_as: spec.allow_own_as,
            max_prefixes: spec.max_prefixes,
            add_path_send: spec.add_path_send,
            enhanced_route_refresh: n.enhanced_route_refresh,
        };
        if let Ok(mut st) = self.s.status.lock() {
            st.remote_id = Some(n.peer_id);
            st.remote_as = n.peer_as;
            st.local_address = local;
            st.hold_time = Some(Duration::from_secs(u64::from(n.hold_time)));
            st.keepalive = Some(Duration::from_secs(u64::from(n.keepalive)));
            st.families = n.families.clone();
            st.peer_capabilities = capability_names(&n.peer_open);
            st.last_error = None;
        }
        self.reason = None;
        let up = FromPeer::Up { peer: self.s.id, info: Box::new(info), out };
        let _ = self.s.to_rib.send(up).await;
    }

    fn state_changed(&mut self, from: State, to: State) {
        // Going back (a failed attempt goes Connect → Active) carries why.
        let back = to < from || (from == State::Connect && to == State::Active);
        let reason = if back { self.reason.take() } else { None };
        if let Ok(mut st) = self.s.status.lock() {
            st.state = to;
            st.since = SystemTime::now();
            st.transitions += 1;
            if from == State::Established {
                st.remote_id = None;
                st.hold_time = None;
                st.keepalive = None;
                st.families.clear();
                st.peer_capabilities.clear();
            }
        }
        tracing::info!(peer = %self.s.spec.name, ?from, ?to, reason = reason.as_deref().unwrap_or(""), "BGP state");
        let _ = self.s.events.send(Event::PeerState { name: self.s.spec.name.clone(), from, to, reason });
    }
}

/// Adds the routes an UPDATE announces and withdraws to the import counters.
fn count_routes(u: &bgp_proto::Update, c: &Counters) {
    use bgp_proto::attribute::MpNlri;
    use std::sync::atomic::Ordering::Relaxed;
    let count = |n: Option<&MpNlri>| match n {
        Some(MpNlri::Prefixes(list)) => list.len(),
        _ => 0,
    };
    let announced = u.nlri.len() + count(u.attributes.mp_reach.as_ref().map(|m| &m.nlri));
    let withdrawn = u.withdrawn.len() + count(u.attributes.mp_unreach.as_ref().map(|m| &m.withdrawn));
    c.routes_in.fetch_add(announced as u64, Relaxed);
    c.withdraws_in.fetch_add(withdrawn as u64, Relaxed);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
