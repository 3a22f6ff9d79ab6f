//! tern against BIRD 2 (`bird2` package) on loopback.

mod interop;

use interop::scenario::{check_route_refresh, check_routes, Kind};

#[test]
fn interop_bird2_ipv4_routes() {
    check_routes(Kind::Bird2, 1, false);
}

#[test]
fn interop_bird2_ipv6_routes() {
    check_routes(Kind::Bird2, 2, true);
}

#[test]
fn interop_bird2_ipv4_route_refresh() {
    check_route_refresh(Kind::Bird2, 3, false);
}

#[test]
fn interop_bird2_ipv6_route_refresh() {
    check_route_refresh(Kind::Bird2, 4, true);
}
