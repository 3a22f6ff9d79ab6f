//! tern against FRR's bgpd (`frr` package, without zebra) on loopback.

mod interop;

use interop::scenario::{check_route_refresh, check_routes, Kind};

#[test]
fn interop_frr_ipv4_routes() {
    check_routes(Kind::Frr, 30, false);
}

#[test]
fn interop_frr_ipv6_routes() {
    check_routes(Kind::Frr, 31, true);
}

#[test]
fn interop_frr_ipv4_route_refresh() {
    check_route_refresh(Kind::Frr, 32, false);
}

#[test]
fn interop_frr_ipv6_route_refresh() {
    check_route_refresh(Kind::Frr, 33, true);
}
