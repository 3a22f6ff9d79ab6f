//! Semantic checks run after the file parsed: all problems are collected, each pointing at the
//! offending value.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::error::{Diagnostic, Locator};
use crate::schema::{Cidr, Config, RouterIdSpec, Spanned};

/// A BGP community value as written in `[calico] communities`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Community {
    /// RFC 1997 `aa:nn`.
    Standard(u16, u16),
    /// RFC 8092 `aa:nn:mm`.
    Large(u32, u32, u32),
}

impl Community {
    /// Parses `aa:nn` or `aa:nn:mm`.
    pub fn parse(s: &str) -> Option<Community> {
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            [a, b] => Some(Community::Standard(a.parse().ok()?, b.parse().ok()?)),
            [a, b, c] => Some(Community::Large(a.parse().ok()?, b.parse().ok()?, c.parse().ok()?)),
            _ => None,
        }
    }
}

/// This node's IPv4 address: `[global] ipv4`, else its `[mesh]` entry.
pub(crate) fn self_ipv4(cfg: &Config) -> Option<Ipv4Addr> {
    cfg.global.ipv4.as_ref().map(|a| *a.get_ref()).or_else(|| {
        cfg.mesh
            .nodes
            .iter()
            .find(|n| n.name.get_ref() == cfg.global.node_name.get_ref())
            .and_then(|n| n.ipv4.as_ref().map(|a| *a.get_ref()))
    })
}

/// This node's IPv6 address: `[global] ipv6`, else its `[mesh]` entry.
pub(crate) fn self_ipv6(cfg: &Config) -> Option<Ipv6Addr> {
    cfg.global.ipv6.as_ref().map(|a| *a.get_ref()).or_else(|| {
        cfg.mesh
            .nodes
            .iter()
            .find(|n| n.name.get_ref() == cfg.global.node_name.get_ref())
            .and_then(|n| n.ipv6.as_ref().map(|a| *a.get_ref()))
    })
}

/// This node's route-reflector cluster ID: `[global] rr_cluster_id`, else its `[mesh]` entry's.
pub(crate) fn self_cluster_id(cfg: &Config) -> Option<Ipv4Addr> {
    cfg.global.rr_cluster_id.as_ref().map(|a| *a.get_ref()).or_else(|| {
        cfg.mesh
            .nodes
            .iter()
            .find(|n| n.name.get_ref() == cfg.global.node_name.get_ref())
            .and_then(|n| n.rr_cluster_id.as_ref().map(|a| *a.get_ref()))
    })
}

struct Checker<'a> {
    loc: &'a Locator<'a>,
    out: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn err<T>(&mut self, at: &Spanned<T>, message: impl Into<String>) {
        self.out.push(self.loc.diagnostic(Some(at.span()), message));
    }

    fn line_of<T>(&self, at: &Spanned<T>) -> usize {
        self.loc.line_column(at.span().start).0
    }

    fn asn(&mut self, asn: &Spanned<u32>) {
        if *asn.get_ref() == 0 {
            self.err(asn, "AS 0 is reserved (RFC 7607): expected an AS number from 1 to 4294967295");
        }
    }

    fn password(&mut self, password: &Option<Spanned<String>>, file: &Option<Spanned<std::path::PathBuf>>) {
        if let (Some(_), Some(file)) = (password, file) {
            self.err(file, "password and password_file are both set: expected at most one of them");
        }
        if let Some(pw) = password {
            if pw.get_ref().is_empty() {
                self.err(pw, "password is empty: expected a TCP MD5 key (RFC 2385) or no password key");
            } else if pw.get_ref().len() > 80 {
                self.err(pw, "password is longer than 80 bytes: the kernel's TCP MD5 key limit (TCP_MD5SIG_MAXKEYLEN)");
            }
        }
    }

    fn restart_time(&mut self, t: &Option<Spanned<u16>>) {
        if let Some(g) = t {
            if *g.get_ref() > 4095 {
                self.err(
                    g,
                    format!(
                        "graceful_restart_time {} does not fit the 12-bit Restart Time (RFC 4724 §3): expected 0 to 4095",
                        g.get_ref()
                    ),
                );
            }
        }
    }

    fn cidr(&mut self, c: &Spanned<Cidr>, what: &str) {
        let net = c.get_ref().0;
        if net.trunc() != net {
            self.err(c, format!("{what} {net} has host bits set: expected {}", net.trunc()));
        }
    }
}

/// Runs every semantic check; returns the problems sorted by position.
pub(crate) fn validate(cfg: &Config, loc: &Locator<'_>) -> Vec<Diagnostic> {
    let mut c = Checker { loc, out: Vec::new() };
    let g = &cfg.global;
    c.asn(&g.asn);
    if g.node_name.get_ref().is_empty() {
        c.err(&g.node_name, "node_name is empty: expected this node's Calico node name");
    }
    if let Some(rid) = &g.router_id {
        if *rid.get_ref() == RouterIdSpec::Address(Ipv4Addr::UNSPECIFIED) {
            c.err(rid, "router ID 0.0.0.0 is invalid (RFC 6286): expected a non-zero IPv4 address or \"hash\"");
        }
    }
    let own_cluster = self_cluster_id(cfg);

    check_mesh(cfg, &mut c);
    check_peers(cfg, own_cluster, &mut c);
    check_calico(cfg, &mut c);

    if *cfg.kernel.protocol.get_ref() == 0 {
        c.err(&cfg.kernel.protocol, "kernel protocol 0 is RTPROT_UNSPEC: expected a number from 1 to 255 (12 = bird)");
    }
    let mut out = c.out;
    out.sort_by_key(|d| (d.line, d.column));
    out
}

fn check_mesh(cfg: &Config, c: &mut Checker<'_>) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut v4: HashMap<Ipv4Addr, usize> = HashMap::new();
    let mut v6: HashMap<Ipv6Addr, usize> = HashMap::new();
    for n in &cfg.mesh.nodes {
        let line = c.line_of(&n.name);
        if let Some(first) = names.insert(n.name.get_ref(), line) {
            c.err(
                &n.name,
                format!("duplicate mesh node \"{}\" (first at line {first}): expected unique names", n.name.get_ref()),
            );
        }
        if let Some(a) = &n.ipv4 {
            let line = c.line_of(a);
            if let Some(first) = v4.insert(*a.get_ref(), line) {
                c.err(a, format!("duplicate mesh node address {} (first at line {first})", a.get_ref()));
            }
        }
        if let Some(a) = &n.ipv6 {
            let line = c.line_of(a);
            if let Some(first) = v6.insert(*a.get_ref(), line) {
                c.err(a, format!("duplicate mesh node address {} (first at line {first})", a.get_ref()));
            }
        }
        if let Some(asn) = &n.asn {
            c.asn(asn);
        }
    }
    c.password(&cfg.mesh.password, &cfg.mesh.password_file);
    c.restart_time(&cfg.mesh.graceful_restart_time);
    let has_self = names.contains_key(cfg.global.node_name.get_ref().as_str());
    if cfg.mesh.enabled
        && !cfg.mesh.nodes.is_empty()
        && !has_self
        && cfg.global.ipv4.is_none()
        && cfg.global.ipv6.is_none()
    {
        c.err(
            &cfg.global.node_name,
            format!(
                "node \"{}\" is not among [mesh] nodes and has no ipv4/ipv6: expected a [[mesh.nodes]] entry with this name",
                cfg.global.node_name.get_ref()
            ),
        );
    }
    if let Some(me) = cfg.mesh.nodes.iter().find(|n| n.name.get_ref() == cfg.global.node_name.get_ref()) {
        if let (Some(g), Some(n)) = (&cfg.global.ipv4, &me.ipv4) {
            if g.get_ref() != n.get_ref() {
                c.err(
                    n,
                    format!(
                        "ipv4 {} differs from [global] ipv4 {}: expected the same address",
                        n.get_ref(),
                        g.get_ref()
                    ),
                );
            }
        }
        if let (Some(g), Some(n)) = (&cfg.global.ipv6, &me.ipv6) {
            if g.get_ref() != n.get_ref() {
                c.err(
                    n,
                    format!(
                        "ipv6 {} differs from [global] ipv6 {}: expected the same address",
                        n.get_ref(),
                        g.get_ref()
                    ),
                );
            }
        }
    }
    if let (Some(g), Some(n)) = (
        &cfg.global.rr_cluster_id,
        cfg.mesh
            .nodes
            .iter()
            .find(|n| n.name.get_ref() == cfg.global.node_name.get_ref())
            .and_then(|n| n.rr_cluster_id.as_ref()),
    ) {
        if g.get_ref() != n.get_ref() {
            c.err(
                n,
                format!(
                    "rr_cluster_id {} differs from [global] rr_cluster_id {}: expected the same value",
                    n.get_ref(),
                    g.get_ref()
                ),
            );
        }
    }
}

fn check_peers(cfg: &Config, own_cluster: Option<Ipv4Addr>, c: &mut Checker<'_>) {
    let mut seen: HashMap<(IpAddr, u16), usize> = HashMap::new();
    // Addresses the mesh will peer with: a [[peer]] on one of them would be a second session.
    let mut mesh_addrs: HashMap<IpAddr, &str> = HashMap::new();
    if cfg.mesh.enabled && own_cluster.is_none() {
        for n in &cfg.mesh.nodes {
            if n.name.get_ref() == cfg.global.node_name.get_ref() || n.rr_cluster_id.is_some() {
                continue;
            }
            for a in
                [n.ipv4.as_ref().map(|a| IpAddr::V4(*a.get_ref())), n.ipv6.as_ref().map(|a| IpAddr::V6(*a.get_ref()))]
                    .into_iter()
                    .flatten()
            {
                mesh_addrs.insert(a, n.name.get_ref());
            }
        }
    }
    let own: Vec<IpAddr> = self_ipv4(cfg).map(IpAddr::V4).into_iter().chain(self_ipv6(cfg).map(IpAddr::V6)).collect();
    for p in &cfg.peers {
        c.asn(&p.asn);
        let addr = *p.address.get_ref();
        let line = c.line_of(&p.address);
        if let Some(first) = seen.insert((addr, p.port.unwrap_or(179)), line) {
            c.err(
                &p.address,
                format!("duplicate peer {addr} (first at line {first}): expected each peer address and port once"),
            );
        }
        if !own.iter().any(|o| o.is_ipv4() == addr.is_ipv4()) {
            let fam = if addr.is_ipv4() { "ipv4" } else { "ipv6" };
            c.err(
                &p.address,
                format!(
                    "peer {addr} needs this node's {fam} address (Calico disables {fam} BGP without one): \
                     expected [global] {fam} or an {fam} in this node's [[mesh.nodes]] entry"
                ),
            );
        }
        if own.contains(&addr) {
            c.err(&p.address, format!("peer {addr} is this node's own address: expected another router"));
        }
        c.password(&p.password, &p.password_file);
        if let Some(m) = mesh_addrs.get(&addr) {
            c.err(
                &p.address,
                format!("peer {addr} is also mesh node \"{m}\" while the mesh is on: expected one session per address"),
            );
        }
        if let Some(src) = &p.source_address {
            if src.get_ref().is_ipv4() != addr.is_ipv4() {
                c.err(src, format!("source_address {} is not of the peer's address family", src.get_ref()));
            }
        }
        let hold = p.hold_time.as_ref().map(|h| *h.get_ref());
        if let Some(h) = &p.hold_time {
            if matches!(*h.get_ref(), 1 | 2) {
                c.err(
                    h,
                    format!(
                        "hold_time {} is not allowed (RFC 4271 §4.2): expected 0 or at least 3 seconds",
                        h.get_ref()
                    ),
                );
            }
        }
        if let Some(k) = &p.keepalive_time {
            let effective_hold = hold.unwrap_or(crate::desired::DEFAULT_HOLD_TIME);
            if effective_hold != 0 && u32::from(*k.get_ref()) * 3 > u32::from(effective_hold) {
                c.err(
                    k,
                    format!(
                        "keepalive_time {} exceeds a third of the hold time {effective_hold}: expected at most {}",
                        k.get_ref(),
                        effective_hold / 3
                    ),
                );
            }
        }
        if let Some(t) = &p.ttl_security {
            if *t.get_ref() == 0 {
                c.err(t, "ttl_security 0: expected the number of hops to the peer, 1 to 255");
            }
            if let Some(m) = &p.multihop {
                let _ = m;
                c.err(t, "ttl_security and multihop are both set: expected one of them");
            }
        }
        if let Some(m) = &p.multihop {
            if *m.get_ref() == 0 {
                c.err(m, "multihop 0: expected a TTL from 1 to 255");
            }
        }
        c.restart_time(&p.graceful_restart_time);
        if let Some(f) = &p.families {
            if f.get_ref().is_empty() {
                c.err(f, "families is empty: expected at least one of \"ipv4-unicast\", \"ipv6-unicast\"");
            }
        }
        if let Some(rr) = &p.rr_client {
            if *rr.get_ref() {
                if p.cluster_id.is_none() && own_cluster.is_none() {
                    c.err(
                        rr,
                        "rr_client = true needs a cluster ID: expected cluster_id here or [global] rr_cluster_id",
                    );
                }
                if p.asn.get_ref() != cfg.global.asn.get_ref() {
                    c.err(
                        rr,
                        "rr_client = true on an eBGP peer: route reflection (RFC 4456) applies to iBGP peers only",
                    );
                }
            }
        }
        if let Some(m) = &p.max_prefixes {
            if *m.get_ref() == 0 {
                c.err(m, "max_prefixes 0 would refuse every route: expected a positive limit or no key");
            }
        }
    }
}

fn check_calico(cfg: &Config, c: &mut Checker<'_>) {
    let cal = &cfg.calico;
    let mut pools: HashMap<IpNet, usize> = HashMap::new();
    for p in &cal.ip_pools {
        c.cidr(&p.cidr, "pool");
        let line = c.line_of(&p.cidr);
        if let Some(first) = pools.insert(p.cidr.get_ref().0.trunc(), line) {
            c.err(&p.cidr, format!("duplicate IP pool {} (first at line {first})", p.cidr.get_ref().0));
        }
        if p.cidr.get_ref().0.addr().is_ipv6() && p.ipip_mode != crate::schema::EncapMode::Never {
            c.err(&p.cidr, "ipip_mode on an IPv6 pool: IPIP carries IPv4 only, expected ipip_mode = \"Never\"");
        }
    }
    for b in &cal.ipam_blocks {
        c.cidr(b, "IPAM block");
        let net = b.get_ref().0;
        if !cal.ip_pools.is_empty() && !cal.ip_pools.iter().any(|p| p.cidr.get_ref().0.contains(&net)) {
            c.err(
                b,
                format!(
                    "IPAM block {net} is inside no [[calico.ip_pools]] CIDR: expected a block of a configured pool"
                ),
            );
        }
    }
    for list in [&cal.service_cluster_cidrs, &cal.service_external_cidrs, &cal.service_loadbalancer_cidrs] {
        for s in list {
            c.cidr(s, "service CIDR");
        }
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for n in &cal.communities {
        let line = c.line_of(&n.name);
        if let Some(first) = names.insert(n.name.get_ref(), line) {
            c.err(&n.name, format!("duplicate community name \"{}\" (first at line {first})", n.name.get_ref()));
        }
        if Community::parse(n.value.get_ref()).is_none() {
            c.err(
                &n.value,
                format!(
                    "bad community \"{}\": expected \"aa:nn\" (16-bit numbers) or \"aa:nn:mm\" (32-bit numbers)",
                    n.value.get_ref()
                ),
            );
        }
    }
    for a in &cal.prefix_advertisements {
        c.cidr(&a.cidr, "advertised prefix");
        for v in &a.communities {
            if !names.contains_key(v.get_ref().as_str()) && Community::parse(v.get_ref()).is_none() {
                c.err(v, format!("unknown community \"{}\": expected a name from [[calico.communities]] or \"aa:nn\" / \"aa:nn:mm\"", v.get_ref()));
            }
        }
    }
}
