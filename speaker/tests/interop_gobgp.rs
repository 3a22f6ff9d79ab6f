//! tern against GoBGP (`gobgpd` package) on loopback.

mod interop;

use interop::scenario::{check_route_refresh, check_routes, Kind};

#[test]
fn interop_gobgp_ipv4_routes() {
    check_routes(Kind::Gobgp, 20, false);
}

#[test]
fn interop_gobgp_ipv6_routes() {
    check_routes(Kind::Gobgp, 21, true);
}

#[test]
fn interop_gobgp_ipv4_route_refresh() {
    check_route_refresh(Kind::Gobgp, 22, false);
}

#[test]
fn interop_gobgp_ipv6_route_refresh() {
    check_route_refresh(Kind::Gobgp, 23, true);
}
