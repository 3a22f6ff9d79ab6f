//! Each real daemon set up as a peer of tern, behind one interface the
//! scenarios use: what it learned from tern, announcing and withdrawing its
//! own prefixes, asking tern for a route refresh, crashing and coming back.
//!
//! Daemon `k` of test `n` listens on 127.77.n.k and `::1`, both on port
//! `net.port(k)`; it peers with tern at 127.77.n.1:port(0) and
//! [::1]:port(1), in separate IPv4 and IPv6 sessions as Calico runs them.

use std::net::{IpAddr, Ipv4Addr};

use super::bird::{Bird, Version};
use super::frr::Frr;
use super::gobgp::Gobgp;
use super::tern::TERN_AS;
use super::Net;

/// A route as a daemon's own table shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub prefix: String,
    pub as_path: Vec<u32>,
    pub next_hop: String,
    pub originator_id: Option<String>,
    pub cluster_list: Vec<String>,
    pub best: bool,
}

/// Optional parts of a daemon's peering with tern.
#[derive(Clone, Debug, Default)]
pub struct Opts {
    /// iBGP when equal to tern's AS.
    pub asn: u32,
    /// tern's AS when not [`TERN_AS`].
    pub tern_as: Option<u32>,
    /// BIRD: more `protocol bgp` options (`ttl security yes;`, ...).
    pub bird_session: String,
    /// Run the IPv4 session (to 127.77.n.1) and/or the IPv6 one (`::1`).
    pub ipv4: bool,
    pub ipv6: bool,
    pub v4_prefixes: Vec<String>,
    pub v6_prefixes: Vec<String>,
    /// Receive several paths per prefix from tern (ADD-PATH rx).
    pub add_path_rx: bool,
    /// TCP MD5 key.
    pub password: Option<String>,
    /// Graceful restart with this restart time.
    pub graceful_restart: Option<u16>,
    /// BIRD 2: more statements in the tern channels (`add paths tx;`,
    /// `next hop address ...;`), a replacement of their `export ...;`, and
    /// more top-level config (static protocols, filters).
    pub bird_channel: String,
    pub bird_export: Option<String>,
    pub bird_extra: String,
    /// BIRD, GoBGP: announce IPv4 routes with this next hop rather than
    /// itself (GoBGP drops routes with a loopback next hop, FRR resets).
    pub v4_next_hop: Option<Ipv4Addr>,
}

impl Opts {
    pub fn tern_as(&self) -> u32 {
        self.tern_as.unwrap_or(TERN_AS)
    }
}

pub trait Daemon {
    fn label(&self) -> String;
    /// The session of this family towards tern is Established (waits).
    fn wait_established(&self, v6: bool);
    /// The session of this family is Established now.
    fn session_up(&self, v6: bool) -> bool;
    /// Routes of the family in the daemon's table that came from tern.
    fn learned(&self, v6: bool) -> Vec<Seen>;
    /// Announce one of its own prefixes (one given in [`Opts`], or a new one for GoBGP/FRR).
    fn announce(&self, prefix: &str);
    fn withdraw(&self, prefix: &str);
    /// Ask tern for its routes again (ROUTE-REFRESH from the daemon's
    /// side); false when the daemon has no way to (GoBGP keeps its
    /// Adj-RIB-In and `softresetin` only re-applies policy to it).
    fn refresh_in(&self, v6: bool) -> bool;
    /// Updates the daemon counted from tern, or routes it received: a
    /// number that grows when tern re-sends.
    fn received_count(&self, v6: bool) -> u64;
    /// ROUTE-REFRESH messages the daemon counted from tern, where it shows
    /// such a counter (GoBGP, FRR; not BIRD).
    fn refreshes_received(&self, v6: bool) -> Option<u64>;
    /// SIGKILL.
    fn kill(&mut self);
    /// Start again with the same config.
    fn restart(&mut self);
}

/// The IPv6 next hop daemon `k` announces its routes with: 2001:db8:n:k::1.
pub fn daemon_v6_next_hop(net: Net, k: u8) -> String {
    format!("2001:db8:{}:{k}::1", net.n)
}

pub fn static_name(prefix: &str) -> String {
    let s: String = prefix.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("r_{s}")
}

// ---------------------------------------------------------------- BIRD

pub struct BirdPeer {
    /// BIRD 2: one daemon. BIRD 1.6: `bird` and/or `bird6`.
    pub birds: Vec<Bird>,
    /// Which of `birds` has the IPv6 session.
    v6_index: usize,
}

fn bird_timers() -> &'static str {
    "connect delay time 1; connect retry time 2; error wait time 1, 3;"
}

fn bird_statics(version: Version, prefixes: &[String]) -> String {
    let chan = match version {
        Version::V2 if prefixes.first().is_some_and(|p| p.contains(':')) => "ipv6;",
        Version::V2 => "ipv4;",
        _ => "",
    };
    prefixes.iter().map(|p| format!("protocol static {} {{ {chan} route {p} blackhole; }}\n", static_name(p))).collect()
}

/// The `protocol bgp` options BIRD 2 and 1.6 share.
fn bird_session_opts(opts: &Opts) -> String {
    let mut s = String::from(bird_timers());
    if let Some(pw) = &opts.password {
        s += &format!(" password \"{pw}\";");
    }
    if let Some(t) = opts.graceful_restart {
        s += &format!(" graceful restart on; graceful restart time {t};");
    }
    s += " ";
    s += &opts.bird_session;
    if opts.asn != opts.tern_as() {
        s += " multihop;";
    }
    s
}

impl BirdPeer {
    pub fn bird2(net: Net, k: u8, opts: &Opts) -> BirdPeer {
        let tern_as = opts.tern_as();
        let session = bird_session_opts(opts);
        let add_path = if opts.add_path_rx { " add paths rx;" } else { "" };
        let mut body = bird_statics(Version::V2, &opts.v4_prefixes) + &bird_statics(Version::V2, &opts.v6_prefixes);
        body += &opts.bird_extra;
        let export = opts.bird_export.clone().unwrap_or_else(|| "export where source = RTS_STATIC;".to_string());
        let mut add_path = format!("{add_path} {}", opts.bird_channel);
        if let Some(nh) = opts.v4_next_hop {
            add_path += &format!(" next hop address {nh};");
        }
        if opts.ipv4 {
            body += &format!(
                "protocol bgp tern4 {{\n  local {a} port {p} as {asn};\n  neighbor {t} port {tp} as {tern_as};\n  \
                 strict bind yes; {session}\n  ipv4 {{ import all; {export}{add_path} }};\n}}\n",
                a = net.v4(k),
                p = net.port(k),
                asn = opts.asn,
                t = net.v4(1),
                tp = net.port(0),
            );
        }
        if opts.ipv6 {
            // Both ends are ::1: BIRD will not send its own address as next
            // hop to a neighbor with that address ("Invalid NEXT_HOP
            // attribute - neighbor address ::1"), so it gets one of its own.
            body += &format!(
                "protocol bgp tern6 {{\n  local ::1 port {p} as {asn};\n  neighbor ::1 port {tp6} as {tern_as};\n  \
                 strict bind yes; {session}\n  ipv6 {{ import all; {export}{add_path} \
                 next hop address {nh}; }};\n}}\n",
                p = net.port(k),
                asn = opts.asn,
                tp6 = net.port(1),
                nh = daemon_v6_next_hop(net, k),
            );
        }
        let bird = Bird::start(Version::V2, &format!("bird2-{}-{k}", net.n), Ipv4Addr::new(10, 255, net.n, k), &body);
        BirdPeer { birds: vec![bird], v6_index: 0 }
    }

    pub fn bird1(net: Net, k: u8, opts: &Opts) -> BirdPeer {
        let tern_as = opts.tern_as();
        let session = bird_session_opts(opts);
        let add_path = if opts.add_path_rx { " add paths rx;" } else { "" };
        let v4 = format!(
            "listen bgp address {a} port {p};\n{}\
             protocol bgp tern4 {{\n  local {a} as {asn};\n  neighbor {t} port {tp} as {tern_as};\n  {session}\n  \
             import all; {export}{add_path}\n}}\n",
            bird_statics(Version::V1, &opts.v4_prefixes),
            export = match opts.v4_next_hop {
                Some(nh) => format!(
                    "export filter {{ if source = RTS_STATIC then {{ bgp_next_hop = {nh}; accept; }} reject; }};"
                ),
                None => "export where source = RTS_STATIC;".to_string(),
            },
            a = net.v4(k),
            p = net.port(k),
            asn = opts.asn,
            t = net.v4(1),
            tp = net.port(0),
        );
        // As BIRD 2, bird6 will not announce its own ::1 to a neighbor at
        // ::1 ("Invalid NEXT_HOP attribute in route"); it has no `next hop
        // address`, so the export filter sets one.
        let v6 = format!(
            "listen bgp address ::1 port {p};\n{}\
             protocol bgp tern6 {{\n  local ::1 as {asn};\n  neighbor ::1 port {tp6} as {tern_as};\n  {session}\n  \
             import all;{add_path}\n  \
             export filter {{ if source = RTS_STATIC then {{ bgp_next_hop = {nh}; accept; }} reject; }};\n}}\n",
            bird_statics(Version::V1Ipv6, &opts.v6_prefixes),
            p = net.port(k),
            asn = opts.asn,
            tp6 = net.port(1),
            nh = daemon_v6_next_hop(net, k),
        );
        let rid = Ipv4Addr::new(10, 255, net.n, k);
        let mut birds = Vec::new();
        if opts.ipv4 {
            birds.push(Bird::start(Version::V1, &format!("bird1-{}-{k}", net.n), rid, &v4));
        }
        if opts.ipv6 {
            birds.push(Bird::start(Version::V1Ipv6, &format!("bird6-{}-{k}", net.n), rid, &v6));
        }
        BirdPeer { v6_index: birds.len() - 1, birds }
    }

    /// `birdc disable NAME`: a static protocol's routes go away.
    pub fn withdraw_static(&self, protocol: &str) {
        self.birds[0].cmd(&format!("disable {protocol}")).expect("birdc disable");
    }

    fn for_family(&self, v6: bool) -> &Bird {
        if v6 {
            &self.birds[self.v6_index]
        } else {
            &self.birds[0]
        }
    }

    fn for_prefix(&self, prefix: &str) -> &Bird {
        self.for_family(prefix.contains(':'))
    }

    fn proto(v6: bool) -> &'static str {
        if v6 {
            "tern6"
        } else {
            "tern4"
        }
    }

    /// BIRD's `Import updates:` received counter of the tern channel.
    fn import_updates_received(&self, v6: bool) -> u64 {
        let out = self.for_family(v6).cmd(&format!("show protocols all {}", Self::proto(v6))).unwrap_or_default();
        out.lines()
            .find_map(|l| l.trim().strip_prefix("Import updates:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Daemon for BirdPeer {
    fn label(&self) -> String {
        self.birds[0].name.clone()
    }

    fn wait_established(&self, v6: bool) {
        self.for_family(v6).wait_established(Self::proto(v6));
    }

    fn session_up(&self, v6: bool) -> bool {
        self.for_family(v6).bgp_state(Self::proto(v6)) == "Established"
    }

    fn learned(&self, v6: bool) -> Vec<Seen> {
        self.for_family(v6)
            .routes_from(Self::proto(v6))
            .into_iter()
            .filter(|r| r.prefix.contains(':') == v6)
            .map(|r| Seen {
                as_path: r
                    .attr("BGP.as_path")
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|a| a.parse().ok())
                    .collect(),
                next_hop: r
                    .attr("BGP.next_hop")
                    .unwrap_or_default()
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                originator_id: r.attr("BGP.originator_id").map(str::to_string),
                cluster_list: r
                    .attr("BGP.cluster_list")
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
                best: r.primary,
                prefix: r.prefix,
            })
            .collect()
    }

    fn announce(&self, prefix: &str) {
        self.for_prefix(prefix).cmd(&format!("enable {}", static_name(prefix))).expect("birdc enable");
    }

    fn withdraw(&self, prefix: &str) {
        self.for_prefix(prefix).cmd(&format!("disable {}", static_name(prefix))).expect("birdc disable");
    }

    fn refresh_in(&self, v6: bool) -> bool {
        self.for_family(v6).cmd(&format!("reload in {}", Self::proto(v6))).expect("birdc reload in");
        true
    }

    fn received_count(&self, v6: bool) -> u64 {
        self.import_updates_received(v6)
    }

    fn refreshes_received(&self, _v6: bool) -> Option<u64> {
        None
    }

    fn kill(&mut self) {
        self.birds.iter_mut().for_each(Bird::kill);
    }

    fn restart(&mut self) {
        self.birds.iter_mut().for_each(Bird::restart);
    }
}

// ---------------------------------------------------------------- GoBGP

pub struct GobgpPeer {
    pub gobgp: Gobgp,
    pub v4_neighbor: String,
    /// Announced again after a restart (GoBGP's routes live only in its memory).
    prefixes: Vec<String>,
    v4_next_hop: Option<Ipv4Addr>,
}

impl GobgpPeer {
    pub fn start(net: Net, k: u8, opts: &Opts) -> GobgpPeer {
        let tern_as = opts.tern_as();
        let neighbor = |addr: String, remote_port: u16, local: String, family: &str| {
            let mut s = format!(
                "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{addr}\"\n    peer-as = {tern_as}\n"
            );
            if let Some(pw) = &opts.password {
                s += &format!("    auth-password = \"{pw}\"\n");
            }
            s += &format!(
                "  [neighbors.timers.config]\n    connect-retry = 2\n    idle-hold-time-after-reset = 1\n\
                 [neighbors.transport.config]\n    local-address = \"{local}\"\n    remote-port = {remote_port}\n"
            );
            if let Some(t) = opts.graceful_restart {
                s += &format!("  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = {t}\n");
            }
            s += &format!(
                "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{family}\"\n"
            );
            if opts.add_path_rx {
                s += "    [neighbors.afi-safis.add-paths.config]\n      receive = true\n";
            }
            if opts.graceful_restart.is_some() {
                s += "    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n";
            }
            s
        };
        let toml = format!(
            "[global.config]\n  as = {asn}\n  router-id = \"{rid}\"\n  port = {p}\n  local-address-list = [\"{a}\", \"::1\"]\n{}{}",
            if opts.ipv4 {
                neighbor(net.v4(1).to_string(), net.port(0), net.v4(k).to_string(), "ipv4-unicast")
            } else {
                String::new()
            },
            if opts.ipv6 { neighbor("::1".to_string(), net.port(1), "::1".to_string(), "ipv6-unicast") } else { String::new() },
            asn = opts.asn,
            rid = Ipv4Addr::new(10, 255, net.n, k),
            p = net.port(k),
            a = net.v4(k),
        );
        let gobgp = Gobgp::start(&format!("gobgp-{}-{k}", net.n), net.v4(k), &toml);
        let prefixes: Vec<String> = opts.v4_prefixes.iter().chain(&opts.v6_prefixes).cloned().collect();
        let peer = GobgpPeer { gobgp, v4_neighbor: net.v4(1).to_string(), prefixes, v4_next_hop: opts.v4_next_hop };
        peer.announce_all();
        peer
    }

    fn announce_all(&self) {
        for p in &self.prefixes {
            self.announce(p);
        }
    }

    fn neighbor(&self, v6: bool) -> &str {
        if v6 {
            "::1"
        } else {
            &self.v4_neighbor
        }
    }

    fn family(v6: bool) -> &'static str {
        if v6 {
            "ipv6"
        } else {
            "ipv4"
        }
    }
}

impl Daemon for GobgpPeer {
    fn label(&self) -> String {
        self.gobgp.name.clone()
    }

    fn wait_established(&self, v6: bool) {
        self.gobgp.wait_established(self.neighbor(v6));
    }

    fn session_up(&self, v6: bool) -> bool {
        self.gobgp.session_state(self.neighbor(v6)) == Some(6)
    }

    fn learned(&self, v6: bool) -> Vec<Seen> {
        self.gobgp
            .rib(Self::family(v6))
            .into_iter()
            .filter(|p| p.neighbor.is_some())
            .map(|p| Seen {
                as_path: p.as_path().into_iter().filter_map(|a| u32::try_from(a).ok()).collect(),
                next_hop: p.next_hop().unwrap_or_default(),
                originator_id: p.originator_id(),
                cluster_list: p.cluster_list(),
                best: p.best,
                prefix: p.prefix,
            })
            .collect()
    }

    fn announce(&self, prefix: &str) {
        let v6 = prefix.contains(':');
        let mut args = vec!["global".to_string(), "rib".into(), "add".into(), "-a".into(), Self::family(v6).into()];
        args.push(prefix.to_string());
        if let (Some(nh), false) = (self.v4_next_hop, v6) {
            args.extend(["nexthop".to_string(), nh.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.gobgp.cmd(&args).expect("gobgp global rib add");
    }

    fn withdraw(&self, prefix: &str) {
        let fam = Self::family(prefix.contains(':'));
        self.gobgp.cmd(&["global", "rib", "del", "-a", fam, prefix]).expect("gobgp global rib del");
    }

    fn refresh_in(&self, _v6: bool) -> bool {
        false
    }

    fn received_count(&self, v6: bool) -> u64 {
        let out = self.gobgp.cmd(&["neighbor", self.neighbor(v6), "-j"]).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        v["state"]["messages"]["received"]["update"].as_u64().unwrap_or(0)
    }

    fn refreshes_received(&self, v6: bool) -> Option<u64> {
        let out = self.gobgp.cmd(&["neighbor", self.neighbor(v6), "-j"]).ok()?;
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        // Zero counters are left out of GoBGP's JSON.
        Some(v["state"]["messages"]["received"]["refresh"].as_u64().unwrap_or(0))
    }

    fn kill(&mut self) {
        self.gobgp.kill();
    }

    fn restart(&mut self) {
        self.gobgp.restart();
        self.announce_all();
    }
}

// ---------------------------------------------------------------- FRR

pub struct FrrPeer {
    pub frr: Frr,
    pub asn: u32,
    pub v4_neighbor: String,
}

impl FrrPeer {
    pub fn start(net: Net, k: u8, opts: &Opts) -> FrrPeer {
        let tern_as = opts.tern_as();
        let t4 = net.v4(1);
        let mut body = format!(
            "router bgp {asn}\n bgp router-id {rid}\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n",
            asn = opts.asn,
            rid = Ipv4Addr::new(10, 255, net.n, k),
        );
        if let Some(t) = opts.graceful_restart {
            body += &format!(" bgp graceful-restart\n bgp graceful-restart restart-time {t}\n");
        }
        let mut sessions = Vec::new();
        if opts.ipv4 {
            sessions.push((t4.to_string(), net.port(0), net.v4(k).to_string()));
        }
        if opts.ipv6 {
            sessions.push(("::1".to_string(), net.port(1), "::1".to_string()));
        }
        for (addr, port, src) in sessions {
            body += &format!(
                " neighbor {addr} remote-as {tern_as}\n neighbor {addr} port {port}\n neighbor {addr} update-source {src}\n \
                 neighbor {addr} disable-connected-check\n neighbor {addr} timers connect 2\n"
            );
            if let Some(pw) = &opts.password {
                body += &format!(" neighbor {addr} password {pw}\n");
            }
        }
        body += " address-family ipv4 unicast\n";
        for p in &opts.v4_prefixes {
            body += &format!("  network {p}\n");
        }
        if opts.ipv4 {
            body += &format!("  neighbor {t4} activate\n");
            if opts.v4_next_hop.is_some() {
                body += &format!("  neighbor {t4} route-map NEXT_HOP out\n");
            }
        }
        body += " exit-address-family\n address-family ipv6 unicast\n";
        for p in &opts.v6_prefixes {
            body += &format!("  network {p}\n");
        }
        if opts.ipv6 {
            body += "  neighbor ::1 activate\n";
        }
        body += " exit-address-family\n!\n";
        if let Some(nh) = opts.v4_next_hop {
            body += &format!("route-map NEXT_HOP permit 10\n set ip next-hop {nh}\n!\n");
        }
        let listen = [IpAddr::V4(net.v4(k)), "::1".parse().expect("::1")];
        let frr = Frr::start(&format!("frr-{}-{k}", net.n), &listen, net.port(k), &body);
        FrrPeer { frr, asn: opts.asn, v4_neighbor: t4.to_string() }
    }

    fn neighbor(&self, v6: bool) -> &str {
        if v6 {
            "::1"
        } else {
            &self.v4_neighbor
        }
    }

    fn afi(v6: bool) -> &'static str {
        if v6 {
            "ipv6"
        } else {
            "ipv4"
        }
    }

    fn network(&self, prefix: &str, add: bool) {
        let af = format!("address-family {} unicast", Self::afi(prefix.contains(':')));
        let net = format!("{}network {prefix}", if add { "" } else { "no " });
        let router = format!("router bgp {}", self.asn);
        self.frr.vtysh_all(&["configure terminal", &router, &af, &net]).expect("vtysh network");
    }
}

impl Daemon for FrrPeer {
    fn label(&self) -> String {
        self.frr.name.clone()
    }

    fn wait_established(&self, v6: bool) {
        self.frr.wait_established(self.neighbor(v6));
    }

    fn session_up(&self, v6: bool) -> bool {
        self.frr.neighbor_state(self.neighbor(v6)) == "Established"
    }

    fn learned(&self, v6: bool) -> Vec<Seen> {
        self.frr
            .rib(Self::afi(v6))
            .into_iter()
            .filter(|p| p.peer != "(unspec)")
            .map(|p| Seen {
                as_path: p.as_path.split_whitespace().filter_map(|a| a.parse().ok()).collect(),
                next_hop: p.next_hops.first().cloned().unwrap_or_default(),
                originator_id: p.originator_id,
                cluster_list: p.cluster_list,
                best: p.best,
                prefix: p.prefix,
            })
            .collect()
    }

    fn announce(&self, prefix: &str) {
        self.network(prefix, true);
    }

    fn withdraw(&self, prefix: &str) {
        self.network(prefix, false);
    }

    fn refresh_in(&self, v6: bool) -> bool {
        self.frr
            .vtysh(&format!("clear bgp {} unicast {} soft in", Self::afi(v6), self.neighbor(v6)))
            .expect("vtysh clear soft in");
        true
    }

    fn received_count(&self, v6: bool) -> u64 {
        let n = self.neighbor(v6);
        let out = self.frr.vtysh(&format!("show bgp neighbors {n} json")).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        v[n]["messageStats"]["updatesRecv"].as_u64().unwrap_or(0)
    }

    fn refreshes_received(&self, v6: bool) -> Option<u64> {
        let n = self.neighbor(v6);
        let out = self.frr.vtysh(&format!("show bgp neighbors {n} json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        v[n]["messageStats"]["routeRefreshRecv"].as_u64()
    }

    fn kill(&mut self) {
        self.frr.kill();
    }

    fn restart(&mut self) {
        self.frr.restart();
    }
}
