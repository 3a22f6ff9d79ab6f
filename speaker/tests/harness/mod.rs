//! Two peers back to back on a simulated clock.
//!
//! `Connect` on one side becomes `Connected` on both (or `ConnectFailed`
//! when the other side does not accept), `Send` becomes `Received` on the
//! other end of the link, `Close` becomes `Closed`. Messages travel in zero
//! time and in order; time only moves to the next deadline either peer asks for.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bgp_proto::message::decode_message;
use bgp_proto::{Context, Message, Notification};
use bytes::BytesMut;
use speaker::{Action, ConnId, Direction, DownReason, Input, Negotiated, Peer, PeerConfig, State};

pub struct Side {
    pub peer: Peer,
    /// Every action, with the simulated time (since the start) it was taken.
    pub log: Vec<(Duration, Action)>,
    /// Drop everything this side sends (a peer that went silent).
    pub mute: bool,
    /// Accept incoming TCP connections (a listening socket).
    pub accept: bool,
}

/// One TCP connection between the two sides.
#[derive(Clone, Debug)]
pub struct Link {
    /// Side that connected.
    pub initiator: usize,
    /// Connection id on side 0 and on side 1.
    pub ids: [ConnId; 2],
    pub open: bool,
}

pub struct Sim {
    pub start: Instant,
    pub now: Instant,
    pub sides: [Side; 2],
    pub links: Vec<Link>,
    queue: VecDeque<(usize, Input)>,
}

impl Sim {
    pub fn new(a: PeerConfig, b: PeerConfig) -> Self {
        let start = Instant::now();
        let side = |c| Side { peer: Peer::new(c), log: Vec::new(), mute: false, accept: true };
        Sim { start, now: start, sides: [side(a), side(b)], links: Vec::new(), queue: VecDeque::new() }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Feeds an input to `side` and runs until no message is in flight.
    pub fn input(&mut self, side: usize, input: Input) {
        self.queue.push_back((side, input));
        self.settle();
    }

    pub fn start_both(&mut self) {
        self.queue.push_back((0, Input::Start));
        self.queue.push_back((1, Input::Start));
        self.settle();
    }

    fn settle(&mut self) {
        while let Some((side, input)) = self.queue.pop_front() {
            let actions = self.sides[side].peer.handle(self.now, input);
            self.route(side, actions);
        }
    }

    fn link_of(&self, side: usize, conn: ConnId) -> Option<usize> {
        self.links.iter().position(|l| l.ids[side] == conn && l.open)
    }

    fn route(&mut self, side: usize, actions: Vec<Action>) {
        let other = 1 - side;
        let at = self.elapsed();
        for action in actions {
            self.sides[side].log.push((at, action.clone()));
            match action {
                Action::Connect(conn) => {
                    if self.sides[other].accept {
                        let theirs = self.sides[other].peer.incoming_conn_id();
                        let mut ids = [conn, conn];
                        ids[other] = theirs;
                        self.links.push(Link { initiator: side, ids, open: true });
                        self.queue.push_back((side, Input::Connected { conn, direction: Direction::Outgoing }));
                        self.queue
                            .push_back((other, Input::Connected { conn: theirs, direction: Direction::Incoming }));
                    } else {
                        self.queue.push_back((side, Input::ConnectFailed(conn)));
                    }
                }
                Action::Send(conn, msg) => {
                    if self.sides[side].mute {
                        continue;
                    }
                    if let Some(l) = self.link_of(side, conn) {
                        let theirs = self.links[l].ids[other];
                        self.queue.push_back((other, Input::Received(theirs, over_the_wire(&msg))));
                    }
                }
                Action::Close(conn) => {
                    if let Some(l) = self.link_of(side, conn) {
                        self.links[l].open = false;
                        let theirs = self.links[l].ids[other];
                        self.queue.push_back((other, Input::Closed(theirs)));
                    }
                }
                _ => {}
            }
        }
    }

    /// Moves the clock to the next deadline (if it is not after `limit`) and fires it.
    pub fn step(&mut self, limit: Instant) -> bool {
        let next = self.sides.iter().filter_map(|s| s.peer.poll_timeout()).min();
        let Some(next) = next.filter(|t| *t <= limit) else { return false };
        self.now = self.now.max(next);
        for side in 0..2 {
            let actions = self.sides[side].peer.handle_timeout(self.now);
            self.route(side, actions);
        }
        self.settle();
        true
    }

    /// Runs every deadline in the next `d`, then sets the clock to its end.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        let mut steps = 0;
        while self.step(limit) {
            steps += 1;
            assert!(steps < 100_000, "deadline loop: a timer does not move forward");
        }
        self.now = limit;
    }

    /// Runs until `done` holds (checked after each deadline), for at most `max`.
    pub fn run_until(&mut self, max: Duration, done: impl Fn(&Sim) -> bool) -> bool {
        let limit = self.now + max;
        while !done(self) {
            if !self.step(limit) {
                return done(self);
            }
        }
        true
    }

    pub fn both_established(&self) -> bool {
        self.sides.iter().all(|s| s.peer.state() == State::Established)
    }

    pub fn open_links(&self) -> Vec<&Link> {
        self.links.iter().filter(|l| l.open).collect()
    }

    pub fn peer(&self, side: usize) -> &Peer {
        &self.sides[side].peer
    }

    /// Log entries of `side` from index `from` on.
    pub fn log(&self, side: usize) -> &[(Duration, Action)] {
        &self.sides[side].log
    }
}

/// `msg` as the other side's decoder sees it: every message the FSM sends
/// must encode and decode back to itself. These are OPEN, KEEPALIVE and
/// NOTIFICATION, whose layout no negotiated context changes.
pub fn over_the_wire(msg: &Message) -> Message {
    let ctx = Context::default();
    let mut buf = BytesMut::new();
    msg.encode(&ctx, &mut buf).expect("the FSM sends encodable messages");
    let back = decode_message(&buf, &ctx).expect("and decodable ones");
    assert_eq!(&back, msg);
    back
}

/// The states a side went through, in order, starting with the first `from`.
pub fn states(log: &[(Duration, Action)]) -> Vec<State> {
    let mut out = Vec::new();
    for (_, a) in log {
        if let Action::StateChanged { from, to } = a {
            if out.is_empty() {
                out.push(*from);
            }
            out.push(*to);
        }
    }
    out
}

/// Messages sent, with time and connection.
pub fn sent(log: &[(Duration, Action)]) -> Vec<(Duration, ConnId, Message)> {
    log.iter()
        .filter_map(|(t, a)| match a {
            Action::Send(c, m) => Some((*t, *c, m.clone())),
            _ => None,
        })
        .collect()
}

pub fn notifications_sent(log: &[(Duration, Action)]) -> Vec<(ConnId, Notification)> {
    sent(log)
        .into_iter()
        .filter_map(|(_, c, m)| match m {
            Message::Notification(n) => Some((c, n)),
            _ => None,
        })
        .collect()
}

pub fn keepalive_times(log: &[(Duration, Action)]) -> Vec<Duration> {
    sent(log).into_iter().filter(|(_, _, m)| *m == Message::Keepalive).map(|(t, _, _)| t).collect()
}

pub fn connects(log: &[(Duration, Action)]) -> Vec<Duration> {
    log.iter().filter(|(_, a)| matches!(a, Action::Connect(_))).map(|(t, _)| *t).collect()
}

pub fn downs(log: &[(Duration, Action)]) -> Vec<(Duration, DownReason, bool)> {
    log.iter()
        .filter_map(|(t, a)| match a {
            Action::Down { reason, established } => Some((*t, reason.clone(), *established)),
            _ => None,
        })
        .collect()
}

pub fn established(log: &[(Duration, Action)]) -> Vec<(Duration, ConnId, Negotiated)> {
    log.iter()
        .filter_map(|(t, a)| match a {
            Action::Established { conn, negotiated } => Some((*t, *conn, (**negotiated).clone())),
            _ => None,
        })
        .collect()
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// One peer driven by hand: the test plays the other side.
pub struct Solo {
    pub start: Instant,
    pub now: Instant,
    pub peer: Peer,
}

impl Solo {
    pub fn new(config: PeerConfig) -> Self {
        let start = Instant::now();
        Solo { start, now: start, peer: Peer::new(config) }
    }

    pub fn input(&mut self, input: Input) -> Vec<Action> {
        self.peer.handle(self.now, input)
    }

    /// Advances the clock by `d`, firing every deadline on the way.
    pub fn advance(&mut self, d: Duration) -> Vec<Action> {
        let limit = self.now + d;
        let mut out = Vec::new();
        while let Some(t) = self.peer.poll_timeout().filter(|t| *t <= limit) {
            self.now = self.now.max(t);
            out.extend(self.peer.handle_timeout(self.now));
        }
        self.now = limit;
        out
    }
}
