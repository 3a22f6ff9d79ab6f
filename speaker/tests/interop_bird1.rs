//! tern against BIRD 1.6 (Calico's BIRD: `bird` and `bird6`, unpacked by scripts/install-test-deps.sh) on loopback.

mod interop;

use interop::scenario::{check_route_refresh, check_routes, Kind};

#[test]
fn interop_bird1_ipv4_routes() {
    check_routes(Kind::Bird1, 10, false);
}

#[test]
fn interop_bird1_ipv6_routes() {
    check_routes(Kind::Bird1, 11, true);
}

#[test]
fn interop_bird1_ipv4_route_refresh() {
    check_route_refresh(Kind::Bird1, 12, false);
}

#[test]
fn interop_bird1_ipv6_route_refresh() {
    check_route_refresh(Kind::Bird1, 13, true);
}
