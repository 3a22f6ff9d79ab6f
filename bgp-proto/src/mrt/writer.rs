//! Writing BGP4MP records (RFC 6396 §4.4): MESSAGE_AS4 and STATE_CHANGE_AS4,
//! as BGP4MP or, with microseconds, BGP4MP_ET (§3).

use std::net::IpAddr;

use bytes::{BufMut, BytesMut};

use super::{bgp4mp_subtype, mrt_type};
use crate::error::EncodeError;
use crate::types::Afi;

/// The two ends of a BGP session as BGP4MP records describe them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bgp4mpEndpoints {
    pub peer_as: u32,
    pub local_as: u32,
    pub interface_index: u16,
    /// Both addresses must be of the same family.
    pub peer_ip: IpAddr,
    pub local_ip: IpAddr,
}

impl Bgp4mpEndpoints {
    fn afi(&self) -> Result<Afi, EncodeError> {
        match (self.peer_ip, self.local_ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) => Ok(Afi::IPV4),
            (IpAddr::V6(_), IpAddr::V6(_)) => Ok(Afi::IPV6),
            _ => Err(EncodeError::Invalid("BGP4MP peer and local addresses of different families".into())),
        }
    }

    fn put(&self, afi: Afi, out: &mut BytesMut) {
        out.put_u32(self.peer_as);
        out.put_u32(self.local_as);
        out.put_u16(self.interface_index);
        out.put_u16(afi.0);
        for ip in [self.peer_ip, self.local_ip] {
            match ip {
                IpAddr::V4(a) => out.put_slice(&a.octets()),
                IpAddr::V6(a) => out.put_slice(&a.octets()),
            }
        }
    }

    fn len(afi: Afi) -> usize {
        12 + if afi == Afi::IPV6 { 32 } else { 8 }
    }
}

fn put_header(
    out: &mut BytesMut,
    seconds: u32,
    microseconds: Option<u32>,
    subtype: u16,
    body_len: usize,
) -> Result<(), EncodeError> {
    let (ty, extra) = match microseconds {
        Some(_) => (mrt_type::BGP4MP_ET, 4),
        None => (mrt_type::BGP4MP, 0),
    };
    let len =
        u32::try_from(body_len + extra).map_err(|_| EncodeError::FieldTooLong { what: "MRT record", len: body_len })?;
    out.put_u32(seconds);
    out.put_u16(ty);
    out.put_u16(subtype);
    out.put_u32(len);
    if let Some(us) = microseconds {
        out.put_u32(us);
    }
    Ok(())
}

/// Appends a BGP4MP_MESSAGE_AS4 record (BGP4MP_ET when `microseconds` is
/// given) holding `message`, a whole BGP message including its 19-octet header.
pub fn write_bgp4mp_message(
    out: &mut BytesMut,
    seconds: u32,
    microseconds: Option<u32>,
    endpoints: &Bgp4mpEndpoints,
    message: &[u8],
) -> Result<(), EncodeError> {
    let afi = endpoints.afi()?;
    let body_len = Bgp4mpEndpoints::len(afi) + message.len();
    out.reserve(16 + body_len);
    put_header(out, seconds, microseconds, bgp4mp_subtype::MESSAGE_AS4, body_len)?;
    endpoints.put(afi, out);
    out.put_slice(message);
    Ok(())
}

/// Appends a BGP4MP_STATE_CHANGE_AS4 record (BGP4MP_ET when `microseconds`
/// is given); states are RFC 4271 §8.2.2 numbers (1 Idle .. 6 Established).
pub fn write_bgp4mp_state_change(
    out: &mut BytesMut,
    seconds: u32,
    microseconds: Option<u32>,
    endpoints: &Bgp4mpEndpoints,
    old_state: u16,
    new_state: u16,
) -> Result<(), EncodeError> {
    let afi = endpoints.afi()?;
    let body_len = Bgp4mpEndpoints::len(afi) + 4;
    out.reserve(16 + body_len);
    put_header(out, seconds, microseconds, bgp4mp_subtype::STATE_CHANGE_AS4, body_len)?;
    endpoints.put(afi, out);
    out.put_u16(old_state);
    out.put_u16(new_state);
    Ok(())
}
