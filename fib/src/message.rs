//! Translation between rtnetlink messages (rtnetlink(7), `struct rtmsg` +
//! `RTA_*` attributes, `struct ifinfomsg` + `IFLA_*`) and tern's route types.
//! Pure functions: no socket here.

use std::net::IpAddr;

use ipnet::IpNet;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHop, RouteNextHopFlags,
    RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::AddressFamily;

use crate::route::{LocalNextHop, LocalRoute, Route, RouteKey, RouteKind, RouteTarget};
use crate::view::Link;

/// `RT_TABLE_COMPAT`: the header's table byte when the id needs `RTA_TABLE`.
const RT_TABLE_COMPAT: u8 = 252;

fn addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// A kernel route as tern sees it; `None` for what is not an IPv4/IPv6
/// route of a table (cache clones, other families, malformed prefixes).
/// Interface names are left empty: the watch knows the links.
pub fn parse_route(msg: &RouteMessage) -> Option<LocalRoute> {
    let h = &msg.header;
    if h.flags.contains(RouteFlags::Cloned) {
        return None;
    }
    let mut dst = None;
    let mut table = u32::from(h.table);
    let mut metric = 0;
    let mut ifindex = None;
    let mut gateway = None;
    let mut src = None;
    let mut multipath = Vec::new();
    for a in &msg.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = addr(d),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Oif(i) => ifindex = Some(*i),
            RouteAttribute::Gateway(g) => gateway = addr(g),
            RouteAttribute::PrefSource(s) => src = addr(s),
            RouteAttribute::MultiPath(hops) => multipath = hops.iter().map(parse_next_hop).collect(),
            _ => {}
        }
    }
    let len = h.destination_prefix_length;
    let prefix = match (h.address_family, dst) {
        (AddressFamily::Inet, Some(a @ IpAddr::V4(_))) | (AddressFamily::Inet6, Some(a @ IpAddr::V6(_))) => {
            IpNet::new(a, len).ok()?
        }
        (AddressFamily::Inet, None) => IpNet::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), len).ok()?,
        (AddressFamily::Inet6, None) => IpNet::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), len).ok()?,
        _ => return None,
    };
    let first: Option<&LocalNextHop> = multipath.first();
    if ifindex.is_none() {
        ifindex = first.map(|h| h.ifindex);
    }
    if gateway.is_none() {
        gateway = first.and_then(|h| h.gateway);
    }
    Some(LocalRoute {
        prefix,
        table,
        kind: RouteKind::from_number(u8::from(h.kind)),
        protocol: u8::from(h.protocol),
        metric,
        interface: None,
        ifindex,
        gateway,
        src,
        multipath,
    })
}

fn parse_next_hop(hop: &RouteNextHop) -> LocalNextHop {
    let gateway = hop.attributes.iter().find_map(|a| match a {
        RouteAttribute::Gateway(g) => addr(g),
        _ => None,
    });
    LocalNextHop {
        gateway,
        ifindex: hop.interface_index,
        interface: None,
        onlink: hop.flags.contains(RouteNextHopFlags::Onlink),
        weight: u16::from(hop.hops) + 1,
    }
}

fn header(family: AddressFamily, len: u8, table: u32, protocol: u8) -> RouteHeader {
    RouteHeader {
        address_family: family,
        destination_prefix_length: len,
        table: u8::try_from(table).unwrap_or(RT_TABLE_COMPAT),
        protocol: RouteProtocol::from(protocol),
        ..RouteHeader::default()
    }
}

fn family(prefix: &IpNet) -> AddressFamily {
    match prefix {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    }
}

/// The RTM_NEWROUTE body for `route` in `table` with `protocol`; `ifindexes`
/// are the next hops' interfaces in order. The caller sends it with
/// `NLM_F_CREATE | NLM_F_REPLACE`.
pub fn build_route(route: &Route, ifindexes: &[Option<u32>], table: u32, protocol: u8) -> RouteMessage {
    let prefix = route.prefix;
    let mut h = header(family(&prefix), prefix.prefix_len(), table, protocol);
    h.scope = RouteScope::Universe;
    let mut attrs = vec![RouteAttribute::Destination(prefix.network().into()), RouteAttribute::Table(table)];
    if let Some(m) = route.metric {
        attrs.push(RouteAttribute::Priority(m));
    }
    if let Some(s) = route.src {
        attrs.push(RouteAttribute::PrefSource(s.into()));
    }
    match &route.target {
        RouteTarget::Blackhole => h.kind = RouteType::BlackHole,
        RouteTarget::Unreachable => h.kind = RouteType::Unreachable,
        RouteTarget::Via(gws) => {
            h.kind = RouteType::Unicast;
            if let [g] = gws.as_slice() {
                attrs.push(RouteAttribute::Gateway(g.address.into()));
                if let Some(Some(i)) = ifindexes.first() {
                    attrs.push(RouteAttribute::Oif(*i));
                }
                if g.onlink {
                    h.flags.insert(RouteFlags::Onlink);
                }
            } else {
                let hops = gws
                    .iter()
                    .enumerate()
                    .map(|(n, g)| {
                        let mut hop = RouteNextHop::default();
                        hop.interface_index = ifindexes.get(n).copied().flatten().unwrap_or(0);
                        hop.attributes.push(RouteAttribute::Gateway(g.address.into()));
                        if g.onlink {
                            hop.flags.insert(RouteNextHopFlags::Onlink);
                        }
                        hop
                    })
                    .collect();
                attrs.push(RouteAttribute::MultiPath(hops));
            }
        }
    }
    let mut msg = RouteMessage::default();
    msg.header = h;
    msg.attributes = attrs;
    msg
}

/// The RTM_DELROUTE body for our route at `key`. It names our protocol: the
/// kernel then refuses to remove a route of any other protocol (ESRCH).
pub fn build_delete(key: &RouteKey, protocol: u8) -> RouteMessage {
    let prefix = key.prefix;
    let mut h = header(family(&prefix), prefix.prefix_len(), key.table, protocol);
    h.scope = RouteScope::NoWhere;
    h.kind = RouteType::Unspec;
    let attrs = vec![
        RouteAttribute::Destination(prefix.network().into()),
        RouteAttribute::Table(key.table),
        RouteAttribute::Priority(key.metric),
    ];
    let mut msg = RouteMessage::default();
    msg.header = h;
    msg.attributes = attrs;
    msg
}

/// A dump request for one family's routes (all tables).
pub fn route_dump_request(v6: bool) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = if v6 { AddressFamily::Inet6 } else { AddressFamily::Inet };
    msg
}

/// A link's index, name and administrative state.
pub fn parse_link(msg: &LinkMessage) -> Option<Link> {
    let name = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })?;
    Some(Link { index: msg.header.index, name, up: msg.header.flags.contains(LinkFlags::Up) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Gateway;
    use rtnetlink::packet_core::{Emitable, Parseable};

    fn net(s: &str) -> IpNet {
        s.parse().expect("prefix")
    }

    /// Through bytes and back, as the kernel would read and echo it.
    fn round_trip(msg: &RouteMessage) -> LocalRoute {
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.emit(&mut buf);
        let parsed = RouteMessage::parse(buf.as_slice()).expect("parse");
        parse_route(&parsed).expect("route")
    }

    #[test]
    fn onlink_via_tunl0_keeps_gateway_interface_and_flag() {
        let r = Route::via(net("10.0.1.0/26"), Gateway::new("192.168.0.2".parse().expect("a")).dev("tunl0").onlink());
        let msg = build_route(&r, &[Some(7)], 254, 12);
        assert!(msg.header.flags.contains(RouteFlags::Onlink));
        let back = round_trip(&msg);
        assert_eq!(back.prefix, net("10.0.1.0/26"));
        assert_eq!(back.protocol, 12);
        assert_eq!(back.table, 254);
        assert_eq!(back.kind, RouteKind::Unicast);
        assert_eq!(back.gateway, Some("192.168.0.2".parse().expect("a")));
        assert_eq!(back.ifindex, Some(7));
    }

    #[test]
    fn multipath_carries_every_next_hop() {
        let gws = vec![Gateway::new("10.1.0.2".parse().expect("a")), Gateway::new("10.1.0.3".parse().expect("a"))];
        let msg = build_route(&Route::multipath(net("10.0.2.0/26"), gws), &[None, None], 254, 12);
        let back = round_trip(&msg);
        let hops: Vec<String> = back.multipath.iter().filter_map(|h| h.gateway).map(|g| g.to_string()).collect();
        assert_eq!(hops, vec!["10.1.0.2", "10.1.0.3"]);
        assert_eq!(back.gateway, Some("10.1.0.2".parse().expect("a")), "first hop stands for the route");
        assert!(back.multipath.iter().all(|h| h.weight == 1));
    }

    #[test]
    fn blackhole_with_metric_and_src_in_a_high_table() {
        let r = Route::blackhole(net("2001:db8:1::/64")).with_metric(77).with_src("2001:db8::1".parse().expect("a"));
        let msg = build_route(&r, &[], 1000, 12);
        assert_eq!(msg.header.table, RT_TABLE_COMPAT);
        let back = round_trip(&msg);
        assert_eq!(back.kind, RouteKind::Blackhole);
        assert_eq!(back.table, 1000);
        assert_eq!(back.metric, 77);
        assert_eq!(back.src, Some("2001:db8::1".parse().expect("a")));
    }

    #[test]
    fn delete_names_our_protocol_and_metric() {
        let key = RouteKey { table: 254, prefix: net("10.0.3.0/26"), metric: 5 };
        let msg = build_delete(&key, 12);
        assert_eq!(u8::from(msg.header.protocol), 12);
        assert_eq!(msg.header.scope, RouteScope::NoWhere);
        let back = round_trip(&msg);
        assert_eq!(back.key(), key);
    }

    #[test]
    fn cloned_routes_and_other_families_are_not_routes() {
        let mut msg = build_route(&Route::blackhole(net("10.0.0.0/8")), &[], 254, 12);
        msg.header.flags.insert(RouteFlags::Cloned);
        assert_eq!(parse_route(&msg), None);
        let mut other = RouteMessage::default();
        other.header.address_family = AddressFamily::Unspec;
        assert_eq!(parse_route(&other), None);
    }

    #[test]
    fn default_route_has_no_destination_attribute() {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet("10.0.0.1".parse().expect("a"))));
        assert_eq!(parse_route(&msg).expect("route").prefix, net("0.0.0.0/0"));
    }
}
