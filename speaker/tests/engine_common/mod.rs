//! Helpers of the engine tests: engines on loopback addresses, peer specs
//! with short timers, bounded polling.
#![allow(dead_code)]

use std::future::Future;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use bgp_proto::attribute::{MpNextHop, MpNlri, MpReach};
use bgp_proto::{Capability, Context, Family, Framer, Message, Nlri, Open, PathAttributes};
use bytes::BytesMut;
use speaker::engine::{Engine, EngineConfig, EngineTuning, Event, PeerSpec, RouteFilter, TtlMode};
use speaker::fsm::State;
use speaker::rib::{AddPathSend, NextHopMode, RibConfig};
use speaker::{PeerConfig, Timers};
use tokio::sync::mpsc;

/// Port every test engine listens on (each test has its own addresses).
pub const PORT: u16 = 17900;
/// Upper bound of every wait.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("IPv4 literal")
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("IP literal")
}

pub fn net(s: &str) -> Nlri {
    Nlri::new(s.parse().expect("prefix literal"))
}

/// Timers for tests: connect at once, retry and restart after a second.
pub fn quick_timers() -> Timers {
    Timers {
        connect_delay: Duration::ZERO,
        connect_retry: Duration::from_secs(1),
        idle_hold: Duration::from_secs(1),
        idle_hold_max: Duration::from_secs(2),
        ..Timers::default()
    }
}

/// One test engine: its address, AS, router id and the engine.
pub struct Node {
    pub name: String,
    pub addr: IpAddr,
    pub asn: u32,
    pub id: Ipv4Addr,
    pub engine: Engine,
    pub events: mpsc::UnboundedReceiver<Event>,
}

impl Node {
    pub async fn start(name: &str, addr: &str, asn: u32) -> Node {
        Node::start_with(name, addr, asn, None, EngineTuning::default()).await
    }

    pub async fn start_with(
        name: &str,
        addr: &str,
        asn: u32,
        cluster_id: Option<Ipv4Addr>,
        tuning: EngineTuning,
    ) -> Node {
        let addr = ip(addr);
        let id = match addr {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => v4("10.255.255.1"),
        };
        let mut rib = RibConfig::new(asn, id);
        rib.cluster_id = cluster_id;
        let config = EngineConfig { rib, listen: vec![SocketAddr::new(addr, PORT)] };
        let (engine, events) = Engine::start_with(config, tuning).await.expect("engine starts");
        Node { name: name.to_string(), addr, asn, id, engine, events }
    }

    /// A spec for peering with `other` over IPv4 transport, both families.
    pub fn spec_for(&self, other: &Node) -> PeerSpec {
        let mut fsm = PeerConfig::new(self.asn, self.id, other.asn);
        fsm.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
        fsm.timers = quick_timers();
        fsm.hold_time = 30;
        PeerSpec {
            name: other.name.clone(),
            address: other.addr,
            port: PORT,
            local_address: Some(self.addr),
            fsm,
            password: None,
            ttl: TtlMode::Default,
            rr_client: false,
            next_hop: NextHopMode::Auto,
            import: None,
            export: None,
            max_prefixes: None,
            add_path_send: AddPathSend::Multipath,
            allow_own_as: 0,
            import_name: "ACCEPT".to_string(),
            export_name: "ACCEPT".to_string(),
        }
    }

    pub async fn peer_with(&self, other: &Node) {
        self.engine.add_peer(self.spec_for(other)).await.expect("add_peer");
    }

    /// `(prefix, from peer name)` of every best route, sorted.
    pub async fn best_routes(&self) -> Vec<(String, Option<String>)> {
        let mut r: Vec<(String, Option<String>)> = self
            .engine
            .routes(RouteFilter::default())
            .await
            .into_iter()
            .filter(|r| r.best)
            .map(|r| (r.prefix.prefix.to_string(), r.from))
            .collect();
        r.sort();
        r
    }

    pub async fn state_of(&self, peer: &str) -> Option<State> {
        self.engine.peer(peer).await.map(|p| p.state)
    }
}

/// Polls `check` until it returns true, at most [`WAIT`].
pub async fn wait_until<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn wait_established(a: &Node, b: &Node) {
    let ok = wait_until(|| async {
        a.state_of(&b.name).await == Some(State::Established) && b.state_of(&a.name).await == Some(State::Established)
    })
    .await;
    assert!(
        ok,
        "{} and {} did not establish: {:?} / {:?}",
        a.name,
        b.name,
        a.engine.peer(&b.name).await,
        b.engine.peer(&a.name).await
    );
}

/// Attributes of an originated IPv4 route with this next hop.
pub fn attrs_v4(next_hop: &str) -> PathAttributes {
    PathAttributes { next_hop: Some(v4(next_hop)), ..PathAttributes::default() }
}

/// Attributes of an originated IPv6 route with this next hop.
pub fn attrs_v6(next_hop: &str) -> PathAttributes {
    let nh: Ipv6Addr = next_hop.parse().expect("IPv6 literal");
    PathAttributes {
        mp_reach: Some(MpReach {
            family: Family::IPV6_UNICAST,
            next_hop: MpNextHop::V6(nh),
            reserved: 0,
            nlri: MpNlri::Prefixes(Vec::new()),
        }),
        ..PathAttributes::default()
    }
}

/// Expected best-route rows: `(prefix, from)`.
pub fn rows(list: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    let mut v: Vec<(String, Option<String>)> =
        list.iter().map(|(p, f)| (p.to_string(), f.map(|x| x.to_string()))).collect();
    v.sort();
    v
}

/// One Loc-RIB row as the tests compare them: prefix, from (peer name or
/// local), next hop, best, ORIGINATOR_ID, CLUSTER_LIST.
pub type Row = (String, Option<String>, String, bool, Option<Ipv4Addr>, Vec<Ipv4Addr>);

impl Node {
    /// Every Loc-RIB route of the node, sorted.
    pub async fn loc_rib(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = self
            .engine
            .routes(RouteFilter::default())
            .await
            .into_iter()
            .map(|r| {
                let nh = match &r.attrs.mp_reach {
                    Some(m) => match m.next_hop {
                        MpNextHop::V4(a) => a.to_string(),
                        MpNextHop::V6(a) => a.to_string(),
                        MpNextHop::V6LinkLocal { global, .. } => global.to_string(),
                        MpNextHop::Other(_) => "?".to_string(),
                    },
                    None => r.attrs.next_hop.map(|a| a.to_string()).unwrap_or_default(),
                };
                (
                    r.prefix.prefix.to_string(),
                    r.from,
                    nh,
                    r.best,
                    r.attrs.originator_id,
                    r.attrs.cluster_list.clone().unwrap_or_default(),
                )
            })
            .collect();
        rows.sort();
        rows
    }

    /// Waits until the Loc-RIB is exactly `want` (sorted here); panics with both when it is not.
    pub async fn expect_loc_rib(&self, mut want: Vec<Row>) {
        want.sort();
        if !wait_until(|| async { self.loc_rib().await == want }).await {
            panic!("{}: Loc-RIB\n  is   {:?}\n  want {:?}", self.name, self.loc_rib().await, want);
        }
    }
}

/// A Loc-RIB row.
pub fn row(prefix: &str, from: Option<&str>, nh: &str, originator: Option<&str>, clusters: &[&str]) -> Row {
    (
        prefix.parse::<ipnet::IpNet>().expect("prefix").to_string(),
        from.map(str::to_string),
        nh.to_string(),
        true,
        originator.map(v4),
        clusters.iter().map(|c| v4(c)).collect(),
    )
}

/// A hand-driven BGP speaker on a blocking socket with a small receive
/// buffer, so that a few kilobytes it does not read stall its sender.
pub struct RawPeer {
    sock: std::net::TcpStream,
    framer: Framer,
}

impl RawPeer {
    pub fn connect(local: &str, remote: SocketAddr) -> RawPeer {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        s.set_recv_buffer_size(4096).expect("rcvbuf");
        s.bind(&SocketAddr::new(ip(local), 0).into()).expect("bind");
        s.connect_timeout(&remote.into(), WAIT).expect("connect");
        let sock: std::net::TcpStream = s.into();
        sock.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        RawPeer { sock, framer: Framer::with_max_message_len(4096) }
    }

    pub fn send(&mut self, msg: &Message) {
        let mut buf = BytesMut::new();
        msg.encode(&Context::default(), &mut buf).expect("encode");
        self.send_raw(&buf);
    }

    /// Writes bytes as they are (a malformed message, say).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).expect("write");
    }

    /// The next message within [`WAIT`], skipping KEEPALIVEs.
    pub fn expect_message(&mut self) -> Message {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match self.next() {
                Some(Message::Keepalive) | None => {}
                Some(m) => return m,
            }
        }
        panic!("no message from the engine");
    }

    /// The next message, or `None` when nothing came within the read
    /// timeout or the engine closed the connection.
    pub fn next(&mut self) -> Option<Message> {
        loop {
            if let Some(frame) = self.framer.next_frame().expect("framing") {
                return Some(frame.decode(&Context::default()).expect("decode"));
            }
            let mut buf = [0u8; 65536];
            match self.sock.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.framer.push(buf.get(..n).unwrap_or_default()),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return None
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// OPEN (hold time 0: no keepalives needed while we do not read) with
    /// IPv4 unicast, 4-octet AS and `more` capabilities, and KEEPALIVE until
    /// the engine's KEEPALIVE.
    pub fn establish(&mut self, asn: u32, id: &str, more: Vec<Capability>) {
        self.establish_with_hold(asn, id, more, 0);
    }

    /// [`RawPeer::establish`] proposing `hold_time`.
    pub fn establish_with_hold(&mut self, asn: u32, id: &str, more: Vec<Capability>, hold_time: u16) {
        let mut caps = vec![Capability::Multiprotocol(Family::IPV4_UNICAST), Capability::FourOctetAs(asn)];
        caps.extend(more);
        self.send(&Message::Open(Open::new(asn, hold_time, v4(id), caps)));
        let deadline = Instant::now() + WAIT;
        let mut opened = false;
        while Instant::now() < deadline {
            match self.next() {
                Some(Message::Open(_)) => {
                    opened = true;
                    self.send(&Message::Keepalive);
                }
                Some(Message::Keepalive) if opened => return,
                Some(other) => panic!("unexpected {other:?}"),
                None => {}
            }
        }
        panic!("no session");
    }
}
