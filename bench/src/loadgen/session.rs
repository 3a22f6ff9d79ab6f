//! One simulated BGP peer: connect from its own loopback address, exchange
//! OPEN/KEEPALIVE, then on "go" write its pre-encoded UPDATEs while a reader
//! counts which of the other peers' prefixes it holds. A session that drops
//! before "go" reconnects (as a cluster node would); every drop, NOTIFICATION
//! and expired hold timer is counted in [`Stats`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgp_proto::attribute::{MpNextHop, MpNlri};
use bgp_proto::capability::Capability;
use bgp_proto::message::message_type;
use bgp_proto::{Context, Family, Framer, Message, Open};
use bytes::{Bytes, BytesMut};
use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};

use super::mrt::{sender_of, Expect};
use super::routes::{walk_update, Plan};

/// Hold time we propose by default (BIRD's and tern's default).
pub const DEFAULT_HOLD_TIME: u16 = 240;

/// NOTIFICATION error code Hold Timer Expired (RFC 4271 §4.5).
const HOLD_TIMER_EXPIRED: u8 = 4;

/// One simulated peer.
#[derive(Clone, Debug)]
pub struct PeerSpec {
    pub index: u32,
    /// Where it connects from (an IPv4 loopback address, or an IPv6 address
    /// inside the bench's network namespace).
    pub source: IpAddr,
    /// Its BGP Identifier.
    pub bgp_id: Ipv4Addr,
    /// UPDATEs and End-of-RIB written on "go".
    pub bulk: Bytes,
    /// Whether this peer counts what it receives (rr clients, the ingest monitor).
    pub counts: bool,
    /// Routes it must hold to be done.
    pub expected: u64,
}

/// How a receiver maps what it receives to route numbers.
#[derive(Debug)]
pub enum Counter {
    /// Generated IPv4 prefixes (rr, ingest); a receiver ignores its own.
    Plan(Plan),
    /// The MRT replay's IPv6 prefixes; the next hop names the sender.
    Mrt(Arc<Expect>),
}

impl Counter {
    fn total(&self) -> u64 {
        match self {
            Counter::Plan(p) => p.total(),
            Counter::Mrt(e) => e.total(),
        }
    }
}

/// Session events for the orchestrator.
#[derive(Clone, Copy, Debug)]
pub enum SessionEvent {
    /// Established; `first` for the peer's first session.
    Up {
        first: bool,
    },
    Down,
}

/// Counted over the whole run, all peers.
#[derive(Debug, Default)]
pub struct Stats {
    /// NOTIFICATIONs received (OPEN exchange and Established).
    pub notifications: AtomicU64,
    /// Of them, Hold Timer Expired: the SUT's hold timer for us ran out.
    pub hold_expired_sut: AtomicU64,
    /// Our hold timer ran out: the SUT sent nothing for the hold time.
    pub hold_expired_local: AtomicU64,
    /// Established sessions that ended before the run's end.
    pub drops: AtomicU64,
    /// Connection attempts that failed (refused, reset, NOTIFICATION, timeout) and were retried.
    pub failed_attempts: AtomicU64,
    /// Routes received that no sender with that next hop announced (mrt).
    pub wrong_routes: AtomicU64,
    /// `peer: why`, the first few lost sessions.
    pub lost: Mutex<Vec<String>>,
    /// `peer: why`, the first few failed connection attempts.
    pub failed: Mutex<Vec<String>>,
}

impl Stats {
    fn lose(&self, what: String) {
        self.drops.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut l) = self.lost.lock() {
            if l.len() < 20 {
                l.push(what);
            }
        }
    }
}

/// What every peer task shares with the orchestrator.
pub struct Shared {
    pub counter: Counter,
    pub target: SocketAddr,
    pub asn: u32,
    /// Hold time we propose.
    pub hold_time: u16,
    /// Families in our OPEN.
    pub families: Vec<Family>,
    pub go: watch::Receiver<bool>,
    pub stop: watch::Receiver<bool>,
    /// Peers with an index below this may connect (batches).
    pub release: watch::Receiver<u32>,
    /// `(peer index, when it held everything)`.
    pub done: mpsc::UnboundedSender<(u32, Instant)>,
    pub events: mpsc::UnboundedSender<SessionEvent>,
    /// Routes held, per peer index.
    pub held: Vec<AtomicU64>,
    /// Limits concurrent connection attempts (a listen backlog is finite).
    pub connecting: Semaphore,
    /// Give up connecting after this.
    pub establish_deadline: Instant,
    pub stats: Stats,
}

/// Runs one peer until "stop" (or an error: the text says which peer and why).
pub async fn run_peer(spec: PeerSpec, shared: Arc<Shared>) -> Result<(), String> {
    let name = format!("peer {} ({})", spec.index, spec.source);
    let mut release = shared.release.clone();
    release.wait_for(|r| *r > spec.index).await.map_err(|e| format!("{name}: {e}"))?;
    let mut first = true;
    loop {
        let (stream, framer, hold) = connect(&spec, &shared).await.map_err(|e| format!("{name}: {e}"))?;
        let _ = shared.events.send(SessionEvent::Up { first });
        first = false;
        let (r, w) = stream.into_split();
        let writer = tokio::spawn(write_side(w, spec.bulk.clone(), hold, shared.go.clone(), shared.stop.clone()));
        let read = read_side(r, framer, hold, &spec, &shared).await;
        if read.is_ok() {
            let write = writer.await.map_err(|e| format!("{name}: writer task: {e}"))?;
            return write.map_err(|e| format!("{name}: {e}"));
        }
        writer.abort();
        let why = read.err().unwrap_or_default();
        let _ = shared.events.send(SessionEvent::Down);
        if *shared.stop.borrow() {
            return Ok(());
        }
        shared.stats.lose(format!("{name}: {why}"));
        if *shared.go.borrow() {
            return Err(format!("{name}: {why}"));
        }
        // Before "go": reconnect, as a cluster node would.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Connects (retrying refused or reset attempts until the deadline) and
/// completes the OPEN exchange. Returns the stream, the framer with
/// whatever arrived after the KEEPALIVE, and the negotiated hold time.
async fn connect(spec: &PeerSpec, shared: &Shared) -> Result<(TcpStream, Framer, u16), String> {
    let mut last = String::from("no attempt");
    while Instant::now() < shared.establish_deadline {
        let attempt = {
            let _permit = shared.connecting.acquire().await.map_err(|e| e.to_string())?;
            tokio::time::timeout(Duration::from_secs(30), handshake(spec, shared)).await
        };
        match attempt {
            Ok(Ok(done)) => return Ok(done),
            Ok(Err(e)) => last = e,
            Err(_) => last = "OPEN exchange timed out (30 s)".into(),
        }
        shared.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = shared.stats.failed.lock() {
            if f.len() < 5 {
                f.push(format!("peer {} ({}): {last}", spec.index, spec.source));
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!("not established before the deadline; last attempt: {last}"))
}

async fn handshake(spec: &PeerSpec, shared: &Shared) -> Result<(TcpStream, Framer, u16), String> {
    let socket = if spec.source.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
    let socket = socket.map_err(|e| format!("socket: {e}"))?;
    socket.bind(SocketAddr::new(spec.source, 0)).map_err(|e| format!("bind {}: {e}", spec.source))?;
    let mut stream = socket.connect(shared.target).await.map_err(|e| format!("connect {}: {e}", shared.target))?;
    stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let ctx = Context::default();
    let mut caps: Vec<Capability> = shared.families.iter().map(|f| Capability::Multiprotocol(*f)).collect();
    caps.push(Capability::FourOctetAs(shared.asn));
    let mut out = BytesMut::new();
    Message::Open(Open::new(shared.asn, shared.hold_time, spec.bgp_id, caps))
        .encode(&ctx, &mut out)
        .map_err(|e| format!("encode OPEN: {e}"))?;
    stream.write_all(&out).await.map_err(|e| format!("send OPEN: {e}"))?;
    let mut framer = Framer::new(&ctx);
    let mut hold = None;
    loop {
        while let Some(frame) = framer.next_frame().map_err(|e| format!("framing: {e}"))? {
            match frame.decode(&ctx).map_err(|e| format!("decode {}: {}", frame.msg_type, e.error()))? {
                Message::Open(open) if hold.is_none() => {
                    let h = open.hold_time.min(shared.hold_time);
                    hold = Some(h);
                    out.clear();
                    Message::Keepalive.encode(&ctx, &mut out).map_err(|e| format!("encode KEEPALIVE: {e}"))?;
                    stream.write_all(&out).await.map_err(|e| format!("send KEEPALIVE: {e}"))?;
                }
                Message::Keepalive if hold.is_some() => {
                    return Ok((stream, framer, hold.unwrap_or(shared.hold_time)));
                }
                Message::Notification(n) => {
                    count_notification(&shared.stats, n.code);
                    return Err(format!("NOTIFICATION during OPEN exchange: {n:?}"));
                }
                other => return Err(format!("unexpected {} during OPEN exchange", other.type_name())),
            }
        }
        let n = stream.read_buf(framer.buffer_mut()).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed during OPEN exchange".into());
        }
    }
}

fn count_notification(stats: &Stats, code: u8) {
    stats.notifications.fetch_add(1, Ordering::Relaxed);
    if code == HOLD_TIMER_EXPIRED {
        stats.hold_expired_sut.fetch_add(1, Ordering::Relaxed);
    }
}

/// Keepalives every hold/3; the bulk once "go" is given.
async fn write_side(
    mut w: OwnedWriteHalf,
    bulk: Bytes,
    hold: u16,
    mut go: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let mut keepalive = BytesMut::new();
    Message::Keepalive.encode(&Context::default(), &mut keepalive).map_err(|e| e.to_string())?;
    let every = if hold == 0 { Duration::from_secs(3600) } else { Duration::from_secs(u64::from(hold / 3).max(1)) };
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut sent = false;
    loop {
        tokio::select! {
            ok = async { go.wait_for(|g| *g).await.is_ok() }, if !sent => {
                sent = true;
                if ok {
                    w.write_all(&bulk).await.map_err(|e| format!("send UPDATEs: {e}"))?;
                }
            }
            _ = tick.tick() => {
                w.write_all(&keepalive).await.map_err(|e| format!("send KEEPALIVE: {e}"))?;
            }
            _ = async { stop.wait_for(|s| *s).await.is_ok() } => return Ok(()),
        }
    }
}

/// A receiver's set of held route numbers.
struct Held {
    bits: Vec<u64>,
    count: u64,
}

impl Held {
    fn new(total: u64) -> Held {
        Held { bits: vec![0; usize::try_from(total.div_ceil(64)).unwrap_or(0)], count: 0 }
    }

    fn set(&mut self, g: u64, announced: bool) {
        let (word, bit) = (usize::try_from(g / 64).unwrap_or(usize::MAX), 1u64 << (g % 64));
        if let Some(w) = self.bits.get_mut(word) {
            if announced && *w & bit == 0 {
                *w |= bit;
                self.count += 1;
            } else if !announced && *w & bit != 0 {
                *w &= !bit;
                self.count -= 1;
            }
        }
    }
}

/// Applies one received UPDATE body to `held`.
fn count_update(counter: &Counter, own: u32, body: &Bytes, held: &mut Held, stats: &Stats) -> Result<(), String> {
    match counter {
        Counter::Plan(plan) => walk_update(body, |announced, len, octets| {
            let Some(g) = plan.index(len, octets) else { return };
            if plan.owner(g) != own {
                held.set(g, announced);
            }
        }),
        Counter::Mrt(expect) => {
            let msg = Message::decode(message_type::UPDATE, body, &Context::default())
                .map_err(|e| format!("decode UPDATE: {}", e.error()))?;
            let Message::Update(u) = msg else { return Ok(()) };
            if let Some(reach) = &u.attributes.mp_reach {
                let nh = match reach.next_hop {
                    MpNextHop::V6(a) | MpNextHop::V6LinkLocal { global: a, .. } => a,
                    _ => Ipv6Addr::UNSPECIFIED,
                };
                let sender = sender_of(nh);
                if let MpNlri::Prefixes(p) = &reach.nlri {
                    for n in p {
                        let IpNet::V6(net) = n.prefix else { continue };
                        let Some(&g) = expect.index.get(&net) else { continue };
                        if !sender.is_some_and(|s| expect.announced_by(g, s)) {
                            stats.wrong_routes.fetch_add(1, Ordering::Relaxed);
                        }
                        held.set(u64::from(g), true);
                    }
                }
            }
            if let Some(unreach) = &u.attributes.mp_unreach {
                if let MpNlri::Prefixes(p) = &unreach.withdrawn {
                    for n in p {
                        let IpNet::V6(net) = n.prefix else { continue };
                        if let Some(&g) = expect.index.get(&net) {
                            held.set(u64::from(g), false);
                        }
                    }
                }
            }
            Ok(())
        }
    }
}

/// Counts held routes of the other peers (a bit per route number) and
/// reports the moment this peer holds all of them. Ends `Ok` at "stop",
/// `Err` when the session ends otherwise (NOTIFICATION, close, hold timer).
async fn read_side(
    mut r: OwnedReadHalf,
    mut framer: Framer,
    hold: u16,
    spec: &PeerSpec,
    shared: &Shared,
) -> Result<(), String> {
    let own = spec.index;
    let mut held = Held::new(if spec.counts { shared.counter.total() } else { 0 });
    let mut reported = false;
    let mut stop = shared.stop.clone();
    let held_slot = shared.held.get(usize::try_from(own).unwrap_or(usize::MAX));
    let report = |held: u64, reported: &mut bool| {
        if let Some(slot) = held_slot {
            slot.store(held, Ordering::Relaxed);
        }
        if !*reported && held >= spec.expected && *shared.go.borrow() {
            *reported = true;
            let _ = shared.done.send((own, Instant::now()));
        }
    };
    let mut go = shared.go.clone();
    let mut go_seen = false;
    let hold_for = Duration::from_secs(u64::from(hold));
    let mut last_rx = tokio::time::Instant::now();
    loop {
        let mut error = None;
        while let Some(frame) = framer.next_frame().map_err(|e| format!("framing: {e}"))? {
            match frame.msg_type {
                message_type::UPDATE if spec.counts => {
                    count_update(&shared.counter, own, &frame.body, &mut held, &shared.stats)
                        .map_err(|e| format!("UPDATE: {e}"))?;
                }
                message_type::NOTIFICATION => {
                    let n = frame.decode(&Context::default());
                    if let Ok(Message::Notification(n)) = &n {
                        count_notification(&shared.stats, n.code);
                    }
                    let n = n.map(|m| format!("{m:?}"));
                    error = Some(format!("NOTIFICATION received: {}", n.unwrap_or_else(|e| e.error().to_string())));
                }
                _ => {}
            }
        }
        if spec.counts {
            report(held.count, &mut reported);
        }
        if let Some(e) = error {
            return Err(e);
        }
        tokio::select! {
            n = r.read_buf(framer.buffer_mut()) => {
                let n = n.map_err(|e| format!("read: {e}"))?;
                if n == 0 {
                    return if *shared.stop.borrow() { Ok(()) } else { Err(format!("closed by the peer (held {})", held.count)) };
                }
                last_rx = tokio::time::Instant::now();
            }
            _ = tokio::time::sleep_until(last_rx + hold_for), if hold > 0 => {
                shared.stats.hold_expired_local.fetch_add(1, Ordering::Relaxed);
                return Err(format!("our hold timer expired: nothing from the SUT for {hold} s"));
            }
            // A peer with nothing to receive is done at "go".
            _ = async { go.wait_for(|g| *g).await.is_ok() }, if spec.counts && !go_seen => {
                go_seen = true;
                report(held.count, &mut reported);
            }
            _ = async { stop.wait_for(|s| *s).await.is_ok() } => return Ok(()),
        }
    }
}
