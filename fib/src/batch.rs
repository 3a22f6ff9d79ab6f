//! Batched install/remove requests on a netlink socket of their own.
//!
//! The kernel processes every message of one `sendmsg` in order, inside that
//! call, and queues one ack (an `NLMSG_ERROR`, code 0 on success) per
//! message carrying its sequence number. So a batch of many RTM_NEWROUTE /
//! RTM_DELROUTE messages costs one system call plus the reads of its acks,
//! instead of a round trip per route. The batch is bounded so that its acks
//! fit the socket's receive buffer: a full buffer would make the kernel drop
//! acks (ENOBUFS), and the requests without an answer are then reported as
//! failed and retried (replace and delete are both safe to repeat).

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
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
        ),
        FibOpKind::Delete { key } => {
            (RouteNetlinkMessage::DelRoute(build_delete(key, protocol)), NLM_F_REQUEST | NLM_F_ACK)
        }
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
                self.seq = self.seq.wrapping_add(1).max(1);
                ops.next();
            }
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
            self.collect_acks(&mut waiting, &mut results).await;
        }
        results
    }

    async fn collect_acks(&mut self, waiting: &mut HashMap<u32, u64>, results: &mut Vec<(u64, OpResult)>) {
        while !waiting.is_empty() {
            self.input.clear();
            let received = tokio::time::timeout(self.timeout, self.socket.recv_from(&mut self.input)).await;
            let errno = match received {
                Ok(Ok(_)) => {
                    self.read_acks(waiting, results);
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
        }
    }

    fn read_acks(&mut self, waiting: &mut HashMap<u32, u64>, results: &mut Vec<(u64, OpResult)>) {
        let mut offset = 0;
        while let Some(rest) = self.input.get(offset..).filter(|r| r.len() >= 16) {
            let len = rest.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_ne_bytes).unwrap_or(0) as usize;
            let Some(frame) = rest.get(..len).filter(|_| len >= 16) else { break };
            offset += (len + 3) & !3;
            let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(frame) else { continue };
            if let NetlinkPayload::Error(e) = &msg.payload {
                if let Some(id) = waiting.remove(&msg.header.sequence_number) {
                    let result = match e.code {
                        None => OpResult::Done,
                        Some(code) => OpResult::Failed(-code.get()),
                    };
                    results.push((id, result));
                }
            }
        }
    }
}
