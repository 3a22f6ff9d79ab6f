//! Shared wire-level vocabulary: address families, AS numbers, prefixes.

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::IpNet;

/// Address Family Identifier (IANA "Address Family Numbers"; RFC 4760 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Afi(pub u16);

impl Afi {
    pub const IPV4: Afi = Afi(1);
    pub const IPV6: Afi = Afi(2);
}

/// Subsequent Address Family Identifier (RFC 4760 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Safi(pub u8);

impl Safi {
    pub const UNICAST: Safi = Safi(1);
    pub const MULTICAST: Safi = Safi(2);
    pub const MPLS_LABEL: Safi = Safi(4);
    pub const MPLS_VPN: Safi = Safi(128);
}

/// An AFI/SAFI pair: the unit in which capabilities, ADD-PATH and End-of-RIB apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Family {
    pub afi: Afi,
    pub safi: Safi,
}

impl Family {
    pub const IPV4_UNICAST: Family = Family::new(Afi::IPV4, Safi::UNICAST);
    pub const IPV6_UNICAST: Family = Family::new(Afi::IPV6, Safi::UNICAST);
    pub const IPV4_MULTICAST: Family = Family::new(Afi::IPV4, Safi::MULTICAST);
    pub const IPV6_MULTICAST: Family = Family::new(Afi::IPV6, Safi::MULTICAST);

    pub const fn new(afi: Afi, safi: Safi) -> Self {
        Family { afi, safi }
    }

    /// Families whose NLRI this codec decodes into prefixes (unicast and
    /// multicast share the RFC 4271 prefix encoding). Any other family is
    /// carried opaque.
    pub fn has_prefix_nlri(self) -> bool {
        matches!(self.afi, Afi::IPV4 | Afi::IPV6) && matches!(self.safi, Safi::UNICAST | Safi::MULTICAST)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.afi, self.safi) {
            (Afi::IPV4, Safi::UNICAST) => f.write_str("ipv4-unicast"),
            (Afi::IPV6, Safi::UNICAST) => f.write_str("ipv6-unicast"),
            (Afi::IPV4, Safi::MULTICAST) => f.write_str("ipv4-multicast"),
            (Afi::IPV6, Safi::MULTICAST) => f.write_str("ipv6-multicast"),
            (a, s) => write!(f, "afi{}-safi{}", a.0, s.0),
        }
    }
}

/// AS_TRANS (RFC 6793 §9): stands in for a 4-octet AS towards 2-octet speakers.
pub const AS_TRANS: u32 = 23456;

/// BGP identifier / router ID (RFC 4271 §4.2, RFC 6286).
pub type RouterId = Ipv4Addr;

/// One NLRI entry of a prefix family, with its ADD-PATH path identifier
/// (RFC 7911 §3) when the session negotiated ADD-PATH for the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Nlri {
    pub path_id: Option<u32>,
    pub prefix: IpNet,
}

impl Nlri {
    pub fn new(prefix: IpNet) -> Self {
        Nlri { path_id: None, prefix }
    }
    pub fn with_path_id(prefix: IpNet, path_id: u32) -> Self {
        Nlri { path_id: Some(path_id), prefix }
    }
}

impl fmt::Display for Nlri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path_id {
            Some(id) => write!(f, "{} (path-id {id})", self.prefix),
            None => write!(f, "{}", self.prefix),
        }
    }
}
