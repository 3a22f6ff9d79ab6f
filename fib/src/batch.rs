//! Batched install/remove requests on a netlink socket of their own.
//!
//! The kernel processes every message of one `sendmsg` in order, inside that
//! call, and answers a request with an `NLMSG_ERROR` carrying its sequence
//! number when it fails, or when it asked for an ack (`NLM_F_ACK`). So the
//! route requests of a batch go without `NLM_F_ACK`, and one `NLMSG_NOOP`
//! with `NLM_F_ACK` closes the batch: when its ack arrives, every request
//! before it has been processed, and those that failed have said so. A batch
//! costs one system call and one ack instead of a round trip per route
//! (`ip -batch` does one per route).
//!
//! The error answers of one batch must fit the socket's receive buffer: a
//! full buffer makes the kernel drop them (ENOBUFS); the requests of that
//! batch are then all reported failed and retried (replace and delete are
//! both safe to repeat).

use std::collections::HashMap;
use std::time::Duration;

use rtnetlink::packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::{AsyncSocketExt, SocketAddr, TokioSocket};

use crate::message::{build_delete, build_route};
use crate::reconcile::{FibOp, FibOpKind, OpResult};

const EIO: i32 = 5;
const ENOBUFS: i32 = 105;
const ETIMEDOUT: i32 = 110;

/// Bytes per `sendmsg`: well under the default socket send buffer.
const CHUNK_BYTES: usize = 64 * 1024;

/// Runs install/remove operations in batches.
pub(crate) struct Batcher {
    socket: TokioSocket,
    seq: u32,
    protocol: u8,
    table: u32,
    timeout: Duration,
    out: Vec<u8>,
    input: Vec<u8>,
}

fn encode(op: &FibOp, table: u32, protocol: u8, seq: u32) -> NetlinkMessage<RouteNetlinkMessage> {
    let (inner, flags) = match &op.kind {
        FibOpKind::Replace { route, ifindexes } => (
            RouteNetlinkMessage::NewRoute(build_route(route, ifindexes, table, protocol)),
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
        ),
        FibOpKind::Delete { key } => (RouteNetlinkMessage::DelRoute(build_delete(key, protocol)), NLM_F_REQUEST),
    };
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(inner));
    msg.finalize();
    msg
}

impl Batcher {
    pub(crate) fn new(socket: TokioSocket, table: u32, protocol: u8, timeout: Duration) -> Self {
        Batcher {
            socket,
            seq: 1,
            protocol,
            table,
            timeout,
            out: Vec::with_capacity(CHUNK_BYTES),
            input: Vec::with_capacity(256 * 1024),
        }
    }

    fn next_seq(&mut self) -> u32 {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1).max(1);
        seq
    }

    /// Sends `ops` and returns each one's result, in no particular order.
    pub(crate) async fn run(&mut self, ops: Vec<FibOp>) -> Vec<(u64, OpResult)> {
        let mut results = Vec::with_capacity(ops.len());
        let mut waiting: HashMap<u32, u64> = HashMap::new();
        let mut ops = ops.into_iter().peekable();
        while ops.peek().is_some() {
            self.out.clear();
            waiting.clear();
            while let Some(op) = ops.peek() {
                let msg = encode(op, self.table, self.protocol, self.seq);
                let len = msg.buffer_len();
                if !self.out.is_empty() && self.out.len() + len > CHUNK_BYTES {
                    break;
                }
                let start = self.out.len();
                self.out.resize(start + len, 0);
                msg.serialize(&mut self.out[start..]);
                waiting.insert(self.seq, op.id);
                self.next_seq();
                ops.next();
            }
            let barrier = self.next_seq();
            let mut header = NetlinkHeader::default();
            header.flags = NLM_F_REQUEST | NLM_F_ACK;
            header.sequence_number = barrier;
            let mut noop = NetlinkMessage::<RouteNetlinkMessage>::new(header, NetlinkPayload::Noop);
            noop.finalize();
            let start = self.out.len();
            self.out.resize(start + noop.buffer_len(), 0);
            noop.serialize(&mut self.out[start..]);
            let kernel = SocketAddr::new(0, 0);
            let sent = tokio::time::timeout(self.timeout, self.socket.send_to(&self.out, &kernel)).await;
            let failure = match sent {
                Ok(Ok(n)) if n == self.out.len() => None,
                Ok(Ok(_)) => Some(EIO),
                Ok(Err(e)) => Some(e.raw_os_error().unwrap_or(EIO)),
                Err(_) => Some(ETIMEDOUT),
            };
            if let Some(errno) = failure {
                tracing::warn!(errno, requests = waiting.len(), "netlink batch not sent");
                results.extend(waiting.drain().map(|(_, id)| (id, OpResult::Failed(errno))));
                continue;
            }
            self.collect_answers(barrier, &mut waiting, &mut results).await;
        }
        results
    }

    /// Reads answers until the barrier's ack; requests that got no error
    /// answer before it succeeded.
    async fn collect_answers(
        &mut self,
        barrier: u32,
        waiting: &mut HashMap<u32, u64>,
        results: &mut Vec<(u64, OpResult)>,
    ) {
        loop {
            self.input.clear();
            let received = tokio::time::timeout(self.timeout, self.socket.recv_from(&mut self.input)).await;
            let errno = match received {
                Ok(Ok(_)) => {
                    if self.read_answers(barrier, waiting, results) {
                        results.extend(waiting.drain().map(|(_, id)| (id, OpResult::Done)));
                        return;
                    }
                    continue;
                }
                Ok(Err(e)) => e.raw_os_error().unwrap_or(EIO),
                Err(_) => ETIMEDOUT,
            };
            // Acks were dropped (ENOBUFS) or never came: what is left is
            // reported failed, and retried.
            if errno == ENOBUFS {
                tracing::warn!(requests = waiting.len(), "netlink acks lost; retrying those requests");
            } else {
                tracing::warn!(errno, requests = waiting.len(), "no netlink ack");
            }
            results.extend(waiting.drain().map(|(_, id)| (id, OpResult::Failed(errno))));
            return;
        }
    }

    /// Takes the answers in one datagram; `true` once the barrier's ack is
    /// among them.
    fn read_answers(
        &mut self,
        barrier: u32,
        waiting: &mut HashMap<u32, u64>,
        results: &mut Vec<(u64, OpResult)>,
    ) -> bool {
        let mut done = false;
        let mut offset = 0;
        while let Some(rest) = self.input.get(offset..).filter(|r| r.len() >= 16) {
            let len = rest.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_ne_bytes).unwrap_or(0) as usize;
            let Some(frame) = rest.get(..len).filter(|_| len >= 16) else { break };
            offset += (len + 3) & !3;
            let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(frame) else { continue };
            if let NetlinkPayload::Error(e) = &msg.payload {
                if msg.header.sequence_number == barrier {
                    done = true;
                } else if let Some(id) = waiting.remove(&msg.header.sequence_number) {
                    let result = match e.code {
                        None => OpResult::Done,
                        Some(code) => OpResult::Failed(-code.get()),
                    };
                    results.push((id, result));
                }
            }
        }
        done
    }
}
