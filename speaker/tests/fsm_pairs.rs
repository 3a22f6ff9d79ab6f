//! Two FSMs back to back on a simulated clock (see `harness`), and one FSM
//! against hand-written peer messages for the error cases.

mod harness;

use std::net::Ipv4Addr;
use std::time::Duration;

use bgp_proto::capability::AddPathMode;
use bgp_proto::error::{cease_subcode, code, open_subcode};
use bgp_proto::open::OptionalParameter;
use bgp_proto::{Family, Message, Notification, Open};
use harness::*;
use speaker::{Action, ConnId, Direction, DownReason, GracefulRestartConfig, Input, PeerConfig, State};

const ID_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const ID_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// A (side 0, active) and B (side 1, passive), iBGP in AS 65000.
fn ibgp_pair() -> (PeerConfig, PeerConfig) {
    let a = PeerConfig::new(65000, ID_A, 65000);
    let mut b = PeerConfig::new(65000, ID_B, 65000);
    b.passive = true;
    (a, b)
}

fn established_pair(a: PeerConfig, b: PeerConfig) -> Sim {
    let mut sim = Sim::new(a, b);
    sim.start_both();
    assert!(sim.run_until(secs(10), Sim::both_established), "session did not come up");
    sim
}

fn cease(subcode: u8) -> Notification {
    Notification::cease(subcode)
}

#[test]
fn normal_open_reaches_established_on_both_sides() {
    let (a, b) = ibgp_pair();
    let sim = established_pair(a, b);
    use State::*;
    assert_eq!(states(sim.log(0)), vec![Idle, Active, Connect, OpenSent, OpenConfirm, Established]);
    assert_eq!(states(sim.log(1)), vec![Idle, Active, OpenSent, OpenConfirm, Established]);
    // The connect delay: A connects 2 s after the start; B (passive) never does.
    assert_eq!(connects(sim.log(0)), vec![secs(2)]);
    assert!(connects(sim.log(1)).is_empty());
    // Each side sent exactly OPEN then KEEPALIVE, on the one link.
    assert_eq!(sim.open_links().len(), 1);
    for side in 0..2 {
        let kinds: Vec<u8> = sent(sim.log(side)).iter().map(|(_, _, m)| m.msg_type()).collect();
        assert_eq!(kinds, vec![1, 4], "side {side}");
    }
    let (_, _, n) = &established(sim.log(0))[0];
    assert_eq!((n.peer_as, n.peer_id, n.hold_time, n.keepalive), (65000, ID_B, 240, 80));
    assert!(n.is_ibgp());
    let (conn, n1) = sim.peer(1).session().expect("B has a session");
    assert_eq!(conn, sim.open_links()[0].ids[1]);
    assert_eq!(n1.peer_id, ID_A);
}

#[test]
fn keepalives_at_a_third_of_the_hold_time() {
    let (mut a, mut b) = ibgp_pair();
    a.hold_time = 9;
    b.hold_time = 30;
    let mut sim = established_pair(a, b);
    sim.run_for(secs(20));
    // Negotiated hold 9 s → keepalive 3 s: the OpenConfirm KEEPALIVE at 2 s, then every 3 s.
    let expected: Vec<Duration> = (0..=6).map(|k| secs(2 + 3 * k)).collect();
    assert_eq!(keepalive_times(sim.log(0)), expected);
    assert_eq!(keepalive_times(sim.log(1)), expected);
    assert!(sim.both_established());
    assert!(downs(sim.log(0)).is_empty() && downs(sim.log(1)).is_empty());
}

#[test]
fn configured_keepalive_and_zero_hold_time() {
    let (mut a, b) = ibgp_pair();
    a.keepalive = Some(10);
    let mut sim = established_pair(a, b);
    sim.run_for(secs(25));
    assert_eq!(keepalive_times(sim.log(0)), vec![secs(2), secs(12), secs(22)]);
    // B keeps a third of the negotiated 240 s: nothing after the first until 82 s.
    assert_eq!(keepalive_times(sim.log(1)), vec![secs(2)]);

    // Hold time 0: one KEEPALIVE to confirm the OPEN, then none, and no hold timer.
    let (mut a, b) = ibgp_pair();
    a.hold_time = 0;
    let mut sim = established_pair(a, b);
    sim.sides[1].mute = true;
    sim.run_for(secs(3600));
    assert_eq!(keepalive_times(sim.log(0)), vec![secs(2)]);
    assert!(sim.both_established());
    assert_eq!(sim.peer(0).poll_timeout(), None);
}

/// Both sides active with the same connect delay: two TCP connections; the one
/// initiated by the higher BGP identifier survives, the other gets Cease 6/7.
fn collision(id_a: Ipv4Addr, id_b: Ipv4Addr) {
    let a = PeerConfig::new(65000, id_a, 65001);
    let b = PeerConfig::new(65001, id_b, 65000);
    let mut sim = Sim::new(a, b);
    sim.start_both();
    assert!(sim.run_until(secs(10), Sim::both_established));
    sim.run_for(secs(1));
    assert_eq!(sim.links.len(), 2, "both sides connected");
    let winner = if u32::from(id_a) > u32::from(id_b) { 0 } else { 1 };
    let open = sim.open_links();
    assert_eq!(open.len(), 1, "exactly one connection survives");
    assert_eq!(open[0].initiator, winner);
    let loser = sim.links.iter().find(|l| !l.open).expect("closed link").clone();
    for side in 0..2 {
        assert_eq!(sim.peer(side).connection_count(), 1);
        let (conn, _) = sim.peer(side).session().expect("session");
        assert_eq!(conn, open[0].ids[side]);
        assert_eq!(notifications_sent(sim.log(side)), vec![(loser.ids[side], cease(7))]);
        assert!(downs(sim.log(side)).is_empty(), "a collision is not a session failure");
        assert_eq!(established(sim.log(side)).len(), 1);
    }
    sim.run_for(secs(300));
    assert!(sim.both_established());
}

#[test]
fn collision_keeps_the_connection_of_the_higher_identifier() {
    collision(ID_A, ID_B);
    collision(ID_B, ID_A);
}

#[test]
fn collision_with_equal_identifiers_compares_as_numbers() {
    // RFC 6286 §2.3 (eBGP may share identifiers): the larger AS wins. A has AS 65000 < 65001.
    let a = PeerConfig::new(65000, ID_A, 65001);
    let b = PeerConfig::new(65001, ID_A, 65000);
    let mut sim = Sim::new(a, b);
    sim.start_both();
    assert!(sim.run_until(secs(10), Sim::both_established));
    let open = sim.open_links();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].initiator, 1);
}

#[test]
fn incoming_connection_while_established_is_refused() {
    let (a, b) = ibgp_pair();
    let mut sim = established_pair(a, b);
    let extra = sim.sides[1].peer.incoming_conn_id();
    let now = sim.now;
    let actions = sim.sides[1].peer.handle(now, Input::Connected { conn: extra, direction: Direction::Incoming });
    assert_eq!(actions, vec![Action::Send(extra, Message::Notification(cease(7))), Action::Close(extra)]);
    assert_eq!(sim.peer(1).state(), State::Established);
}

#[test]
fn incoming_connection_from_restarted_gr_peer_replaces_the_session() {
    let (mut a, mut b) = ibgp_pair();
    a.graceful_restart = Some(GracefulRestartConfig::default());
    b.graceful_restart = Some(GracefulRestartConfig::default());
    let mut sim = established_pair(a, b);
    let old = sim.peer(1).session().expect("session").0;
    let new = sim.sides[1].peer.incoming_conn_id();
    let now = sim.now;
    let actions = sim.sides[1].peer.handle(now, Input::Connected { conn: new, direction: Direction::Incoming });
    assert_eq!(actions[0], Action::Close(old));
    assert_eq!(actions[1], Action::Down { reason: DownReason::PeerRestarted, established: true });
    assert!(matches!(&actions[2], Action::Send(c, Message::Open(_)) if *c == new));
    assert_eq!(sim.peer(1).state(), State::OpenSent);
    let gr = sim.sides[0].peer.session().expect("A's session").1.graceful_restart.clone();
    assert!(DownReason::PeerRestarted.keeps_routes(gr.as_ref()));
    assert!(!DownReason::NotificationReceived(Notification::hard_reset(&cease(2))).keeps_routes(gr.as_ref()));
    assert!(DownReason::NotificationReceived(cease(2)).keeps_routes(gr.as_ref()));
}

#[test]
fn hold_expiry_then_idle_hold_backoff_and_reconnect() {
    let (mut a, mut b) = ibgp_pair();
    a.hold_time = 9;
    b.hold_time = 9;
    let mut sim = established_pair(a, b);
    // B goes silent: A's hold timer (9 s after B's last KEEPALIVE, at 8 s) expires at 17 s.
    sim.run_for(secs(6));
    sim.sides[1].mute = true;
    sim.run_until(secs(30), |s| s.peer(0).state() == State::Idle);
    assert_eq!(sim.elapsed(), secs(17));
    let last = notifications_sent(sim.log(0));
    assert_eq!(last.len(), 1);
    assert_eq!((last[0].1.code, last[0].1.subcode), (code::HOLD_TIMER_EXPIRED, 0));
    assert_eq!(downs(sim.log(0)), vec![(secs(17), DownReason::HoldTimerExpired, true)]);
    // B got the 4/0 (only B's own messages are dropped).
    let b_downs = downs(sim.log(1));
    assert_eq!(b_downs.len(), 1);
    assert!(matches!(&b_downs[0].1, DownReason::NotificationReceived(n) if n.code == 4));
    sim.sides[1].mute = false;

    // IdleHold 5 s, then A reconnects at once and the session comes back.
    assert!(sim.run_until(secs(30), Sim::both_established));
    assert_eq!(connects(sim.log(0)), vec![secs(2), secs(22)]);
    assert_eq!(established(sim.log(0)).len(), 2);

    // Consecutive failures double the wait up to 30 s: 5, 10, 20, 30, 30.
    let mut reconnects = vec![secs(22)];
    for _ in 0..4 {
        sim.sides[1].mute = true;
        assert!(sim.run_until(secs(30), |s| s.peer(0).state() == State::Idle));
        let down_at = sim.elapsed();
        sim.sides[1].mute = false;
        assert!(sim.run_until(secs(60), Sim::both_established));
        let c = connects(sim.log(0));
        reconnects.push(*c.last().expect("reconnect"));
        let wait = *c.last().expect("reconnect") - down_at;
        assert!(wait >= secs(10), "wait {wait:?}");
    }
    let waits: Vec<Duration> = {
        let downs: Vec<Duration> = downs(sim.log(0)).iter().map(|(t, _, _)| *t).collect();
        downs.iter().zip(&reconnects).map(|(d, c)| *c - *d).collect()
    };
    assert_eq!(waits, vec![secs(5), secs(10), secs(20), secs(30), secs(30)]);
}

#[test]
fn connect_retry_every_5_seconds_while_the_peer_refuses() {
    let (a, b) = ibgp_pair();
    let mut sim = Sim::new(a, b);
    sim.sides[1].accept = false;
    sim.start_both();
    sim.run_for(secs(20));
    assert_eq!(connects(sim.log(0)), vec![secs(2), secs(7), secs(12), secs(17)]);
    assert_eq!(sim.peer(0).state(), State::Active);
    sim.sides[1].accept = true;
    assert!(sim.run_until(secs(10), Sim::both_established));
    assert_eq!(sim.elapsed(), secs(22));
}

#[test]
fn passive_sides_never_connect() {
    let (mut a, b) = ibgp_pair();
    a.passive = true;
    let mut sim = Sim::new(a, b);
    sim.start_both();
    sim.run_for(secs(600));
    for side in 0..2 {
        assert!(connects(sim.log(side)).is_empty());
        assert_eq!(sim.peer(side).state(), State::Active);
    }
    assert!(sim.links.is_empty());
}

#[test]
fn manual_stop_sends_admin_shutdown_with_communication() {
    let (a, b) = ibgp_pair();
    let mut sim = established_pair(a, b);
    let conn = sim.peer(0).session().expect("session").0;
    let mark = sim.log(0).len();
    sim.input(
        0,
        Input::Stop { subcode: cease_subcode::ADMINISTRATIVE_SHUTDOWN, communication: Some("maintenance".into()) },
    );
    let expected = Notification::new(code::CEASE, 2, b"\x0bmaintenance".to_vec());
    let actions: Vec<Action> = sim.log(0)[mark..].iter().map(|(_, a)| a.clone()).collect();
    assert_eq!(
        actions,
        vec![
            Action::Send(conn, Message::Notification(expected.clone())),
            Action::Close(conn),
            Action::Down { reason: DownReason::Stopped(expected.clone()), established: true },
            Action::StateChanged { from: State::Established, to: State::Idle },
        ]
    );
    let b_down = downs(sim.log(1));
    assert!(matches!(&b_down[0].1, DownReason::NotificationReceived(n)
        if n.shutdown_communication().expect("communication").text == "maintenance"));
    // A stays down: no reconnect, no timers.
    sim.run_for(secs(600));
    assert_eq!(connects(sim.log(0)).len(), 1);
    assert_eq!(sim.peer(0).state(), State::Idle);
    assert_eq!(sim.peer(0).poll_timeout(), None);
    // B (passive) waits out its IdleHold and listens again.
    assert_eq!(sim.peer(1).state(), State::Active);
    // Start again: back up.
    sim.input(0, Input::Start);
    assert!(sim.run_until(secs(10), Sim::both_established));
}

#[test]
fn stop_variants() {
    let (a, b) = ibgp_pair();
    let mut sim = established_pair(a, b);
    sim.input(0, Input::Stop { subcode: cease_subcode::PEER_DECONFIGURED, communication: Some("ignored".into()) });
    assert_eq!(notifications_sent(sim.log(0))[0].1, cease(3));

    // A Hard Reset needs the N bit (RFC 8538): without it the peer gets the Administrative Reset.
    let (a, b) = ibgp_pair();
    let mut sim = established_pair(a, b);
    sim.input(0, Input::Stop { subcode: cease_subcode::HARD_RESET, communication: None });
    assert_eq!(notifications_sent(sim.log(0))[0].1, cease(4));

    // Stopping an idle peer sends nothing and reports nothing.
    let (a, _) = ibgp_pair();
    let mut solo = Solo::new(a);
    assert!(solo.input(Input::Stop { subcode: 2, communication: None }).is_empty());
}

#[test]
fn negotiation_results_on_both_sides() {
    let mut a = PeerConfig::new(65000, ID_A, 4_200_000_001);
    a.families = vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST];
    a.add_path = vec![(Family::IPV4_UNICAST, AddPathMode::Both), (Family::IPV6_UNICAST, AddPathMode::Receive)];
    a.extended_message = true;
    let mut b = PeerConfig::new(4_200_000_001, ID_B, 65000);
    b.families = vec![Family::IPV6_UNICAST, Family::IPV4_UNICAST, Family::IPV4_MULTICAST];
    b.add_path = vec![(Family::IPV4_UNICAST, AddPathMode::Receive), (Family::IPV6_UNICAST, AddPathMode::Both)];
    b.extended_message = true;
    b.passive = true;
    let sim = established_pair(a, b);
    let (_, _, na) = established(sim.log(0)).remove(0);
    let (_, _, nb) = established(sim.log(1)).remove(0);
    assert_eq!(na.families, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
    assert_eq!(nb.families, vec![Family::IPV6_UNICAST, Family::IPV4_UNICAST]);
    assert_eq!((na.peer_as, nb.peer_as), (4_200_000_001, 65000));
    assert!(na.four_octet_as && nb.four_octet_as);
    assert_eq!(na.add_path_send, vec![Family::IPV4_UNICAST]);
    assert_eq!(na.add_path_receive, vec![Family::IPV6_UNICAST]);
    assert_eq!(nb.add_path_send, vec![Family::IPV6_UNICAST]);
    assert_eq!(nb.add_path_receive, vec![Family::IPV4_UNICAST]);
    assert_eq!(na.tx.add_path, nb.rx.add_path);
    assert_eq!(na.rx.add_path, nb.tx.add_path);
    assert!(na.extended_message && na.tx.max_message_len() == 65535);
    assert!(!na.is_ibgp());
}

#[test]
fn bad_peer_as_refused_by_both_configurations() {
    // A expects AS 65001; B announces 65002.
    let a = PeerConfig::new(65000, ID_A, 65001);
    let mut b = PeerConfig::new(65002, ID_B, 65000);
    b.passive = true;
    let mut sim = Sim::new(a, b);
    sim.start_both();
    sim.run_for(secs(3));
    let n = &notifications_sent(sim.log(0));
    assert_eq!(n.len(), 1);
    assert_eq!((n[0].1.code, n[0].1.subcode, n[0].1.data.len()), (2, open_subcode::BAD_PEER_AS, 0));
    assert!(matches!(&downs(sim.log(0))[0].1, DownReason::NotificationSent(n) if n.subcode == 2));
    assert!(matches!(&downs(sim.log(1))[0].1, DownReason::NotificationReceived(n) if n.subcode == 2));
    assert_eq!(sim.peer(0).state(), State::Idle);
    // After the IdleHold it tries again (and fails again, waiting twice as long).
    sim.run_for(secs(20));
    assert_eq!(connects(sim.log(0)), vec![secs(2), secs(7), secs(17)]);
}

#[test]
fn same_identifier_on_ibgp_is_refused() {
    let a = PeerConfig::new(65000, ID_A, 65000);
    let mut b = PeerConfig::new(65000, ID_A, 65000);
    b.passive = true;
    let mut sim = Sim::new(a, b);
    sim.start_both();
    sim.run_for(secs(3));
    // Both check the other's OPEN; B answers A's OPEN first.
    let n = &notifications_sent(sim.log(1));
    assert_eq!((n[0].1.code, n[0].1.subcode), (2, open_subcode::BAD_BGP_IDENTIFIER));
    assert!(!sim.both_established());
}

// ---- one FSM against scripted peer messages ----

/// A started active peer with its outgoing connection up and its OPEN sent.
fn open_sent(config: PeerConfig) -> (Solo, ConnId) {
    let mut solo = Solo::new(config);
    solo.input(Input::Start);
    let actions = solo.advance(secs(2));
    let conn = match actions.as_slice() {
        [Action::Connect(c), ..] => *c,
        other => panic!("expected a connect, got {other:?}"),
    };
    let actions = solo.input(Input::Connected { conn, direction: Direction::Outgoing });
    assert!(matches!(&actions[0], Action::Send(c, Message::Open(o)) if *c == conn && o.bgp_id == ID_A));
    assert_eq!(solo.peer.state(), State::OpenSent);
    (solo, conn)
}

fn peer_open() -> Open {
    PeerConfig::new(65001, ID_B, 65000).open()
}

fn ebgp() -> PeerConfig {
    PeerConfig::new(65000, ID_A, 65001)
}

/// The peer sends `open`; returns the NOTIFICATION we answer with, after checking that
/// the connection is closed, the peer is Idle, and the failure is reported.
fn refused(open: Open) -> Notification {
    let (mut solo, conn) = open_sent(ebgp());
    let actions = solo.input(Input::Received(conn, Message::Open(open)));
    let Some(Action::Send(c, Message::Notification(n))) = actions.first().cloned() else {
        panic!("expected a NOTIFICATION, got {actions:?}");
    };
    assert_eq!(c, conn);
    assert_eq!(actions[1], Action::Close(conn));
    assert_eq!(actions[2], Action::Down { reason: DownReason::NotificationSent(n.clone()), established: false });
    assert_eq!(solo.peer.state(), State::Idle);
    n
}

#[test]
fn open_errors_send_the_rfc_notification() {
    let mut o = peer_open();
    o.version = 3;
    assert_eq!(refused(o), Notification::new(2, open_subcode::UNSUPPORTED_VERSION, vec![0, 4]));

    let o = PeerConfig::new(65009, ID_B, 65000).open();
    assert_eq!(refused(o), Notification::new(2, open_subcode::BAD_PEER_AS, vec![]));

    let mut o = peer_open();
    o.bgp_id = Ipv4Addr::UNSPECIFIED;
    assert_eq!(refused(o), Notification::new(2, open_subcode::BAD_BGP_IDENTIFIER, vec![]));

    for hold in [1, 2] {
        let mut o = peer_open();
        o.hold_time = hold;
        assert_eq!(refused(o), Notification::new(2, open_subcode::UNACCEPTABLE_HOLD_TIME, vec![]));
    }

    let mut o = peer_open();
    o.parameters.push(OptionalParameter::Unknown { param_type: 1, value: vec![0].into() });
    assert_eq!(refused(o), Notification::new(2, open_subcode::UNSUPPORTED_OPTIONAL_PARAMETER, vec![]));
}

#[test]
fn decode_error_sends_its_notification() {
    let (mut solo, conn) = open_sent(ebgp());
    let e = bgp_proto::DecodeError::bad_length(18, "short");
    let actions = solo.input(Input::DecodeFailed(conn, e));
    assert_eq!(actions[0], Action::Send(conn, Message::Notification(Notification::new(1, 2, vec![0, 18]))));
    assert_eq!(actions[1], Action::Close(conn));
    assert_eq!(solo.peer.state(), State::Idle);
}

/// Drives the scripted peer to `state` (OpenSent, OpenConfirm or Established).
fn reach(state: State) -> (Solo, ConnId) {
    let (mut solo, conn) = open_sent(ebgp());
    if state >= State::OpenConfirm {
        let actions = solo.input(Input::Received(conn, Message::Open(peer_open())));
        assert_eq!(actions[0], Action::Send(conn, Message::Keepalive));
        assert_eq!(solo.peer.state(), State::OpenConfirm);
    }
    if state == State::Established {
        let actions = solo.input(Input::Received(conn, Message::Keepalive));
        assert!(actions.iter().any(|a| matches!(a, Action::Established { conn: c, .. } if *c == conn)));
        assert_eq!(solo.peer.state(), State::Established);
    }
    (solo, conn)
}

#[test]
fn notification_received_in_each_state() {
    for state in [State::OpenSent, State::OpenConfirm, State::Established] {
        let (mut solo, conn) = reach(state);
        let n = Notification::new(code::CEASE, cease_subcode::OUT_OF_RESOURCES, vec![]);
        let actions = solo.input(Input::Received(conn, Message::Notification(n.clone())));
        assert_eq!(
            actions,
            vec![
                Action::Close(conn),
                Action::Down { reason: DownReason::NotificationReceived(n), established: state == State::Established },
                Action::StateChanged { from: state, to: State::Idle },
            ],
            "in {state:?}"
        );
        // IdleHold 5 s, then a new connection attempt.
        let actions = solo.advance(secs(5));
        assert!(matches!(actions.as_slice(), [Action::Connect(_), Action::StateChanged { to: State::Connect, .. }]));
    }
}

#[test]
fn unexpected_messages_are_fsm_errors() {
    let update = || Message::Update(bgp_proto::Update::default());
    let cases = [
        (State::OpenSent, Message::Keepalive, 1, 4),
        (State::OpenSent, update(), 1, 2),
        (State::OpenConfirm, update(), 2, 2),
        (State::OpenConfirm, Message::Open(peer_open()), 2, 1),
        (State::Established, Message::Open(peer_open()), 3, 1),
    ];
    for (state, msg, subcode, msg_type) in cases {
        let (mut solo, conn) = reach(state);
        let actions = solo.input(Input::Received(conn, msg));
        let expected = Notification::new(code::FSM, subcode, vec![msg_type]);
        assert_eq!(actions[0], Action::Send(conn, Message::Notification(expected)), "in {state:?}");
        assert_eq!(actions[1], Action::Close(conn));
        assert_eq!(solo.peer.state(), State::Idle);
    }
}

#[test]
fn established_delivers_updates_and_route_refresh() {
    let (mut solo, conn) = reach(State::Established);
    let update = Message::Update(bgp_proto::Update::default());
    assert_eq!(solo.input(Input::Received(conn, update.clone())), vec![Action::Deliver(conn, update)]);
    let rr = Message::RouteRefresh(bgp_proto::RouteRefresh::new(Family::IPV4_UNICAST));
    assert_eq!(solo.input(Input::Received(conn, rr.clone())), vec![Action::Deliver(conn, rr)]);
}

#[test]
fn updates_restart_the_hold_timer() {
    let (mut solo, conn) = reach(State::Established);
    // Negotiated hold time 240 s; the peer sends only UPDATEs, every 200 s.
    for _ in 0..10 {
        solo.advance(secs(200));
        let update = Message::Update(bgp_proto::Update::default());
        solo.input(Input::Received(conn, update));
        assert_eq!(solo.peer.state(), State::Established);
    }
    let actions = solo.advance(secs(240));
    assert!(actions.contains(&Action::Send(conn, Message::Notification(Notification::new(4, 0, vec![])))));
    assert_eq!(solo.peer.state(), State::Idle);
}

#[test]
fn external_error_resets_the_session() {
    let (mut solo, conn) = reach(State::Established);
    let n = Notification::new(code::CEASE, cease_subcode::MAX_PREFIXES_REACHED, vec![0, 1, 1, 0, 0, 0, 100]);
    let actions = solo.input(Input::Error(n.clone()));
    assert_eq!(actions[0], Action::Send(conn, Message::Notification(n.clone())));
    assert_eq!(actions[1], Action::Close(conn));
    assert_eq!(actions[2], Action::Down { reason: DownReason::NotificationSent(n), established: true });
}

#[test]
fn tcp_loss_in_open_sent_goes_active_and_retries() {
    let (mut solo, conn) = open_sent(ebgp());
    let actions = solo.input(Input::Closed(conn));
    assert_eq!(actions[0], Action::Down { reason: DownReason::ConnectionLost, established: false });
    assert_eq!(solo.peer.state(), State::Active);
    let actions = solo.advance(secs(5));
    assert!(matches!(actions[0], Action::Connect(_)));
}

#[test]
fn tcp_loss_in_established_goes_idle() {
    let (mut solo, conn) = reach(State::Established);
    let actions = solo.input(Input::Closed(conn));
    assert_eq!(
        actions,
        vec![
            Action::Down { reason: DownReason::ConnectionLost, established: true },
            Action::StateChanged { from: State::Established, to: State::Idle }
        ]
    );
}

#[test]
fn idle_refuses_incoming_connections() {
    let (a, _) = ibgp_pair();
    let mut solo = Solo::new(a);
    let conn = solo.peer.incoming_conn_id();
    assert_eq!(solo.input(Input::Connected { conn, direction: Direction::Incoming }), vec![Action::Close(conn)]);
    // Also while waiting out the IdleHold time after an error.
    let (mut solo, conn) = reach(State::Established);
    solo.input(Input::Closed(conn));
    let c2 = solo.peer.incoming_conn_id();
    assert_eq!(solo.input(Input::Connected { conn: c2, direction: Direction::Incoming }), vec![Action::Close(c2)]);
}

#[test]
fn connect_attempt_that_hangs_is_replaced_after_connect_retry() {
    let mut solo = Solo::new(ebgp());
    solo.input(Input::Start);
    let first = match solo.advance(secs(2)).first() {
        Some(Action::Connect(c)) => *c,
        other => panic!("{other:?}"),
    };
    let actions = solo.advance(secs(5));
    assert_eq!(actions[0], Action::Close(first));
    assert!(matches!(actions[1], Action::Connect(c) if c != first));
    // The late completion of the abandoned attempt is closed.
    assert_eq!(
        solo.input(Input::Connected { conn: first, direction: Direction::Outgoing }),
        vec![Action::Close(first)]
    );
}

/// RFC 4271 §6.8 in its textbook order: the outgoing connection is already in
/// OpenConfirm when the peer's own connection brings a second OPEN.
fn collision_in_open_confirm(peer_id: Ipv4Addr) -> (Solo, ConnId, ConnId, Vec<Action>) {
    let (mut solo, out) = reach(State::OpenConfirm);
    let mut theirs = peer_open();
    theirs.bgp_id = peer_id;
    let inc = solo.peer.incoming_conn_id();
    let actions = solo.input(Input::Connected { conn: inc, direction: Direction::Incoming });
    assert!(matches!(&actions[..], [Action::Send(c, Message::Open(_))] if *c == inc));
    assert_eq!(solo.peer.state(), State::OpenConfirm);
    let actions = solo.input(Input::Received(inc, Message::Open(theirs)));
    (solo, out, inc, actions)
}

#[test]
fn collision_against_a_connection_in_open_confirm() {
    // The peer's identifier is higher: its connection (our incoming) survives.
    let (mut solo, out, inc, actions) = collision_in_open_confirm(Ipv4Addr::new(10, 0, 0, 9));
    assert_eq!(
        actions,
        vec![
            Action::Send(out, Message::Notification(cease(cease_subcode::CONNECTION_COLLISION_RESOLUTION))),
            Action::Close(out),
            Action::Send(inc, Message::Keepalive),
        ]
    );
    let actions = solo.input(Input::Received(inc, Message::Keepalive));
    assert!(matches!(&actions[0], Action::Established { conn, .. } if *conn == inc));
    assert_eq!(solo.peer.connection_count(), 1);

    // Ours is higher: the new incoming connection is closed, ours carries on.
    let (mut solo, out, inc, actions) = collision_in_open_confirm(Ipv4Addr::new(9, 0, 0, 1));
    assert_eq!(
        actions,
        vec![
            Action::Send(inc, Message::Notification(cease(cease_subcode::CONNECTION_COLLISION_RESOLUTION))),
            Action::Close(inc),
        ]
    );
    assert_eq!(solo.peer.state(), State::OpenConfirm);
    let actions = solo.input(Input::Received(out, Message::Keepalive));
    assert!(matches!(&actions[0], Action::Established { conn, .. } if *conn == out));
}

#[test]
fn third_connection_is_rejected() {
    let (mut solo, _out) = open_sent(ebgp());
    let first = solo.peer.incoming_conn_id();
    solo.input(Input::Connected { conn: first, direction: Direction::Incoming });
    let second = solo.peer.incoming_conn_id();
    let actions = solo.input(Input::Connected { conn: second, direction: Direction::Incoming });
    assert_eq!(
        actions,
        vec![
            Action::Send(second, Message::Notification(cease(cease_subcode::CONNECTION_REJECTED))),
            Action::Close(second)
        ]
    );
    assert_eq!(solo.peer.connection_count(), 2);
}

#[test]
fn losing_connection_closed_by_the_peer_is_not_a_failure() {
    // Two connections in OpenSent; the peer resolves the collision first and
    // closes one with 6/7: the other carries on, nothing goes down.
    let (mut solo, out) = open_sent(ebgp());
    let inc = solo.peer.incoming_conn_id();
    solo.input(Input::Connected { conn: inc, direction: Direction::Incoming });
    let actions = solo.input(Input::Received(out, Message::Notification(cease(7))));
    assert_eq!(actions, vec![Action::Close(out)]);
    assert_eq!(solo.peer.state(), State::OpenSent);
    solo.input(Input::Received(inc, Message::Open(peer_open())));
    let actions = solo.input(Input::Received(inc, Message::Keepalive));
    assert!(matches!(&actions[0], Action::Established { conn, .. } if *conn == inc));
}

#[test]
fn hard_reset_with_notification_graceful_restart() {
    let gr_pair = || {
        let (mut a, mut b) = ibgp_pair();
        a.graceful_restart = Some(GracefulRestartConfig::default());
        b.graceful_restart = Some(GracefulRestartConfig::default());
        (a, b)
    };
    let stop = |subcode: u8, communication: Option<&str>| {
        let (a, b) = gr_pair();
        let mut sim = established_pair(a, b);
        sim.input(0, Input::Stop { subcode, communication: communication.map(String::from) });
        let sent = notifications_sent(sim.log(0))[0].1.clone();
        let down = downs(sim.log(0))[0].1.clone();
        assert_eq!(down, DownReason::Stopped(sent.clone()), "the Down reports what was sent");
        let b_down = downs(sim.log(1))[0].1.clone();
        (sent, b_down)
    };
    // RFC 8538 §5.1: Administrative Shutdown ends the session for good: Hard Reset around it.
    let (sent, b_down) = stop(cease_subcode::ADMINISTRATIVE_SHUTDOWN, Some("bye"));
    assert_eq!((sent.code, sent.subcode), (6, 9));
    assert_eq!(sent.hard_reset_inner(), Some(Notification::shutdown(2, "bye")));
    assert!(matches!(b_down, DownReason::NotificationReceived(ref n) if *n == sent));
    // Administrative Reset stays graceful unless configured otherwise; an explicit Hard Reset is one.
    assert_eq!(stop(cease_subcode::ADMINISTRATIVE_RESET, None).0, cease(4));
    let (sent, _) = stop(cease_subcode::HARD_RESET, None);
    assert_eq!(sent.hard_reset_inner(), Some(cease(4)));

    // The receiving side keeps routes for a graceful NOTIFICATION only.
    let (a, b) = gr_pair();
    let sim = established_pair(a, b);
    let gr = sim.peer(1).session().expect("session").1.graceful_restart.clone();
    assert!(gr.as_ref().is_some_and(|g| g.notification));
    assert!(DownReason::NotificationReceived(cease(4)).keeps_routes(gr.as_ref()));
    assert!(!DownReason::NotificationReceived(sent).keeps_routes(gr.as_ref()));
    assert!(DownReason::HoldTimerExpired.keeps_routes(gr.as_ref()));
    assert!(!DownReason::HoldTimerExpired.keeps_routes(None));

    // Maximum prefixes reported by the RIB: a Hard Reset as well.
    let (a, b) = gr_pair();
    let mut sim = established_pair(a, b);
    sim.input(0, Input::Error(cease(cease_subcode::MAX_PREFIXES_REACHED)));
    let sent = &notifications_sent(sim.log(0))[0].1;
    assert_eq!(sent.hard_reset_inner(), Some(cease(1)));
}

#[test]
fn sent_updates_postpone_keepalives() {
    let (mut solo, conn) = reach(State::Established);
    // Negotiated 240/80 s. An UPDATE written every 60 s leaves nothing for the keepalive timer.
    for _ in 0..5 {
        let actions = solo.advance(secs(60));
        assert!(actions.is_empty(), "{actions:?}");
        let now = solo.now;
        solo.peer.update_sent(now, conn);
        solo.input(Input::Received(conn, Message::Keepalive));
    }
    assert_eq!(solo.advance(secs(80)), vec![Action::Send(conn, Message::Keepalive)]);
}

#[test]
fn staggered_starts_need_no_collision() {
    // Both active; B starts a second later. A's connection arrives during B's
    // connect delay: B answers on it and never opens its own.
    let a = PeerConfig::new(65000, ID_A, 65000);
    let b = PeerConfig::new(65000, ID_B, 65000);
    let mut sim = Sim::new(a, b);
    sim.input(0, Input::Start);
    sim.run_for(secs(1));
    sim.input(1, Input::Start);
    assert!(sim.run_until(secs(10), Sim::both_established));
    sim.run_for(secs(60));
    assert_eq!(connects(sim.log(0)), vec![secs(2)]);
    assert!(connects(sim.log(1)).is_empty());
    assert_eq!(sim.links.len(), 1);
    assert!(notifications_sent(sim.log(0)).is_empty() && notifications_sent(sim.log(1)).is_empty());
}
