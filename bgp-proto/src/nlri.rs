//! IP prefix NLRI (RFC 4271 §4.3) with optional ADD-PATH path identifiers
//! (RFC 7911 §3).
//!
//! ```text
//!  [path identifier(4), ADD-PATH only] | length in bits(1) | prefix(ceil(length / 8))
//! ```
//!
//! Host bits beyond the prefix length are masked off on decode: RFC 4271
//! §4.3 says "the value of trailing bits is irrelevant", and RFC 7606 §5.3
//! lists only an over-long prefix length and a field overrun as syntax
//! errors of an NLRI field. Encoding always writes the masked (canonical)
//! prefix.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::{update_subcode, DecodeError, EncodeError};
use crate::types::{Afi, Nlri};

/// Decodes a run of prefixes of `afi` (IPv4 or IPv6) filling `buf` exactly.
///
/// Errors (RFC 7606 §5.3, syntactically incorrect NLRI field): a prefix
/// length above 32/128, a prefix or path identifier running past the end of
/// `buf`, or an AFI other than IPv4/IPv6. The error is UPDATE Message Error
/// / Invalid Network Field (RFC 4271 §6.3) without data; callers decoding
/// MP_REACH/MP_UNREACH replace it with their own.
pub fn decode_prefixes(buf: &[u8], afi: Afi, add_path: bool) -> Result<Vec<Nlri>, DecodeError> {
    let mut out = Vec::new();
    decode_prefixes_into(buf, afi, add_path, &mut out)
        .map_err(|detail| DecodeError::update(update_subcode::INVALID_NETWORK_FIELD, Vec::new(), detail))?;
    Ok(out)
}

/// [`decode_prefixes`] appending to `out`; the error is a description only.
///
/// A first pass validates the field and counts its entries so that `out`
/// grows once; the second pass builds the prefixes without allocating.
pub(crate) fn decode_prefixes_into(buf: &[u8], afi: Afi, add_path: bool, out: &mut Vec<Nlri>) -> Result<(), String> {
    let max_len: u8 = match afi {
        Afi::IPV4 => 32,
        Afi::IPV6 => 128,
        other => return Err(format!("no prefix encoding for AFI {}", other.0)),
    };
    let id_len = if add_path { 4 } else { 0 };
    let mut count = 0usize;
    let mut pos = 0usize;
    while pos < buf.len() {
        let len_pos = pos + id_len;
        let Some(&bits) = buf.get(len_pos) else {
            return Err(format!("NLRI truncated at offset {pos}: path identifier or length missing"));
        };
        if bits > max_len {
            return Err(format!("prefix length {bits} exceeds {max_len}"));
        }
        let end = len_pos + 1 + usize::from(bits).div_ceil(8);
        if end > buf.len() {
            return Err(format!("prefix /{bits} at offset {pos} runs past the end of the field"));
        }
        pos = end;
        count += 1;
    }
    out.reserve(count);
    let mut rest = buf;
    while !rest.is_empty() {
        let path_id = if add_path {
            let Some((id, tail)) = rest.split_first_chunk::<4>() else {
                return Err("NLRI truncated in a path identifier".into());
            };
            rest = tail;
            Some(u32::from_be_bytes(*id))
        } else {
            None
        };
        let Some((&bits, tail)) = rest.split_first() else {
            return Err("NLRI truncated in a prefix length".into());
        };
        let n = usize::from(bits).div_ceil(8);
        let (Some(octets), Some(tail)) = (tail.get(..n), tail.get(n..)) else {
            return Err("NLRI truncated in a prefix".into());
        };
        rest = tail;
        let prefix = if afi == Afi::IPV4 { v4_prefix(octets, bits)? } else { v6_prefix(octets, bits)? };
        out.push(Nlri { path_id, prefix });
    }
    Ok(())
}

fn v4_prefix(octets: &[u8], bits: u8) -> Result<IpNet, String> {
    let mut a = [0u8; 4];
    let Some(dst) = a.get_mut(..octets.len()) else {
        return Err("IPv4 prefix longer than 4 octets".into());
    };
    dst.copy_from_slice(octets);
    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
    let addr = Ipv4Addr::from(u32::from_be_bytes(a) & mask);
    Ipv4Net::new(addr, bits).map(IpNet::V4).map_err(|e| e.to_string())
}

fn v6_prefix(octets: &[u8], bits: u8) -> Result<IpNet, String> {
    let mut a = [0u8; 16];
    let Some(dst) = a.get_mut(..octets.len()) else {
        return Err("IPv6 prefix longer than 16 octets".into());
    };
    dst.copy_from_slice(octets);
    let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
    let addr = Ipv6Addr::from(u128::from_be_bytes(a) & mask);
    Ipv6Net::new(addr, bits).map(IpNet::V6).map_err(|e| e.to_string())
}

/// Encodes one NLRI: its path identifier when it has one, the length and the
/// significant octets of the (masked) prefix.
pub fn encode_nlri(n: &Nlri, out: &mut BytesMut) {
    if let Some(id) = n.path_id {
        out.put_u32(id);
    }
    put_prefix(&n.prefix, out);
}

fn put_prefix(prefix: &IpNet, out: &mut BytesMut) {
    let mut buf = [0u8; 17];
    let n = prefix_bytes(prefix, &mut buf);
    out.put_slice(buf.get(..n).unwrap_or_default());
}

/// Writes length and significant (masked) octets of `prefix` to `buf`,
/// returning how many octets that is: one write per prefix on the hot path.
#[inline]
fn prefix_bytes(prefix: &IpNet, buf: &mut [u8; 17]) -> usize {
    let bits = prefix.prefix_len();
    let n = usize::from(bits).div_ceil(8);
    buf[0] = bits;
    match prefix {
        IpNet::V4(p) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            let a = (u32::from(p.addr()) & mask).to_be_bytes();
            buf[1..5].copy_from_slice(&a);
        }
        IpNet::V6(p) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            let a = (u128::from(p.addr()) & mask).to_be_bytes();
            buf[1..17].copy_from_slice(&a);
        }
    }
    1 + n
}

/// Appends a run of prefixes of `afi` as a session with or without
/// ADD-PATH expects (a missing path identifier as 0); a prefix of another
/// family is refused.
pub(crate) fn encode_run(nlri: &[Nlri], afi: Afi, add_path: bool, out: &mut BytesMut) -> Result<(), EncodeError> {
    let mut buf = [0u8; 17];
    for n in nlri {
        if !matches!((afi, n.prefix), (Afi::IPV4, IpNet::V4(_)) | (Afi::IPV6, IpNet::V6(_))) {
            return Err(EncodeError::Invalid(format!("prefix {} in AFI {} NLRI", n.prefix, afi.0)));
        }
        if add_path {
            out.extend_from_slice(&n.path_id.unwrap_or(0).to_be_bytes());
        }
        let len = prefix_bytes(&n.prefix, &mut buf);
        out.extend_from_slice(buf.get(..len).unwrap_or_default());
    }
    Ok(())
}

/// Octets [`encode_nlri_for`] writes for `n`.
pub(crate) fn encoded_len(n: &Nlri, add_path: bool) -> usize {
    (if add_path { 4 } else { 0 }) + 1 + usize::from(n.prefix.prefix_len()).div_ceil(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("test prefix")
    }

    #[test]
    fn decodes_ipv4_prefixes_of_every_octet_count() {
        let buf = [0, 8, 10, 17, 10, 128, 0, 24, 192, 0, 2, 32, 198, 51, 100, 7];
        let got = decode_prefixes(&buf, Afi::IPV4, false).expect("valid");
        let want: Vec<Nlri> = ["0.0.0.0/0", "10.0.0.0/8", "10.128.0.0/17", "192.0.2.0/24", "198.51.100.7/32"]
            .iter()
            .map(|s| Nlri::new(net(s)))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn decodes_add_path_ipv6() {
        let buf = [0, 0, 0, 7, 32, 0x20, 0x01, 0x0d, 0xb8];
        let got = decode_prefixes(&buf, Afi::IPV6, true).expect("valid");
        assert_eq!(got, vec![Nlri::with_path_id(net("2001:db8::/32"), 7)]);
    }

    #[test]
    fn masks_host_bits() {
        let got = decode_prefixes(&[7, 0xff], Afi::IPV4, false).expect("valid");
        assert_eq!(got, vec![Nlri::new(net("254.0.0.0/7"))]);
    }

    #[test]
    fn rejects_bad_fields() {
        for (buf, afi, ap) in [
            (&[33u8, 1, 2, 3, 4, 5][..], Afi::IPV4, false),
            (&[129u8][..], Afi::IPV6, false),
            (&[24u8, 10, 0][..], Afi::IPV4, false),
            (&[0u8, 0, 0][..], Afi::IPV4, true),
            (&[8u8, 10][..], Afi(25), false),
        ] {
            let err = decode_prefixes(buf, afi, ap).expect_err("invalid");
            assert_eq!((err.code, err.subcode), (3, update_subcode::INVALID_NETWORK_FIELD));
        }
    }

    #[test]
    fn encodes_canonically() {
        let mut out = BytesMut::new();
        encode_nlri(&Nlri::new(net("10.1.2.3/15")), &mut out);
        encode_nlri(&Nlri::with_path_id(net("2001:db8::/33"), 1), &mut out);
        assert_eq!(&out[..], &[15, 10, 0, 0, 0, 0, 1, 33, 0x20, 0x01, 0x0d, 0xb8, 0][..]);
    }
}
