//! Socket options that neither `socket2` nor `nix` offer: TCP MD5
//! signatures (RFC 2385, Linux `TCP_MD5SIG`) and the minimum TTL / hop
//! count of GTSM (RFC 5082, `IP_MINTTL`, `IPV6_MINHOPCOUNT`).
//!
//! This is the one module of the workspace allowed `unsafe`: a single
//! `setsockopt(2)` call on a borrowed descriptor with a byte buffer we own.
//! Everything that builds the buffers is safe code.
#![allow(unsafe_code)]

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};

/// `struct tcp_md5sig` (linux/tcp.h): sockaddr_storage (128), flags (1),
/// prefix length (1), key length (2, native endian), ifindex (4), key (80).
const MD5SIG_LEN: usize = 216;
const MD5SIG_KEYLEN_AT: usize = 130;
const MD5SIG_KEY_AT: usize = 136;
/// TCP_MD5SIG_MAXKEYLEN.
pub const MD5_MAX_KEY_LEN: usize = 80;

/// Sets (or with `None` removes) the TCP MD5 key for segments to and from
/// `peer` on `sock` (RFC 2385). On a listening socket it applies to the
/// connections it accepts from `peer`. An IPv4 peer on an IPv6 socket is
/// keyed by its IPv4-mapped address.
pub fn set_md5_key<S: AsFd>(sock: &S, peer: IpAddr, key: Option<&[u8]>) -> io::Result<()> {
    let key = key.unwrap_or_default();
    if key.len() > MD5_MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TCP MD5 key of {} octets exceeds {MD5_MAX_KEY_LEN}", key.len()),
        ));
    }
    let v6_socket = socket2::SockRef::from(sock).local_addr()?.is_ipv6();
    let mut buf = [0u8; MD5SIG_LEN];
    put_sockaddr(&mut buf, peer, v6_socket);
    let keylen = u16::try_from(key.len()).unwrap_or(0).to_ne_bytes();
    buf[MD5SIG_KEYLEN_AT..MD5SIG_KEYLEN_AT + 2].copy_from_slice(&keylen);
    buf[MD5SIG_KEY_AT..MD5SIG_KEY_AT + key.len()].copy_from_slice(key);
    setsockopt(sock, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &buf)
}

/// Writes `addr` as a `sockaddr_in` / `sockaddr_in6` (port 0) at the start of `buf`.
fn put_sockaddr(buf: &mut [u8; MD5SIG_LEN], addr: IpAddr, v6_socket: bool) {
    let v6 = match addr {
        IpAddr::V4(a) if !v6_socket => {
            let family = u16::try_from(libc::AF_INET).unwrap_or(2).to_ne_bytes();
            buf[0..2].copy_from_slice(&family);
            buf[4..8].copy_from_slice(&a.octets());
            return;
        }
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    };
    let family = u16::try_from(libc::AF_INET6).unwrap_or(10).to_ne_bytes();
    buf[0..2].copy_from_slice(&family);
    buf[8..24].copy_from_slice(&v6.octets());
}

/// Drops packets whose TTL (hop limit for IPv6) is below `min` (RFC 5082 §3).
pub fn set_min_ttl<S: AsFd>(sock: &S, ipv6: bool, min: u32) -> io::Result<()> {
    let value = libc::c_int::try_from(min.min(255)).unwrap_or(255).to_ne_bytes();
    if ipv6 {
        setsockopt(sock, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &value)
    } else {
        setsockopt(sock, libc::IPPROTO_IP, libc::IP_MINTTL, &value)
    }
}

fn setsockopt<S: AsFd>(sock: &S, level: libc::c_int, name: libc::c_int, value: &[u8]) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "socket option value too long"))?;
    let fd = sock.as_fd();
    // SAFETY: `fd` is a live descriptor borrowed for the duration of the
    // call; `value` is a valid, initialised buffer of exactly `len` octets
    // that the kernel only reads (it copies what it needs before returning).
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, value.as_ptr().cast(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr};

    #[test]
    fn md5_key_is_accepted_and_removed_on_ipv4_and_ipv6_sockets() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        set_md5_key(&v4, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)), Some(b"secret")).expect("set");
        set_md5_key(&v4, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)), None).expect("remove");
        let v6 = std::net::TcpListener::bind("[::1]:0").expect("bind v6");
        set_md5_key(&v6, "::1".parse().expect("addr"), Some(b"secret")).expect("set v6");
        set_md5_key(&v6, IpAddr::V4(Ipv4Addr::LOCALHOST), Some(b"secret")).expect("set v4-mapped");
    }

    #[test]
    fn md5_key_too_long_is_refused_before_the_kernel() {
        let s = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let e = set_md5_key(&s, IpAddr::V4(Ipv4Addr::LOCALHOST), Some(&[b'x'; 81])).expect_err("too long");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn md5_key_on_a_non_tcp_socket_is_an_os_error() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        assert!(set_md5_key(&udp, IpAddr::V4(Ipv4Addr::LOCALHOST), Some(b"k")).is_err());
    }

    /// GTSM for real: a listener accepting only TTL 255 takes a client that
    /// sends with 255 and never sees one that sends with 254.
    #[test]
    fn min_ttl_drops_connections_from_further_away() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        set_min_ttl(&l, false, 255).expect("min ttl");
        let addr: SocketAddr = l.local_addr().expect("addr");
        let close = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        close.set_ttl_v4(255).expect("ttl");
        close.connect_timeout(&addr.into(), std::time::Duration::from_secs(5)).expect("TTL 255 connects");
        let far = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
        far.set_ttl_v4(254).expect("ttl");
        assert!(far.connect_timeout(&addr.into(), std::time::Duration::from_millis(1500)).is_err());
        set_min_ttl(&l, true, 255).expect_err("IPv6 option on an IPv4 socket");
    }
}
