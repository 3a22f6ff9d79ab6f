//! TCP connections of a session: opening them with the socket options a
//! peer asks for (source address, TCP MD5, TTL), and the reader and writer
//! tasks of an open connection.
//!
//! The reader hands raw bytes to the session task, which frames and decodes
//! them (the decode context changes at Established, between two frames).
//! The writer hands whatever is queued to one gathering write; its queue is
//! counted in bytes so that the RIB task can stop feeding a peer that does
//! not read (see [`OutQueue`]).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::sockopt;
use super::TtlMode;
use crate::fsm::ConnId;
use crate::rib::PeerId;

/// The writer stops gathering queued messages for one write at this size.
const MAX_BATCH: usize = 256 * 1024;
/// Most buffers in one gathering write (Linux's `IOV_MAX` is 1024).
const MAX_SLICES: usize = 512;
/// Read buffer size per `read` call while the peer sends a lot.
const READ_CHUNK: usize = 64 * 1024;
/// Read buffer size when it does not.
const READ_MIN: usize = 4 * 1024;

/// Socket options of one peer's connections.
#[derive(Clone, Debug, Default)]
pub(super) struct SocketOptions {
    pub local: Option<IpAddr>,
    pub password: Option<String>,
    pub ttl: TtlMode,
}

/// Opens an outgoing connection to `remote` with `opts`.
pub(super) async fn connect(remote: SocketAddr, opts: &SocketOptions) -> io::Result<TcpStream> {
    let sock = if remote.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let Some(local) = opts.local {
        sock.bind(SocketAddr::new(local, 0))?;
    }
    if let Some(key) = &opts.password {
        sockopt::set_md5_key(&sock, remote.ip(), Some(key.as_bytes()))?;
    }
    apply_ttl(&sock, remote.ip(), opts.ttl)?;
    let stream = sock.connect(remote).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sets the TTL options of `ttl` on a socket whose peer is `remote`
/// (RFC 5082 GTSM: send with 255, accept at least 256 − hops).
pub(super) fn apply_ttl<S: std::os::fd::AsFd>(sock: &S, remote: IpAddr, ttl: TtlMode) -> io::Result<()> {
    let r = socket2::SockRef::from(sock);
    let v6 = r.local_addr()?.is_ipv6() && !is_v4_mapped(remote);
    let set_ttl = |t: u32| if v6 { r.set_unicast_hops_v6(t) } else { r.set_ttl_v4(t) };
    match ttl {
        // Back to the kernel's default: an accepted socket inherits the
        // listener's TTL, which is 255 once any GTSM peer was added. Linux
        // takes -1 for "the default" on both IP_TTL and IPV6_UNICAST_HOPS
        // (ip(7), ipv6(7)); u32::MAX is -1 once socket2 hands it over as a C int.
        TtlMode::Default => set_ttl(u32::MAX),
        TtlMode::Multihop(t) => set_ttl(u32::from(t)),
        TtlMode::Security { hops } => {
            set_ttl(255)?;
            let min = 256 - u32::from(hops.max(1));
            sockopt::set_min_ttl(sock, v6, min)
        }
    }
}

fn is_v4_mapped(a: IpAddr) -> bool {
    matches!(a, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}

/// The address as the session sees it: IPv4-mapped IPv6 addresses (from a
/// dual-stack listener) as plain IPv4.
pub(super) fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

/// What the reader and writer tasks tell their session.
#[derive(Debug)]
pub(super) enum ConnEvent {
    /// An outgoing connection attempt ended.
    Connected(ConnId, io::Result<TcpStream>),
    Data(ConnId, BytesMut),
    /// The connection ended (EOF: `None`).
    Closed(ConnId, Option<io::Error>),
}

/// Reads until EOF or error, handing each read to the session. The bounded
/// channel stops reading (and so the peer, by TCP flow control) while the
/// session is busy.
pub(super) fn spawn_reader(conn: ConnId, mut rd: OwnedReadHalf, tx: mpsc::Sender<ConnEvent>) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Small while the peer only sends keepalives (thousands of idle
        // sessions each waiting in a read), large while it sends a table.
        let mut size = READ_MIN;
        loop {
            let mut buf = BytesMut::with_capacity(size);
            let ev = match rd.read_buf(&mut buf).await {
                Ok(0) => ConnEvent::Closed(conn, None),
                Ok(n) => {
                    size = if n >= size { READ_CHUNK } else { READ_MIN.max(n.next_power_of_two()) };
                    ConnEvent::Data(conn, buf)
                }
                Err(e) => ConnEvent::Closed(conn, Some(e)),
            };
            let last = matches!(ev, ConnEvent::Closed(..));
            if tx.send(ev).await.is_err() || last {
                return;
            }
        }
    })
}

/// Counters shared by a peer's session and writers.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub messages_in: AtomicU64,
    pub updates_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub updates_out: AtomicU64,
    /// Routes announced / withdrawn in UPDATEs received (BIRD's import
    /// updates / withdraws "received").
    pub routes_in: AtomicU64,
    pub withdraws_in: AtomicU64,
}

/// A chunk of whole messages to write.
#[derive(Debug)]
pub(super) enum Chunk {
    /// Encoded once by the RIB for a whole update group.
    Shared(Arc<[u8]>),
    /// Encoded by the session (OPEN, KEEPALIVE, NOTIFICATION, ROUTE-REFRESH).
    Owned(Bytes),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Shared(b) => b,
            Chunk::Owned(b) => b,
        }
    }
}

#[derive(Debug)]
enum WriterMsg {
    Data(Chunk),
    /// Several chunks, in order.
    Batch(Vec<Chunk>),
    /// Write what is queued, then close.
    Close,
}

/// The queue of one connection's writer, counted in bytes.
///
/// The RIB task stops queuing for a peer once `queued` would pass its
/// limit and sets `overflowed`; whoever sees the queue empty with
/// `overflowed` set (the writer after a write, or the RIB task right after
/// setting it) clears the flag and has the peer re-sent its Adj-RIB-Out.
#[derive(Clone, Debug)]
pub(super) struct OutQueue {
    tx: mpsc::UnboundedSender<WriterMsg>,
    queued: Arc<AtomicUsize>,
    overflowed: Arc<AtomicBool>,
}

impl OutQueue {
    pub fn push(&self, chunk: Chunk) {
        let len = chunk.bytes().len();
        self.queued.fetch_add(len, Ordering::SeqCst);
        if self.tx.send(WriterMsg::Data(chunk)).is_err() {
            self.queued.fetch_sub(len, Ordering::SeqCst);
        }
    }

    /// Queues several chunks with one message to the writer.
    pub fn push_many(&self, chunks: Vec<Chunk>) {
        if chunks.is_empty() {
            return;
        }
        let len: usize = chunks.iter().map(|c| c.bytes().len()).sum();
        self.queued.fetch_add(len, Ordering::SeqCst);
        if self.tx.send(WriterMsg::Batch(chunks)).is_err() {
            self.queued.fetch_sub(len, Ordering::SeqCst);
        }
    }

    /// Octets queued and not yet written.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Marks the queue overflowed; true when it is already empty (the
    /// caller then catches the peer up itself: the writer will not).
    pub fn set_overflowed(&self) -> bool {
        self.overflowed.store(true, Ordering::SeqCst);
        self.queued() == 0 && self.overflowed.swap(false, Ordering::SeqCst)
    }

    pub fn close(&self) {
        let _ = self.tx.send(WriterMsg::Close);
    }

    /// Identifies the queue (and so the connection) in a drained report.
    pub fn key(&self) -> usize {
        Arc::as_ptr(&self.queued) as usize
    }
}

/// Starts the writer of a connection. When an overflowed queue has been
/// written out it reports `(peer, OutQueue::key())` on `drained`.
pub(super) fn spawn_writer(
    mut wr: OwnedWriteHalf,
    counters: Arc<Counters>,
    peer: PeerId,
    drained: mpsc::UnboundedSender<(PeerId, usize)>,
) -> (OutQueue, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let q = OutQueue { tx, queued: Arc::new(AtomicUsize::new(0)), overflowed: Arc::new(AtomicBool::new(false)) };
    let queued = Arc::clone(&q.queued);
    let overflowed = Arc::clone(&q.overflowed);
    let key = q.key();
    let task = tokio::spawn(async move {
        // Queued chunks not yet (fully) written, and how much of the first is.
        let mut pending: VecDeque<Chunk> = VecDeque::new();
        let mut pending_bytes = 0usize;
        let mut offset = 0usize;
        let mut closing = false;
        loop {
            if pending.is_empty() {
                if closing {
                    break;
                }
                match rx.recv().await {
                    Some(WriterMsg::Data(c)) => {
                        pending_bytes += c.bytes().len();
                        pending.push_back(c);
                    }
                    Some(WriterMsg::Batch(cs)) => {
                        pending_bytes += cs.iter().map(|c| c.bytes().len()).sum::<usize>();
                        pending.extend(cs);
                    }
                    Some(WriterMsg::Close) | None => {
                        closing = true;
                        continue;
                    }
                }
            }
            while !closing && pending_bytes < MAX_BATCH {
                match rx.try_recv() {
                    Ok(WriterMsg::Data(c)) => {
                        pending_bytes += c.bytes().len();
                        pending.push_back(c);
                    }
                    Ok(WriterMsg::Batch(cs)) => {
                        pending_bytes += cs.iter().map(|c| c.bytes().len()).sum::<usize>();
                        pending.extend(cs);
                    }
                    Ok(WriterMsg::Close) => closing = true,
                    Err(_) => break,
                }
            }
            // Nothing to write in an empty chunk (a zero-length write would
            // read as a closed socket below).
            while pending.front().is_some_and(|c| c.bytes().len() <= offset) {
                if let Some(done) = pending.pop_front() {
                    count_messages(done.bytes(), &counters);
                }
                offset = 0;
            }
            if pending.is_empty() {
                continue;
            }
            // One gathering write straight from the shared buffers: no copy
            // into a batch buffer that every connection would keep.
            let slices: Vec<IoSlice<'_>> = pending
                .iter()
                .take(MAX_SLICES)
                .enumerate()
                .map(|(i, c)| {
                    IoSlice::new(if i == 0 { c.bytes().get(offset..).unwrap_or_default() } else { c.bytes() })
                })
                .collect();
            let written = match wr.write_vectored(&slices).await {
                Ok(0) => {
                    tracing::debug!("write returned 0");
                    break;
                }
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!(error = %e, "write failed");
                    break;
                }
            };
            drop(slices);
            pending_bytes = pending_bytes.saturating_sub(written);
            let mut left_to_account = written;
            while let Some(front) = pending.front() {
                let rest = front.bytes().len() - offset.min(front.bytes().len());
                if left_to_account < rest {
                    offset += left_to_account;
                    break;
                }
                left_to_account -= rest;
                offset = 0;
                if let Some(done) = pending.pop_front() {
                    count_messages(done.bytes(), &counters);
                }
            }
            let left = queued.fetch_sub(written, Ordering::SeqCst).saturating_sub(written);
            if left == 0 && overflowed.swap(false, Ordering::SeqCst) {
                let _ = drained.send((peer, key));
            }
        }
        if closing && pending.is_empty() {
            let _ = wr.shutdown().await;
        }
    });
    (q, task)
}

/// Counts the messages (and UPDATEs) in a buffer of whole messages.
fn count_messages(buf: &[u8], c: &Counters) {
    for (msg_type, _) in messages(buf) {
        c.messages_out.fetch_add(1, Ordering::Relaxed);
        if msg_type == bgp_proto::message::message_type::UPDATE {
            c.updates_out.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The (type, body) of each message in a buffer of whole messages that we
/// encoded ourselves (a short length field ends the walk).
pub(super) fn messages(buf: &[u8]) -> impl Iterator<Item = (u8, &[u8])> + '_ {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let (header, _) = rest.split_first_chunk::<19>()?;
        let [.., l0, l1, msg_type] = *header;
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let body = rest.get(19..len)?;
        rest = rest.get(len..).unwrap_or_default();
        Some((msg_type, body))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bgp_proto::{Context, Message, Update};

    #[test]
    fn ttl_modes_set_the_socket_ttl() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let lo = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let before = socket2::SockRef::from(&v4).ttl_v4().expect("ttl");
        apply_ttl(&v4, lo, TtlMode::Default).expect("default");
        assert_eq!(socket2::SockRef::from(&v4).ttl_v4().expect("ttl"), before);
        apply_ttl(&v4, lo, TtlMode::Multihop(5)).expect("multihop");
        assert_eq!(socket2::SockRef::from(&v4).ttl_v4().expect("ttl"), 5);
        apply_ttl(&v4, lo, TtlMode::Security { hops: 2 }).expect("gtsm");
        assert_eq!(socket2::SockRef::from(&v4).ttl_v4().expect("ttl"), 255);
        // A socket that inherited 255 from a GTSM listener goes back to the default.
        apply_ttl(&v4, lo, TtlMode::Default).expect("default again");
        assert_eq!(socket2::SockRef::from(&v4).ttl_v4().expect("ttl"), before);
        let v6 = std::net::TcpListener::bind("[::1]:0").expect("bind v6");
        apply_ttl(&v6, "::1".parse().expect("addr"), TtlMode::Security { hops: 1 }).expect("gtsm v6");
        assert_eq!(socket2::SockRef::from(&v6).unicast_hops_v6().expect("hops"), 255);
        apply_ttl(&v6, "::1".parse().expect("addr"), TtlMode::Default).expect("default v6");
        assert_ne!(socket2::SockRef::from(&v6).unicast_hops_v6().expect("hops"), 255);
    }

    #[test]
    fn messages_are_walked_and_counted_by_type() {
        let mut buf = BytesMut::new();
        let ctx = Context::default();
        Message::Keepalive.encode(&ctx, &mut buf).expect("keepalive");
        let eor = Message::Update(Update::end_of_rib(bgp_proto::Family::IPV4_UNICAST));
        eor.encode(&ctx, &mut buf).expect("update");
        Message::Keepalive.encode(&ctx, &mut buf).expect("keepalive");
        let types: Vec<(u8, usize)> = messages(&buf).map(|(t, b)| (t, b.len())).collect();
        assert_eq!(types, vec![(4, 0), (2, 4), (4, 0)]);
        let c = Counters::default();
        count_messages(&buf, &c);
        assert_eq!((c.messages_out.load(Ordering::Relaxed), c.updates_out.load(Ordering::Relaxed)), (3, 1));
        assert_eq!(messages(buf.get(..30).unwrap_or_default()).count(), 1, "a cut message is not walked");
    }
}
