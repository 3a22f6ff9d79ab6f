//! Opening the netlink sockets, in the current network namespace or in a
//! named one (`ip netns add NAME`, i.e. `/run/netns/NAME`).
//!
//! A netlink socket belongs to the namespace of the thread that created it,
//! for its whole life. For a named namespace a short-lived thread enters it
//! (`setns(2)`, which changes only the calling thread), creates the sockets
//! registered with the caller's tokio runtime, and ends; the process and the
//! runtime's own threads never leave their namespace.

use std::fs::File;
use std::os::fd::AsFd;

use futures::channel::mpsc::UnboundedReceiver;
use nix::sys::socket::{setsockopt, sockopt};
use rtnetlink::packet_core::NetlinkMessage;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::proto::Connection;
use rtnetlink::sys::protocols::NETLINK_ROUTE;
use rtnetlink::sys::{AsyncSocket, SocketAddr, TokioSocket};
use rtnetlink::{Handle, MulticastGroup};

use crate::FibError;

pub(crate) type Messages = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>;

/// The request socket (dumps), the event socket (multicast) and the
/// install socket (batches of route requests).
pub(crate) struct Sockets {
    pub requests: (Connection<RouteNetlinkMessage>, Handle),
    pub events: (Connection<RouteNetlinkMessage>, Messages),
    pub install: TokioSocket,
}

/// Sets the receive buffer, beyond `rmem_max` when we may (CAP_NET_ADMIN).
fn set_rcvbuf(socket: &rtnetlink::sys::Socket, bytes: usize) {
    if setsockopt(&socket.as_fd(), sockopt::RcvBufForce, &bytes).is_err() {
        if let Err(e) = socket.set_rx_buf_sz(bytes) {
            tracing::warn!(error = %e, bytes, "cannot size the netlink receive buffer");
        }
    }
}

/// Classic BPF on the event socket that drops RTM_NEWROUTE notifications of
/// our own protocol in the kernel: they are echoes of our own installs (100k
/// of them for a full table), which the watch never reports and the install
/// side learns from the acks. Deletions still come through (a route of ours
/// removed by someone else is installed again).
fn drop_own_route_echoes(socket: &rtnetlink::sys::Socket, own_protocol: u8) -> std::io::Result<()> {
    use socket2::SockFilter;
    const LD_H_ABS: u16 = 0x28;
    const LD_B_ABS: u16 = 0x30;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    const RTM_NEWROUTE: u16 = 24;
    // BPF loads a half-word in network order; nlmsg_type is in host order.
    let newroute = u32::from(u16::from_be_bytes(RTM_NEWROUTE.to_ne_bytes()));
    let program = [
        SockFilter::new(LD_H_ABS, 0, 0, 4),                // nlmsghdr.nlmsg_type
        SockFilter::new(JEQ_K, 0, 3, newroute),            // not RTM_NEWROUTE → accept
        SockFilter::new(LD_B_ABS, 0, 0, 16 + 5),           // rtmsg.rtm_protocol
        SockFilter::new(JEQ_K, 0, 1, own_protocol.into()), // not ours → accept
        SockFilter::new(RET_K, 0, 0, 0),                   // drop
        SockFilter::new(RET_K, 0, 0, u32::MAX),            // accept
    ];
    socket2::SockRef::from(socket).attach_filter(&program)
}

fn open_here(request_buffer: usize, event_buffer: usize, own_protocol: u8) -> Result<Sockets, FibError> {
    let (mut conn, handle, _unsolicited) = rtnetlink::new_connection().map_err(FibError::Socket)?;
    set_rcvbuf(conn.socket_mut().socket_ref(), request_buffer);
    let groups = [MulticastGroup::Link, MulticastGroup::Ipv4Route, MulticastGroup::Ipv6Route];
    let (mut events, _handle, messages) = rtnetlink::new_multicast_connection(&groups).map_err(FibError::Socket)?;
    set_rcvbuf(events.socket_mut().socket_ref(), event_buffer);
    if let Err(e) = drop_own_route_echoes(events.socket_mut().socket_ref(), own_protocol) {
        tracing::warn!(error = %e, "no kernel filter for our own route echoes; they are filtered in user space");
    }
    let mut install = TokioSocket::new(NETLINK_ROUTE).map_err(FibError::Socket)?;
    install.socket_mut().bind_auto().map_err(FibError::Socket)?;
    // Error acks without a copy of the request: more acks fit the buffer.
    install.socket_ref().set_cap_ack(true).map_err(FibError::Socket)?;
    set_rcvbuf(install.socket_ref(), request_buffer);
    Ok(Sockets { requests: (conn, handle), events: (events, messages), install })
}

/// Opens the sockets in `netns` (a name under `/run/netns`) or, for `None`,
/// where the caller runs. Must be called inside a tokio runtime.
pub(crate) async fn open(
    netns: Option<&str>,
    request_buffer: usize,
    event_buffer: usize,
    own_protocol: u8,
) -> Result<Sockets, FibError> {
    let Some(name) = netns else {
        return open_here(request_buffer, event_buffer, own_protocol);
    };
    let path = format!("/run/netns/{name}");
    let runtime = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("fib-netns-{name}"))
        .spawn(move || {
            let result = (|| {
                let ns = File::open(&path).map_err(|e| FibError::Netns(format!("{path}: {e}")))?;
                nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| FibError::Netns(format!("setns {path}: {e}")))?;
                let _runtime = runtime.enter();
                open_here(request_buffer, event_buffer, own_protocol)
            })();
            let _ = tx.send(result);
        })
        .map_err(FibError::Socket)?;
    rx.await.map_err(|_| FibError::Netns("namespace thread ended without an answer".into()))?
}
