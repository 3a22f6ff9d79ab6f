//! ROUTE-REFRESH message (RFC 2918 §3) with RFC 7313 subtypes.
//!
//! ```text
//!  AFI(2) | subtype(1; reserved in RFC 2918) | SAFI(1) | ORF entries (RFC 5291), kept raw
//! ```

use bytes::Bytes;

use crate::types::Family;

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
    pub orf: Bytes,
}
