//! tern's engine under test, on a multi-thread runtime of its own so that
//! the test thread may block on daemons while the sessions run.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bgp_proto::attribute::{MpNextHop, MpNlri, MpReach};
use bgp_proto::{Family, Nlri, PathAttributes};
use speaker::engine::{Engine, EngineConfig, Event, PeerSpec, PeerStatus, RouteFilter, RouteInfo, TtlMode};
use speaker::rib::{AddPathSend, NextHopMode, RibConfig};
use speaker::{PeerConfig, State, Timers};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{wait_for, Net};

pub const TERN_AS: u32 = 65001;

pub const V4: Family = Family::IPV4_UNICAST;
pub const V6: Family = Family::IPV6_UNICAST;

pub struct Tern {
    pub net: Net,
    pub asn: u32,
    pub engine: Engine,
    pub events: UnboundedReceiver<Event>,
    /// `None` after [`Tern::crash`].
    rt: Option<tokio::runtime::Runtime>,
}

impl Tern {
    /// tern with AS [`TERN_AS`] (unless `tweak` changes it), router ID
    /// 10.255.n.1, listening on 127.77.n.1:port(0) and [::1]:port(1).
    pub fn start(net: Net) -> Tern {
        Self::start_with(net, |_| {})
    }

    pub fn start_with(net: Net, tweak: impl FnOnce(&mut RibConfig)) -> Tern {
        let rt =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
        let mut rib = RibConfig::new(TERN_AS, Ipv4Addr::new(10, 255, net.n, 1));
        tweak(&mut rib);
        let asn = rib.local_as;
        let listen = vec![
            SocketAddr::new(IpAddr::V4(net.v4(1)), net.port(0)),
            SocketAddr::new(IpAddr::V6(net.v6()), net.port(1)),
        ];
        let config = EngineConfig { rib, listen };
        // After a crash the old listeners close in the background.
        let (engine, events) = wait_for("tern's listeners to bind", || rt.block_on(Engine::start(config.clone())));
        Tern { net, asn, engine, events, rt: Some(rt) }
    }

    pub fn router_id(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 255, self.net.n, 1)
    }

    /// A peer `name` at `address`:`port` of AS `peer_as`, from our own
    /// address of its family, with fast timers (connect delay 0, retry
    /// 1 s, error wait 1–2 s).
    pub fn spec(&self, name: &str, address: IpAddr, port: u16, peer_as: u32) -> PeerSpec {
        let mut fsm = PeerConfig::new(self.asn, self.router_id(), peer_as);
        fsm.families = vec![if address.is_ipv4() { V4 } else { V6 }];
        fsm.hold_time = 30;
        fsm.timers = Timers {
            connect_delay: Duration::from_millis(200),
            connect_retry: Duration::from_secs(1),
            idle_hold: Duration::from_secs(1),
            idle_hold_max: Duration::from_secs(2),
            ..Timers::default()
        };
        let local = match address {
            IpAddr::V4(_) => IpAddr::V4(self.net.v4(1)),
            IpAddr::V6(_) => IpAddr::V6(self.net.v6()),
        };
        PeerSpec {
            name: name.to_string(),
            address,
            port,
            local_address: Some(local),
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

    pub fn add_peer(&self, spec: PeerSpec) {
        let name = spec.name.clone();
        self.rt().block_on(self.engine.add_peer(spec)).unwrap_or_else(|e| panic!("add_peer {name}: {e}"));
    }

    pub fn stats(&self) -> speaker::engine::EngineStats {
        self.rt().block_on(self.engine.stats())
    }

    /// Stops the peer with Cease/`subcode` and an optional shutdown communication.
    pub fn remove_peer(&self, name: &str, subcode: u8, communication: Option<&str>) {
        self.rt()
            .block_on(self.engine.remove_peer(name, subcode, communication.map(str::to_string)))
            .unwrap_or_else(|e| panic!("remove_peer {name}: {e}"));
    }

    /// Applies a changed spec (Cease/Other Configuration Change, restart).
    pub fn reset_peer(&self, spec: PeerSpec) {
        let name = spec.name.clone();
        self.rt().block_on(self.engine.reset_peer(spec)).unwrap_or_else(|e| panic!("reset_peer {name}: {e}"));
    }

    pub fn state(&self, name: &str) -> Option<State> {
        self.rt().block_on(self.engine.peer(name)).map(|p| p.state)
    }

    pub fn peer(&self, name: &str) -> PeerStatus {
        self.rt().block_on(self.engine.peer(name)).unwrap_or_else(|| panic!("tern has no peer {name}"))
    }

    pub fn wait_established(&self, name: &str) {
        wait_for(&format!("tern peer {name} Established"), || {
            let p = self.rt().block_on(self.engine.peer(name));
            match p {
                Some(p) if p.state == State::Established => Ok(()),
                other => Err(format!("{other:#?}")),
            }
        })
    }

    /// Originates `prefix` with ORIGIN IGP, an empty AS path and, when
    /// given, this next hop (else the session's own address is used).
    pub fn originate(&self, prefix: &str, next_hop: Option<IpAddr>) {
        let (family, nlri) = nlri(prefix);
        let mut attrs = PathAttributes { origin: Some(bgp_proto::attribute::Origin::Igp), ..Default::default() };
        match next_hop {
            Some(IpAddr::V4(a)) if family == V4 => attrs.next_hop = Some(a),
            Some(IpAddr::V6(a)) => {
                attrs.mp_reach = Some(MpReach {
                    family,
                    next_hop: MpNextHop::V6(a),
                    reserved: 0,
                    nlri: MpNlri::Prefixes(Vec::new()),
                })
            }
            _ => {}
        }
        self.rt().block_on(self.engine.originate(family, nlri, attrs)).expect("originate");
    }

    pub fn withdraw(&self, prefix: &str) {
        let (family, nlri) = nlri(prefix);
        self.rt().block_on(self.engine.withdraw_local(family, nlri)).expect("withdraw_local");
    }

    pub fn route_refresh(&self, name: &str, family: Family) {
        self.rt().block_on(self.engine.route_refresh(name, family)).expect("route_refresh");
    }

    pub fn routes(&self, filter: RouteFilter) -> Vec<RouteInfo> {
        self.rt().block_on(self.engine.routes(filter))
    }

    /// Routes learned from peer `name`.
    pub fn routes_from(&self, name: &str) -> Vec<RouteInfo> {
        self.routes(RouteFilter { peer: Some(name.to_string()), ..RouteFilter::default() })
    }
}

impl Tern {
    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("tern is running")
    }

    /// Stops tern as a crash would: the runtime goes away with every task
    /// while the [`Engine`] handle is still held (dropping the last handle
    /// first makes the engine shut down in order, with Cease/Administrative
    /// Shutdown, which RFC 8538 peers take as a Hard Reset); the kernel
    /// closes the sockets and no NOTIFICATION goes out.
    pub fn crash(mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Tern {
    fn drop(&mut self) {
        if let Some(rt) = &self.rt {
            rt.block_on(self.engine.shutdown(None));
        }
    }
}

pub fn nlri(prefix: &str) -> (Family, Nlri) {
    let net: ipnet::IpNet = prefix.parse().expect("prefix");
    let family = if net.addr().is_ipv4() { V4 } else { V6 };
    (family, Nlri::new(net))
}

/// A route of tern's table in the words the tests compare.
pub fn prefix_of(r: &RouteInfo) -> String {
    r.prefix.prefix.to_string()
}
