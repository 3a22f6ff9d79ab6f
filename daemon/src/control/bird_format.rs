//! BIRD 1.6's control-socket replies, rendered from plain status data.
//!
//! Every reply line is `CODE-text` (more follows), `CODE text` (the last
//! line of the reply) or ` text` (a continuation of the previous line's
//! code). Column layouts and formats follow BIRD 1.6.8's `show protocols`,
//! `show protocols all`, `show status`, `show route` and `show memory`, as
//! captured in `tests/data/bird-socket/`. Times are shown in UTC (Calico
//! nodes run in UTC containers) in BIRD's default formats: `%T` within 20
//! hours, `%F` before that; `%F %T` in `show status`.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use bgp_proto::attribute::{AsPath, MpNextHop, Origin, SegmentType};
use bgp_proto::{Afi, PathAttributes};
use speaker::fsm::State;

use crate::status::{DaemonStatus, EngineStats, PeerStatus, RouteInfo};

/// BIRD's reply codes (`doc/reply_codes` in BIRD's sources).
pub mod code {
    pub const OK: u16 = 0;
    pub const WELCOME: u16 = 1;
    pub const READING_CONFIG: u16 = 2;
    pub const RECONFIGURED: u16 = 3;
    pub const STATUS: u16 = 13;
    pub const GR_RECOVERY: u16 = 24;
    pub const VERSION: u16 = 1000;
    pub const PROTOCOL_LIST: u16 = 1002;
    pub const PROTOCOL_DETAILS: u16 = 1006;
    pub const ROUTE_LIST: u16 = 1007;
    pub const ROUTE_DETAILS: u16 = 1008;
    pub const ROUTER_ID: u16 = 1011;
    pub const ROUTE_ATTRIBUTES: u16 = 1012;
    pub const MEMORY: u16 = 1018;
    pub const PROTOCOL_HEADER: u16 = 2002;
    pub const NOT_IN_TABLE: u16 = 8001;
    pub const CONFIG_ERROR: u16 = 8002;
    pub const COMMAND_TOO_LONG: u16 = 9000;
    pub const SYNTAX_ERROR: u16 = 9001;
    pub const INVALID_SYMBOL: u16 = 9002;
}

/// The header line calicoctl checks word for word.
pub const PROTOCOLS_HEADER: &str = "name     proto    table    state  since       info";

/// Accumulates one reply with BIRD's line prefixes.
#[derive(Debug, Default)]
pub struct Reply {
    out: String,
    last: Option<u16>,
}

impl Reply {
    pub fn new() -> Self {
        Self::default()
    }

    /// A line with more to follow: `CODE-text`, or ` text` when the previous
    /// line had the same code.
    pub fn more(&mut self, code: u16, text: &str) {
        if self.last == Some(code) {
            self.out.push(' ');
        } else {
            let _ = write!(self.out, "{code:04}-");
        }
        self.out.push_str(text);
        self.out.push('\n');
        self.last = Some(code);
    }

    /// The last line of the reply: `CODE text`.
    pub fn end(mut self, code: u16, text: &str) -> String {
        let _ = writeln!(self.out, "{code:04} {text}");
        self.out
    }

    /// The ordinary end of a listing: `0000 `.
    pub fn done(self) -> String {
        self.end(code::OK, "")
    }
}

/// `0001 BIRD 1.6.8 ready.`
pub fn greeting(daemon: &DaemonStatus) -> String {
    Reply::new().end(code::WELCOME, &format!("{} ready.", bird_version(daemon)))
}

/// The version as BIRD shows it: calico-node's liveness check wants the
/// reply to start with `BIRD`.
pub fn bird_version(daemon: &DaemonStatus) -> String {
    if daemon.version.starts_with("BIRD") {
        daemon.version.clone()
    } else {
        format!("BIRD {}", daemon.version)
    }
}

/// BIRD's protocol state column (`proto_state_name`): a BGP protocol is
/// `up` once Established and `start` while it tries.
pub fn proto_state(p: &PeerStatus) -> &'static str {
    match p.state {
        State::Established => "up",
        _ => "start",
    }
}

/// BIRD's BGP state (`bgp_state_dsc`): a passive peer waiting for its
/// neighbour shows `Passive`.
pub fn bgp_state(p: &PeerStatus) -> &'static str {
    match p.state {
        State::Idle | State::Active if p.passive => "Passive",
        State::Idle => "Idle",
        State::Connect => "Connect",
        State::Active => "Active",
        State::OpenSent => "OpenSent",
        State::OpenConfirm => "OpenConfirm",
        State::Established => "Established",
    }
}

/// The info column (`bgp_get_status`): the BGP state padded to 14, then
/// the last error while the session is not up.
pub fn proto_info(p: &PeerStatus) -> String {
    let err = match (&p.last_error, p.state) {
        (Some(e), s) if s != State::Established => e.as_str(),
        _ => "",
    };
    format!("{:<14}{}", bgp_state(p), err)
}

fn protocol_row(p: &PeerStatus, now: SystemTime) -> String {
    format!(
        "{:<8} {:<8} {:<8} {:<5}  {:<10}  {}",
        p.name,
        "BGP",
        "master",
        proto_state(p),
        short_time(p.since, now),
        proto_info(p)
    )
}

/// `show protocols`: the header, one row per peer, `0000`.
pub fn show_protocols(peers: &[PeerStatus], now: SystemTime) -> String {
    let mut r = Reply::new();
    r.more(code::PROTOCOL_HEADER, PROTOCOLS_HEADER);
    for p in peers {
        r.more(code::PROTOCOL_LIST, &protocol_row(p, now));
    }
    r.done()
}

/// `show protocols all NAME`: the row and BIRD's 1006 details block;
/// `preferred` is how many of the peer's routes are best in the Loc-RIB.
pub fn show_protocol_all(p: &PeerStatus, preferred: usize, now: SystemTime) -> String {
    show_protocols_all(&[(p, preferred)], now)
}

/// `show protocols all`: for each peer its row and details block, in one
/// reply under one header.
pub fn show_protocols_all(peers: &[(&PeerStatus, usize)], now: SystemTime) -> String {
    let mut r = Reply::new();
    r.more(code::PROTOCOL_HEADER, PROTOCOLS_HEADER);
    for (p, preferred) in peers {
        r.more(code::PROTOCOL_LIST, &protocol_row(p, now));
        for line in protocol_details(p, *preferred) {
            r.more(code::PROTOCOL_DETAILS, &line);
        }
        r.more(code::PROTOCOL_DETAILS, "");
    }
    r.done()
}

/// The lines of BIRD's `proto_show_basic_info` and `bgp_show_proto_info`.
fn protocol_details(p: &PeerStatus, preferred: usize) -> Vec<String> {
    let imported: u64 = p.prefixes.iter().map(|(_, c)| c.accepted).sum();
    let exported: u64 = p.prefixes.iter().map(|(_, c)| c.advertised).sum();
    let iu = &p.import_updates;
    let iw = &p.import_withdraws;
    let eu = &p.export_updates;
    let ew = &p.export_withdraws;
    let mut v = vec![
        "  Description:    Connection to BGP peer".to_string(),
        "  Preference:     100".to_string(),
        format!("  Input filter:   {}", filter_name(&p.import_name)),
        format!("  Output filter:  {}", filter_name(&p.export_name)),
        format!("  Routes:         {imported} imported, {exported} exported, {preferred} preferred"),
        "  Route change stats:     received   rejected   filtered    ignored   accepted".to_string(),
        format!(
            "    Import updates:     {:>10} {:>10} {:>10} {:>10} {:>10}",
            iu.received, iu.rejected, iu.filtered, iu.ignored, iu.accepted
        ),
        format!(
            "    Import withdraws:   {:>10} {:>10}        --- {:>10} {:>10}",
            iw.received, iw.rejected, iw.ignored, iw.accepted
        ),
        format!(
            "    Export updates:     {:>10} {:>10} {:>10}        --- {:>10}",
            eu.received, eu.rejected, eu.filtered, eu.accepted
        ),
        format!("    Export withdraws:   {:>10}        ---        ---        --- {:>10}", ew.received, ew.accepted),
        format!("  BGP state:          {}", bgp_state(p)),
        format!("    Neighbor address: {}", p.address),
        format!("    Neighbor AS:      {}", p.remote_as),
    ];
    if p.state == State::Established {
        if let Some(id) = p.remote_id {
            v.push(format!("    Neighbor ID:      {id}"));
        }
        let mut caps = String::new();
        for c in &p.peer_capabilities {
            caps.push(' ');
            caps.push_str(c);
        }
        v.push(format!("    Neighbor caps:   {caps}"));
        v.push(format!("    Session:          {}", session_flags(p)));
        if let Some(a) = p.local_address {
            v.push(format!("    Source address:   {a}"));
        }
        // The engine reports negotiated timers, not their remaining time:
        // shown as full, which is what BIRD shows right after a message.
        if let Some(h) = p.hold_time {
            v.push(format!("    Hold timer:       {0}/{0}", h.as_secs()));
        }
        if let Some(k) = p.keepalive {
            v.push(format!("    Keepalive timer:  {0}/{0}", k.as_secs()));
        }
    } else if let Some(e) = &p.last_error {
        v.push(format!("    Last error:       {e}"));
    }
    v
}

fn filter_name(name: &str) -> &str {
    if name.is_empty() {
        "ACCEPT"
    } else {
        name
    }
}

/// BIRD's `Session:` line: internal/external, then the session's options.
/// Calico's BGP template sets `multihop` for every peer.
fn session_flags(p: &PeerStatus) -> String {
    let mut s = String::from(if p.local_as == p.remote_as { "internal" } else { "external" });
    s.push_str(" multihop");
    if p.rr_client {
        s.push_str(" route-reflector");
    }
    let has = |c: &str| p.peer_capabilities.iter().any(|x| x == c);
    if has("AS4") {
        s.push_str(" AS4");
    }
    // The peer's add-path-tx is our add-path-rx and the other way round.
    if has("add-path-tx") {
        s.push_str(" add-path-rx");
    }
    if has("add-path-rx") {
        s.push_str(" add-path-tx");
    }
    s
}

/// `show status`: version, router ID, times, the graceful-restart recovery
/// block while selection is deferred, `0013 Daemon is up and running`.
pub fn show_status(
    daemon: &DaemonStatus,
    stats: &EngineStats,
    peers: &[PeerStatus],
    gr_wait: Duration,
    now: SystemTime,
) -> String {
    let mut r = Reply::new();
    r.more(code::VERSION, &bird_version(daemon));
    r.more(code::ROUTER_ID, &format!("Router ID is {}", daemon.router_id));
    r.more(code::ROUTER_ID, &format!("Current server time is {}", long_time(now)));
    r.more(code::ROUTER_ID, &format!("Last reboot on {}", long_time(daemon.started)));
    r.more(code::ROUTER_ID, &format!("Last reconfiguration on {}", long_time(daemon.last_reconfiguration)));
    if stats.deferring {
        let waiting = peers.iter().filter(|p| p.state != State::Established).count();
        let elapsed = now.duration_since(daemon.started).unwrap_or_default();
        let left = gr_wait.saturating_sub(elapsed);
        r.more(code::GR_RECOVERY, "Graceful restart recovery in progress");
        r.more(code::GR_RECOVERY, &format!("  Waiting for {waiting} protocols to recover"));
        r.more(code::GR_RECOVERY, &format!("  Wait timer is {}/{}", left.as_secs(), gr_wait.as_secs()));
    }
    r.end(code::STATUS, "Daemon is up and running")
}

/// Where a route came from, for the route line's `[proto time]`.
pub struct RouteOrigin<'a> {
    pub protocol: &'a str,
    pub since: SystemTime,
}

/// `show route [all]`: one 1007 line per route (the prefix only on the
/// first route of a prefix), and with `all` the 1008 type and 1012
/// attribute lines. `origins[i]` names route `i`'s protocol and time.
pub fn show_route(routes: &[RouteInfo], origins: &[RouteOrigin<'_>], all: bool, now: SystemTime) -> String {
    let mut r = Reply::new();
    let mut prev: Option<ipnet::IpNet> = None;
    for (route, o) in routes.iter().zip(origins) {
        let prefix = route.prefix.prefix;
        let shown = if prev == Some(prefix) { String::new() } else { prefix.to_string() };
        prev = Some(prefix);
        r.more(code::ROUTE_LIST, &route_line(&shown, route, o, now));
        if all {
            let kind = if route.from.is_some() { "BGP" } else { "static" };
            r.more(code::ROUTE_DETAILS, &format!("\tType: {kind} unicast univ"));
            if route.from.is_some() {
                for a in route_attributes(&route.attrs) {
                    r.more(code::ROUTE_ATTRIBUTES, &a);
                }
            }
        }
    }
    r.done()
}

/// `8001 Network not in table`, BIRD's reply to `show route for` that
/// finds nothing.
pub fn not_in_table() -> String {
    Reply::new().end(code::NOT_IN_TABLE, "Network not in table")
}

fn route_line(prefix: &str, route: &RouteInfo, o: &RouteOrigin<'_>, now: SystemTime) -> String {
    let star = if route.best { " *" } else { "" };
    let time = short_time(o.since, now);
    match route.from {
        Some(_) => {
            let via = match next_hop(&route.attrs) {
                Some(nh) => format!("via {nh}"),
                None => "unreachable".to_string(),
            };
            let from = match (route.from_address, next_hop(&route.attrs)) {
                (Some(f), Some(nh)) if f != nh => format!(" from {f}"),
                _ => String::new(),
            };
            format!("{prefix:<18} {via} [{} {time}{from}]{star} (100/0) [{}]", o.protocol, origin_info(&route.attrs))
        }
        None => format!("{prefix:<18} blackhole [{} {time}]{star} (200)", o.protocol),
    }
}

/// The route's next hop: NEXT_HOP, or the global address of MP_REACH.
pub fn next_hop(attrs: &PathAttributes) -> Option<IpAddr> {
    if let Some(nh) = attrs.next_hop {
        return Some(IpAddr::V4(nh));
    }
    match attrs.mp_reach.as_ref().map(|m| &m.next_hop) {
        Some(MpNextHop::V4(a)) => Some(IpAddr::V4(*a)),
        Some(MpNextHop::V6(a)) | Some(MpNextHop::V6LinkLocal { global: a, .. }) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

/// `[AS65001i]`: the origin AS (last of the path) and the origin code.
fn origin_info(attrs: &PathAttributes) -> String {
    let mut s = String::new();
    if let Some(last) = attrs.as_path.as_ref().and_then(last_as) {
        let _ = write!(s, "AS{last}");
    }
    if let Some(o) = attrs.origin {
        s.push(match o {
            Origin::Igp => 'i',
            Origin::Egp => 'e',
            Origin::Incomplete => '?',
        });
    }
    s
}

fn last_as(path: &AsPath) -> Option<u32> {
    let seg = path.segments.last()?;
    match seg.kind {
        SegmentType::AsSequence => seg.asns.last().copied(),
        _ => None,
    }
}

/// BIRD 1.6's `BGP.*` attribute lines, in attribute code order.
fn route_attributes(a: &PathAttributes) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(o) = a.origin {
        let name = match o {
            Origin::Igp => "IGP",
            Origin::Egp => "EGP",
            Origin::Incomplete => "Incomplete",
        };
        v.push(format!("\tBGP.origin: {name}"));
    }
    v.push(format!("\tBGP.as_path: {}", as_path_text(a.as_path.as_ref())));
    if let Some(nh) = a.next_hop {
        v.push(format!("\tBGP.next_hop: {nh}"));
    } else if let Some(m) = &a.mp_reach {
        match &m.next_hop {
            MpNextHop::V4(x) => v.push(format!("\tBGP.next_hop: {x}")),
            MpNextHop::V6(x) => v.push(format!("\tBGP.next_hop: {x}")),
            MpNextHop::V6LinkLocal { global, link_local } => v.push(format!("\tBGP.next_hop: {global} {link_local}")),
            MpNextHop::Other(_) => {}
        }
    }
    if let Some(m) = a.med {
        v.push(format!("\tBGP.med: {m}"));
    }
    if let Some(lp) = a.local_pref {
        v.push(format!("\tBGP.local_pref: {lp}"));
    }
    if a.atomic_aggregate {
        v.push("\tBGP.atomic_aggr: ".to_string());
    }
    if let Some(ag) = a.aggregator {
        v.push(format!("\tBGP.aggregator: {} AS{}", ag.address, ag.asn));
    }
    if let Some(cs) = &a.communities {
        let text: Vec<String> = cs.iter().map(|c| format!("({},{})", c >> 16, c & 0xffff)).collect();
        v.push(format!("\tBGP.community: {}", text.join(" ")));
    }
    if let Some(id) = a.originator_id {
        v.push(format!("\tBGP.originator_id: {id}"));
    }
    if let Some(cl) = &a.cluster_list {
        let text: Vec<String> = cl.iter().map(|c| c.to_string()).collect();
        v.push(format!("\tBGP.cluster_list: {}", text.join(" ")));
    }
    if let Some(ecs) = &a.extended_communities {
        let text: Vec<String> = ecs
            .iter()
            .map(|e| {
                let hi = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
                let lo = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
                format!("(generic, 0x{hi:x}, 0x{lo:x})")
            })
            .collect();
        v.push(format!("\tBGP.ext_community: {}", text.join(" ")));
    }
    if let Some(lcs) = &a.large_communities {
        let text: Vec<String> =
            lcs.iter().map(|l| format!("({}, {}, {})", l.global_admin, l.local_data1, l.local_data2)).collect();
        v.push(format!("\tBGP.large_community: {}", text.join(" ")));
    }
    v
}

/// BIRD's AS path text: sequences as numbers, sets in braces.
fn as_path_text(path: Option<&AsPath>) -> String {
    let Some(path) = path else { return String::new() };
    let parts: Vec<String> = path
        .segments
        .iter()
        .map(|s| {
            let asns: Vec<String> = s.asns.iter().map(|a| a.to_string()).collect();
            match s.kind {
                SegmentType::AsSequence | SegmentType::ConfedSequence => asns.join(" "),
                SegmentType::AsSet | SegmentType::ConfedSet => format!("{{{}}}", asns.join(" ")),
            }
        })
        .collect();
    parts.join(" ")
}

/// `show memory`: estimates in BIRD's layout (`%-17s %4u %cB`).
pub fn show_memory(routes: usize, stats: &EngineStats, peers: usize) -> String {
    let tables = 8192 + routes * 110 + stats.destinations * 40;
    let attrs = 512 + stats.attribute_sets * 96;
    let roa = 192;
    let protocols = 4096 + peers * 3072;
    let total = tables + attrs + roa + protocols + 40 * 1024;
    let mut r = Reply::new();
    r.more(code::MEMORY, "BIRD memory usage");
    for (name, value) in [
        ("Routing tables:", tables),
        ("Route attributes:", attrs),
        ("ROA tables:", roa),
        ("Protocols:", protocols),
        ("Total:", total),
    ] {
        r.more(code::MEMORY, &format!("{name:<17} {}", size_text(value as u64)));
    }
    r.done()
}

/// BIRD's `print_size`: at most four digits, then the unit.
fn size_text(mut value: u64) -> String {
    let units = [' ', 'k', 'M', 'G'];
    let mut i = 0;
    while value >= 10000 && i < 3 {
        value = (value + 512) / 1024;
        i += 1;
    }
    format!("{value:>4} {}B", units[i])
}

/// The reply to an unknown or malformed command.
pub fn syntax_error() -> String {
    Reply::new().end(code::SYNTAX_ERROR, "syntax error")
}

/// `9002 NAME is not a protocol`.
pub fn no_such_protocol(name: &str) -> String {
    Reply::new().end(code::INVALID_SYMBOL, &format!("{name} is not a protocol"))
}

/// The reply to `configure`/`reload`: `0003 Reconfigured` after the
/// summary, or the refusal as `8002` lines.
pub fn reload_reply(result: &Result<String, String>) -> String {
    let mut r = Reply::new();
    match result {
        Ok(summary) => {
            for line in summary.lines() {
                r.more(code::READING_CONFIG, line);
            }
            r.end(code::RECONFIGURED, "Reconfigured")
        }
        Err(e) => {
            let lines: Vec<&str> = e.lines().collect();
            let (last, first) = lines.split_last().unwrap_or((&"reconfiguration failed", &[]));
            for line in first {
                r.more(code::CONFIG_ERROR, line);
            }
            r.end(code::CONFIG_ERROR, last)
        }
    }
}

/// Whether `addr` belongs on the socket serving `family` (`None`: both).
pub fn address_in_family(addr: IpAddr, family: Option<Afi>) -> bool {
    match family {
        None => true,
        Some(f) if f == Afi::IPV4 => addr.is_ipv4(),
        Some(f) if f == Afi::IPV6 => addr.is_ipv6(),
        Some(_) => false,
    }
}

/// `HH:MM:SS` within 20 hours of `now`, `YYYY-MM-DD` before (BIRD's
/// default `timeformat protocol`/`route`).
pub fn short_time(t: SystemTime, now: SystemTime) -> String {
    let c = Civil::from(t);
    let recent = now.duration_since(t).map(|d| d < Duration::from_secs(20 * 3600)).unwrap_or(true);
    if recent {
        format!("{:02}:{:02}:{:02}", c.hour, c.minute, c.second)
    } else {
        format!("{:04}-{:02}-{:02}", c.year, c.month, c.day)
    }
}

/// `YYYY-MM-DD HH:MM:SS` (BIRD's `timeformat base`).
pub fn long_time(t: SystemTime) -> String {
    let c = Civil::from(t);
    format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

/// A UTC calendar time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl From<SystemTime> for Civil {
    fn from(t: SystemTime) -> Self {
        let secs = match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        };
        let days = secs.div_euclid(86400);
        let rem = secs.rem_euclid(86400) as u32;
        // Days since 1970-01-01 to a proleptic Gregorian date, counting in
        // 400-year eras that start on 0000-03-01 (leap day last).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil { year, month, day, hour: rem / 3600, minute: rem % 3600 / 60, second: rem % 60 }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn civil_dates() {
        // `date -u -d @N`
        assert_eq!(long_time(at(0)), "1970-01-01 00:00:00");
        assert_eq!(long_time(at(951_782_400)), "2000-02-29 00:00:00");
        assert_eq!(long_time(at(1_795_717_629)), "2026-11-26 18:27:09");
        assert_eq!(long_time(at(4_107_542_399)), "2100-02-28 23:59:59");
    }

    #[test]
    fn short_time_switches_to_date_after_20_hours() {
        let t = at(1_795_717_629);
        assert_eq!(short_time(t, t + Duration::from_secs(3600)), "18:27:09");
        assert_eq!(short_time(t, t + Duration::from_secs(21 * 3600)), "2026-11-26");
    }

    #[test]
    fn sizes_as_bird_prints_them() {
        assert_eq!(size_text(9984), "9984  B");
        assert_eq!(size_text(35 * 1024), "  35 kB");
        assert_eq!(size_text(124 * 1024), " 124 kB");
    }

    fn reflected_ebgp_route(best: bool) -> RouteInfo {
        use bgp_proto::attribute::{AsSegment, LargeCommunity};
        use std::net::Ipv4Addr;
        let attrs = PathAttributes {
            origin: Some(Origin::Incomplete),
            as_path: Some(AsPath {
                segments: vec![
                    AsSegment { kind: SegmentType::AsSequence, asns: vec![65001, 65002] },
                    AsSegment { kind: SegmentType::AsSet, asns: vec![65003, 65004] },
                ],
            }),
            next_hop: Some(Ipv4Addr::new(10, 0, 0, 9)),
            med: Some(5),
            local_pref: Some(200),
            communities: Some(vec![(65000 << 16) | 100]),
            originator_id: Some(Ipv4Addr::new(10, 0, 0, 9)),
            cluster_list: Some(vec![Ipv4Addr::new(1, 1, 1, 1)]),
            large_communities: Some(vec![LargeCommunity { global_admin: 1, local_data1: 2, local_data2: 3 }]),
            ..PathAttributes::default()
        };
        RouteInfo {
            family: bgp_proto::Family::IPV4_UNICAST,
            prefix: bgp_proto::Nlri::new("192.0.2.0/24".parse().unwrap()),
            from: Some("Global_10_0_0_1".to_string()),
            from_address: Some("10.0.0.1".parse().unwrap()),
            attrs: std::sync::Arc::new(attrs),
            best,
            multipath: false,
            stale: false,
        }
    }

    #[test]
    fn route_lines_with_as_path_reflection_and_second_path() {
        let t = at(1_795_717_623);
        let routes = vec![reflected_ebgp_route(true), reflected_ebgp_route(false)];
        let origins: Vec<RouteOrigin<'_>> =
            routes.iter().map(|_| RouteOrigin { protocol: "Global_10_0_0_1", since: t }).collect();
        let out = show_route(&routes, &origins, true, t);
        let expected = "\
1007-192.0.2.0/24       via 10.0.0.9 [Global_10_0_0_1 18:27:03 from 10.0.0.1] * (100/0) [?]
1008-\tType: BGP unicast univ
1012-\tBGP.origin: Incomplete
 \tBGP.as_path: 65001 65002 {65003 65004}
 \tBGP.next_hop: 10.0.0.9
 \tBGP.med: 5
 \tBGP.local_pref: 200
 \tBGP.community: (65000,100)
 \tBGP.originator_id: 10.0.0.9
 \tBGP.cluster_list: 1.1.1.1
 \tBGP.large_community: (1, 2, 3)
1007-                   via 10.0.0.9 [Global_10_0_0_1 18:27:03 from 10.0.0.1] (100/0) [?]
";
        assert!(out.starts_with(expected), "{out}");
        // The origin AS is the last of the path's sequence only.
        let mut seq = reflected_ebgp_route(true);
        let mut attrs = (*seq.attrs).clone();
        attrs.as_path = Some(AsPath {
            segments: vec![bgp_proto::attribute::AsSegment { kind: SegmentType::AsSequence, asns: vec![65001] }],
        });
        attrs.origin = Some(Origin::Igp);
        seq.attrs = std::sync::Arc::new(attrs);
        let line = show_route(&[seq], &origins[..1], false, t);
        assert!(line.contains("* (100/0) [AS65001i]\n"), "{line}");
    }

    #[test]
    fn reply_prefixes() {
        let mut r = Reply::new();
        r.more(1011, "a");
        r.more(1011, "b");
        r.more(13, "c");
        assert_eq!(r.end(0, ""), "1011-a\n b\n0013-c\n0000 \n");
    }
}
