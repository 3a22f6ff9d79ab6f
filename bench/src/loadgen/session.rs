//! One simulated BGP peer: connect from its own loopback address, exchange
//! OPEN/KEEPALIVE, then on "go" write its pre-encoded UPDATEs while a reader
//! counts which of the other peers' prefixes it holds.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bgp_proto::capability::Capability;
use bgp_proto::message::message_type;
use bgp_proto::{Context, Family, Framer, Message, Open};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};

use super::routes::{walk_update, Plan};

/// Hold time we propose (BIRD's and tern's default).
pub const HOLD_TIME: u16 = 240;

/// One simulated peer.
#[derive(Clone, Debug)]
pub struct PeerSpec {
    pub index: u32,
    pub source: Ipv4Addr,
    /// UPDATEs and End-of-RIB written on "go".
    pub bulk: Bytes,
    /// Whether this peer counts what it receives (rr clients, the ingest monitor).
    pub counts: bool,
}

/// What every peer task shares with the orchestrator.
pub struct Shared {
    pub plan: Plan,
    pub target: SocketAddr,
    pub asn: u32,
    pub go: watch::Receiver<bool>,
    pub stop: watch::Receiver<bool>,
    /// `(peer index, when it held everything)`.
    pub done: mpsc::UnboundedSender<(u32, Instant)>,
    pub established: mpsc::UnboundedSender<u32>,
    /// Routes held, per peer index.
    pub held: Vec<AtomicU64>,
    /// Limits concurrent connection attempts (a listen backlog is finite).
    pub connecting: Semaphore,
    /// Give up connecting after this.
    pub establish_deadline: Instant,
}

/// Runs one peer until "stop" (or an error: the text says which peer and why).
pub async fn run_peer(spec: PeerSpec, shared: Arc<Shared>) -> Result<(), String> {
    let name = format!("peer {} ({})", spec.index, spec.source);
    let (stream, framer, hold) = connect(&spec, &shared).await.map_err(|e| format!("{name}: {e}"))?;
    let _ = shared.established.send(spec.index);
    let (r, w) = stream.into_split();
    let writer = tokio::spawn(write_side(w, spec.bulk.clone(), hold, shared.go.clone(), shared.stop.clone()));
    let read = read_side(r, framer, &spec, &shared).await;
    let write = writer.await.map_err(|e| format!("writer task: {e}"))?;
    read.and(write).map_err(|e| format!("{name}: {e}"))
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
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!("not established before the deadline; last attempt: {last}"))
}

async fn handshake(spec: &PeerSpec, shared: &Shared) -> Result<(TcpStream, Framer, u16), String> {
    let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    socket.bind(SocketAddr::new(spec.source.into(), 0)).map_err(|e| format!("bind {}: {e}", spec.source))?;
    let mut stream = socket.connect(shared.target).await.map_err(|e| format!("connect {}: {e}", shared.target))?;
    stream.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let ctx = Context::default();
    let caps = vec![Capability::Multiprotocol(Family::IPV4_UNICAST), Capability::FourOctetAs(shared.asn)];
    let mut out = BytesMut::new();
    Message::Open(Open::new(shared.asn, HOLD_TIME, spec.source, caps))
        .encode(&ctx, &mut out)
        .map_err(|e| format!("encode OPEN: {e}"))?;
    stream.write_all(&out).await.map_err(|e| format!("send OPEN: {e}"))?;
    let mut framer = Framer::new(&ctx);
    let mut hold = None;
    loop {
        while let Some(frame) = framer.next_frame().map_err(|e| format!("framing: {e}"))? {
            match frame.decode(&ctx).map_err(|e| format!("decode {}: {}", frame.msg_type, e.error()))? {
                Message::Open(open) if hold.is_none() => {
                    let h = open.hold_time.min(HOLD_TIME);
                    hold = Some(h);
                    out.clear();
                    Message::Keepalive.encode(&ctx, &mut out).map_err(|e| format!("encode KEEPALIVE: {e}"))?;
                    stream.write_all(&out).await.map_err(|e| format!("send KEEPALIVE: {e}"))?;
                }
                Message::Keepalive if hold.is_some() => {
                    return Ok((stream, framer, hold.unwrap_or(HOLD_TIME)));
                }
                Message::Notification(n) => return Err(format!("NOTIFICATION during OPEN exchange: {n:?}")),
                other => return Err(format!("unexpected {} during OPEN exchange", other.type_name())),
            }
        }
        let n = stream.read_buf(framer.buffer_mut()).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed during OPEN exchange".into());
        }
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

/// Counts held routes of the other peers (a bit per route number) and
/// reports the moment this peer holds all of them.
async fn read_side(mut r: OwnedReadHalf, mut framer: Framer, spec: &PeerSpec, shared: &Shared) -> Result<(), String> {
    let plan = shared.plan;
    let own = spec.index;
    let own_routes = if own < plan.peers { u64::from(plan.per_peer) } else { 0 };
    let expected = plan.total() - own_routes;
    let mut bits =
        if spec.counts { vec![0u64; usize::try_from(plan.total().div_ceil(64)).unwrap_or(0)] } else { vec![] };
    let mut held = 0u64;
    let mut reported = false;
    let mut stop = shared.stop.clone();
    let held_slot = shared.held.get(usize::try_from(own).unwrap_or(usize::MAX));
    let report = |held: u64, reported: &mut bool| {
        if let Some(slot) = held_slot {
            slot.store(held, Ordering::Relaxed);
        }
        if !*reported && held >= expected && *shared.go.borrow() {
            *reported = true;
            let _ = shared.done.send((own, Instant::now()));
        }
    };
    let mut go = shared.go.clone();
    let mut go_seen = false;
    loop {
        let mut error = None;
        while let Some(frame) = framer.next_frame().map_err(|e| format!("framing: {e}"))? {
            match frame.msg_type {
                message_type::UPDATE if spec.counts => {
                    walk_update(&frame.body, |announced, len, octets| {
                        let Some(g) = plan.index(len, octets) else { return };
                        if plan.owner(g) == own {
                            return;
                        }
                        let (word, bit) = (usize::try_from(g / 64).unwrap_or(usize::MAX), 1u64 << (g % 64));
                        if let Some(w) = bits.get_mut(word) {
                            if announced && *w & bit == 0 {
                                *w |= bit;
                                held += 1;
                            } else if !announced && *w & bit != 0 {
                                *w &= !bit;
                                held -= 1;
                            }
                        }
                    })
                    .map_err(|e| format!("UPDATE: {e}"))?;
                }
                message_type::NOTIFICATION => {
                    let n = frame.decode(&Context::default()).map(|m| format!("{m:?}"));
                    error = Some(format!("NOTIFICATION received: {}", n.unwrap_or_else(|e| e.error().to_string())));
                }
                _ => {}
            }
        }
        if spec.counts {
            report(held, &mut reported);
        }
        if let Some(e) = error {
            return Err(e);
        }
        tokio::select! {
            n = r.read_buf(framer.buffer_mut()) => {
                let n = n.map_err(|e| format!("read: {e}"))?;
                if n == 0 {
                    return if *shared.stop.borrow() { Ok(()) } else { Err(format!("closed by the peer (held {held})")) };
                }
            }
            // A peer with nothing to receive is done at "go".
            _ = async { go.wait_for(|g| *g).await.is_ok() }, if spec.counts && !go_seen => {
                go_seen = true;
                report(held, &mut reported);
            }
            _ = async { stop.wait_for(|s| *s).await.is_ok() } => return Ok(()),
        }
    }
}
