//! Any sequence of driver events, however unlikely, leaves the FSM consistent:
//! no panic, at most one connection each way, one connection once
//! Established, actions only about connections the FSM knows, and deadlines
//! that move forward.

mod harness;

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use bgp_proto::{Message, Notification};
use harness::Solo;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use speaker::{Action, ConnId, Direction, Input, PeerConfig, State};

/// A connection event names a connection by its index among those seen so far.
#[derive(Clone, Debug)]
enum ConnEvent {
    Connected,
    ConnectFailed,
    Closed,
    Received(Box<Message>),
}

// Test input: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum Step {
    Input(Input),
    Conn(ConnEvent, usize),
    /// A new incoming connection.
    Accept,
    /// A new incoming connection that completes the OPEN exchange.
    Handshake,
    Advance(u64),
}

fn peer_open(id: u8, asn: u32, hold: u16) -> Message {
    Message::Open(PeerConfig::new(asn, Ipv4Addr::new(10, 0, 0, id), 65000).with_hold(hold).open())
}

trait WithHold {
    fn with_hold(self, hold: u16) -> Self;
}

impl WithHold for PeerConfig {
    fn with_hold(mut self, hold: u16) -> Self {
        self.hold_time = hold;
        self
    }
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        3 => Just(Message::Keepalive),
        3 => (prop_oneof![6 => Just(9u8), 1 => Just(0), 1 => Just(5)], prop_oneof![6 => Just(65001u32), 1 => Just(65002)], prop_oneof![1 => Just(0u16), 1 => Just(2), 1 => Just(3), 4 => Just(90)])
            .prop_map(|(id, asn, hold)| peer_open(id, asn, hold)),
        1 => (1u8..7, 0u8..11).prop_map(|(c, s)| Message::Notification(Notification::new(c, s, vec![]))),
        1 => Just(Message::Update(bgp_proto::Update::default())),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let sel = 0usize..4;
    prop_oneof![
        1 => Just(Step::Input(Input::Start)),
        1 => (0u8..11).prop_map(|s| Step::Input(Input::Stop { subcode: s, communication: Some("x".into()) })),
        1 => Just(Step::Input(Input::Error(Notification::cease(1)))),
        2 => Just(Step::Accept),
        2 => Just(Step::Handshake),
        2 => sel.clone().prop_map(|i| Step::Conn(ConnEvent::Connected, i)),
        1 => sel.clone().prop_map(|i| Step::Conn(ConnEvent::ConnectFailed, i)),
        1 => sel.clone().prop_map(|i| Step::Conn(ConnEvent::Closed, i)),
        14 => (sel, message()).prop_map(|(i, m)| Step::Conn(ConnEvent::Received(Box::new(m)), i)),
        3 => (0u64..300).prop_map(Step::Advance),
    ]
}

#[test]
fn random_event_sequences_keep_the_fsm_consistent() {
    let mut runner = TestRunner::new(ProptestConfig::with_cases(500));
    let established = AtomicUsize::new(0);
    let strategy = (proptest::collection::vec(step(), 1..60), any::<bool>());
    let result = runner.run(&strategy, |(steps, passive)| {
        let reached = check(steps, passive)?;
        if reached {
            established.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // The generator must exercise the Established state, not only the error paths.
    let n = established.load(Ordering::Relaxed);
    assert!(n >= 100, "only {n} of 500 sequences reached Established");
}

/// Runs one sequence; tells whether it reached Established.
fn check(steps: Vec<Step>, passive: bool) -> Result<bool, TestCaseError> {
    let mut config = PeerConfig::new(65000, Ipv4Addr::new(10, 0, 0, 5), 65001);
    config.passive = passive;
    let mut solo = Solo::new(config);
    solo.input(Input::Start);
    let mut known: HashSet<ConnId> = HashSet::new();
    let mut seen: Vec<ConnId> = Vec::new();
    let mut reached_established = false;
    let mut state = solo.peer.state();
    let steps = steps.into_iter().flat_map(|s| match s {
        Step::Handshake => vec![
            Step::Accept,
            Step::Conn(ConnEvent::Received(Box::new(peer_open(9, 65001, 90))), 0),
            Step::Conn(ConnEvent::Received(Box::new(Message::Keepalive)), 0),
        ],
        other => vec![other],
    });
    for step in steps {
        let actions = match step {
            Step::Input(input) => solo.input(input),
            Step::Conn(event, i) => {
                // Mostly the newest connections; sometimes one that never existed.
                let conn = seen.iter().rev().nth(i).copied().unwrap_or(ConnId(1000 + i as u64));
                known.insert(conn); // the driver names it; the FSM may close it
                solo.input(match event {
                    ConnEvent::Connected => Input::Connected { conn, direction: Direction::Outgoing },
                    ConnEvent::ConnectFailed => Input::ConnectFailed(conn),
                    ConnEvent::Closed => Input::Closed(conn),
                    ConnEvent::Received(m) => Input::Received(conn, *m),
                })
            }
            Step::Accept => {
                let c = solo.peer.incoming_conn_id();
                known.insert(c);
                seen.push(c);
                solo.input(Input::Connected { conn: c, direction: Direction::Incoming })
            }
            Step::Advance(s) => solo.advance(Duration::from_secs(s)),
            Step::Handshake => unreachable!("expanded above"),
        };
        for a in &actions {
            match a {
                Action::Connect(c) => {
                    prop_assert!(!passive, "a passive peer connected");
                    known.insert(*c);
                    seen.push(*c);
                }
                Action::Send(c, _) | Action::Close(c) | Action::Deliver(c, _) => {
                    prop_assert!(known.contains(c), "action on unknown connection {c:?}");
                }
                Action::Established { conn, .. } => prop_assert!(known.contains(conn)),
                Action::StateChanged { from, to } => {
                    prop_assert_eq!(*from, state);
                    prop_assert_ne!(from, to);
                    state = *to;
                }
                Action::Down { .. } => {}
            }
        }
        prop_assert_eq!(solo.peer.state(), state);
        prop_assert!(solo.peer.connection_count() <= 2);
        if state == State::Established {
            prop_assert_eq!(solo.peer.connection_count(), 1);
            prop_assert!(solo.peer.session().is_some());
            reached_established = true;
        }
        if let Some(t) = solo.peer.poll_timeout() {
            // Deadlines lie ahead: none is left behind, none loops at `now`.
            prop_assert!(t > solo.now, "deadline {:?} not after now", t - solo.start);
        }
    }
    Ok(reached_established)
}
