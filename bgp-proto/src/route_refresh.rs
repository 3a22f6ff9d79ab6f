//! ROUTE-REFRESH message (RFC 2918 §3) with RFC 7313 subtypes.
//!
//! ```text
//!  AFI(2) | subtype(1; reserved in RFC 2918) | SAFI(1) | ORF entries (RFC 5291), kept raw
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::context::{Context, HEADER_LEN};
use crate::error::{code, route_refresh_subcode, DecodeError, EncodeError};
use crate::message::{finish_message, max_len, message_type, put_header, MARKER};
use crate::types::{Afi, Family, Safi};

/// ROUTE-REFRESH message subtype (RFC 7313 §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RouteRefreshSubtype {
    /// 0: a normal route refresh request.
    Request,
    /// 1: Beginning of Route Refresh.
    BeginningOfRefresh,
    /// 2: End of Route Refresh.
    EndOfRefresh,
    /// Any other value; RFC 7313 says to ignore such a message.
    Other(u8),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RouteRefresh {
    pub family: Family,
    pub subtype: RouteRefreshSubtype,
    /// Outbound Route Filtering entries (RFC 5291) following the header, raw.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_util::hex"))]
    pub orf: Bytes,
}

impl RouteRefreshSubtype {
    fn from_wire(v: u8) -> Self {
        match v {
            0 => RouteRefreshSubtype::Request,
            1 => RouteRefreshSubtype::BeginningOfRefresh,
            2 => RouteRefreshSubtype::EndOfRefresh,
            other => RouteRefreshSubtype::Other(other),
        }
    }

    pub fn to_wire(self) -> u8 {
        match self {
            RouteRefreshSubtype::Request => 0,
            RouteRefreshSubtype::BeginningOfRefresh => 1,
            RouteRefreshSubtype::EndOfRefresh => 2,
            RouteRefreshSubtype::Other(v) => v,
        }
    }

    /// BoRR and EoRR carry nothing after the family (RFC 7313 §5).
    fn is_demarcation(self) -> bool {
        matches!(self, RouteRefreshSubtype::BeginningOfRefresh | RouteRefreshSubtype::EndOfRefresh)
    }
}

impl RouteRefresh {
    /// A plain route refresh request for `family` (RFC 2918).
    pub fn new(family: Family) -> Self {
        RouteRefresh { family, subtype: RouteRefreshSubtype::Request, orf: Bytes::new() }
    }

    /// Decodes a ROUTE-REFRESH body (after the header). Shorter than 4
    /// octets (a message under 23) is Bad Message Length (RFC 4271 §6.1).
    /// A BoRR or EoRR whose body is not exactly 4 octets is ROUTE-REFRESH
    /// Message Error / Invalid Message Length with the complete message as
    /// data (RFC 7313 §5). Unknown subtypes are kept: the receiver ignores them.
    pub fn decode(body: &[u8]) -> Result<RouteRefresh, DecodeError> {
        let len = u16::try_from(body.len() + HEADER_LEN).unwrap_or(u16::MAX);
        let Some((&[a0, a1, subtype, safi], orf)) = body.split_first_chunk::<4>() else {
            return Err(DecodeError::bad_length(len, "ROUTE-REFRESH shorter than 23 octets"));
        };
        let subtype = RouteRefreshSubtype::from_wire(subtype);
        if subtype.is_demarcation() && !orf.is_empty() {
            let mut message = Vec::with_capacity(usize::from(len));
            message.extend_from_slice(&MARKER);
            message.extend_from_slice(&len.to_be_bytes());
            message.push(message_type::ROUTE_REFRESH);
            message.extend_from_slice(body);
            return Err(DecodeError::new(
                code::ROUTE_REFRESH_MESSAGE,
                route_refresh_subcode::INVALID_MESSAGE_LENGTH,
                message,
                format!("ROUTE-REFRESH subtype {} of {len} octets (must be 23)", subtype.to_wire()),
            ));
        }
        Ok(RouteRefresh {
            family: Family::new(Afi(u16::from_be_bytes([a0, a1])), Safi(safi)),
            subtype,
            orf: Bytes::copy_from_slice(orf),
        })
    }

    /// Appends the whole message, header included. A BoRR/EoRR with ORF
    /// data cannot be sent (RFC 7313 §5); `out` is unchanged on error.
    pub fn encode(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        if self.subtype.is_demarcation() && !self.orf.is_empty() {
            return Err(EncodeError::Invalid("BoRR/EoRR ROUTE-REFRESH with ORF entries".into()));
        }
        let start = out.len();
        put_header(out, message_type::ROUTE_REFRESH);
        out.put_u16(self.family.afi.0);
        out.put_u8(self.subtype.to_wire());
        out.put_u8(self.family.safi.0);
        out.put_slice(&self.orf);
        let r = finish_message(out, start, max_len(message_type::ROUTE_REFRESH, ctx));
        if r.is_err() {
            out.truncate(start);
        }
        r
    }
}
