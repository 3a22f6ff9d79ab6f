//! Capabilities advertisement (RFC 5492) and the capabilities tern knows.

use bytes::Bytes;

use crate::types::{Family, RouterId};

/// Capability codes (IANA "Capability Codes").
pub mod code {
    pub const MULTIPROTOCOL: u8 = 1;
    pub const ROUTE_REFRESH: u8 = 2;
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    pub const EXTENDED_MESSAGE: u8 = 6;
    pub const BGP_ROLE: u8 = 9;
    pub const GRACEFUL_RESTART: u8 = 64;
    pub const FOUR_OCTET_AS: u8 = 65;
    pub const ADD_PATH: u8 = 69;
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
    pub const LONG_LIVED_GRACEFUL_RESTART: u8 = 71;
    pub const FQDN: u8 = 73;
    /// Pre-standard Cisco route refresh (RFC 2918 §2 mentions it).
    pub const ROUTE_REFRESH_OLD: u8 = 128;
}

/// ADD-PATH Send/Receive field (RFC 7911 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AddPathMode {
    Receive,
    Send,
    Both,
    /// A value outside 1..=3, kept so the capability re-encodes as received.
    Other(u8),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AddPathFamily {
    pub family: Family,
    pub mode: AddPathMode,
}

/// Per-family entry of the graceful restart capability (RFC 4724 §3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GracefulRestartFamily {
    pub family: Family,
    /// "Forwarding State" bit: forwarding was preserved for this family.
    pub forwarding_preserved: bool,
    /// The other 7 flag bits as received.
    pub reserved_flags: u8,
}

/// Graceful restart capability (RFC 4724 §3, N bit from RFC 8538 §2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GracefulRestart {
    /// R bit: the sender restarted.
    pub restarting: bool,
    /// N bit (RFC 8538): the sender supports graceful NOTIFICATION.
    pub notification: bool,
    /// The two remaining reserved flag bits as received (low bits of the nibble).
    pub reserved_flags: u8,
    /// Restart time in seconds (12 bits).
    pub restart_time: u16,
    pub families: Vec<GracefulRestartFamily>,
}

/// Per-family entry of the long-lived graceful restart capability (RFC 9494 §3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LongLivedGracefulRestartFamily {
    pub family: Family,
    /// F bit: forwarding state preserved.
    pub forwarding_preserved: bool,
    pub reserved_flags: u8,
    /// Long-lived stale time in seconds (24 bits).
    pub stale_time: u32,
}

/// Extended next hop encoding entry (RFC 8950 §3): NLRI family + next-hop AFI.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExtendedNextHop {
    pub family: Family,
    /// AFI of the next hop (2 = IPv6). Encoded as a 2-octet AFI; the NLRI SAFI is 2 octets on the wire.
    pub next_hop_afi: crate::types::Afi,
}

/// BGP role (RFC 9234 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Role {
    Provider,
    RouteServer,
    RouteServerClient,
    Customer,
    Peer,
    Other(u8),
}

/// One capability from an OPEN's Capabilities optional parameter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Capability {
    /// RFC 4760 §8.
    Multiprotocol(Family),
    /// RFC 2918 (code 2).
    RouteRefresh,
    /// Pre-standard route refresh (code 128).
    RouteRefreshOld,
    /// RFC 7313 (code 70).
    EnhancedRouteRefresh,
    /// RFC 6793 (code 65).
    FourOctetAs(u32),
    /// RFC 4724 (code 64).
    GracefulRestart(GracefulRestart),
    /// RFC 9494 (code 71).
    LongLivedGracefulRestart(Vec<LongLivedGracefulRestartFamily>),
    /// RFC 7911 (code 69).
    AddPath(Vec<AddPathFamily>),
    /// RFC 8950 (code 5).
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// RFC 8654 (code 6).
    ExtendedMessage,
    /// draft-walton-bgp-hostname-capability (code 73): host and domain name.
    Fqdn { hostname: Bytes, domain: Bytes },
    /// RFC 9234 (code 9).
    Role(Role),
    /// Anything else (or a known code whose value did not parse), kept as bytes.
    Unknown { code: u8, value: Bytes },
}

/// The RouterId type is re-exported here for OPEN users.
pub type Identifier = RouterId;
