//! Path attributes (RFC 4271 §4.3, §5 and the RFCs named per attribute).
//!
//! ```text
//!  flags(1) | type code(1) | length(1, or 2 with the Extended Length flag) | value
//!  flags: 0x80 optional, 0x40 transitive, 0x20 partial, 0x10 extended length
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;

use crate::types::{Family, Nlri};

mod as4;
mod decode;
mod encode;

pub(crate) use decode::{decode_attributes, missing_mandatory, mp_withdrawn};
pub use decode::{decode_path_attributes, PathAttributesDecoder};
pub(crate) use encode::put_next_hop;
pub use encode::EncodeOptions;

/// Attribute flag bits (RFC 4271 §4.3).
pub mod flags {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

/// Attribute type codes (IANA "BGP Path Attributes").
pub mod type_code {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MULTI_EXIT_DISC: u8 = 4;
    pub const LOCAL_PREF: u8 = 5;
    pub const ATOMIC_AGGREGATE: u8 = 6;
    pub const AGGREGATOR: u8 = 7;
    pub const COMMUNITIES: u8 = 8;
    pub const ORIGINATOR_ID: u8 = 9;
    pub const CLUSTER_LIST: u8 = 10;
    pub const MP_REACH_NLRI: u8 = 14;
    pub const MP_UNREACH_NLRI: u8 = 15;
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    pub const AS4_PATH: u8 = 17;
    pub const AS4_AGGREGATOR: u8 = 18;
    pub const LARGE_COMMUNITY: u8 = 32;
    pub const OTC: u8 = 35;
}

/// ORIGIN (RFC 4271 §5.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Origin {
    Igp = 0,
    Egp = 1,
    Incomplete = 2,
}

/// AS_PATH segment types (RFC 4271 §4.3, RFC 5065 §3 for confederations).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SegmentType {
    AsSet = 1,
    AsSequence = 2,
    ConfedSequence = 3,
    ConfedSet = 4,
}

#[derive(Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AsSegment {
    pub kind: SegmentType,
    pub asns: Vec<u32>,
}

/// An AS path, always held with 4-octet AS numbers whatever the wire width.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AsPath {
    pub segments: Vec<AsSegment>,
}

/// AGGREGATOR / AS4_AGGREGATOR (RFC 4271 §5.1.7, RFC 6793 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Aggregator {
    pub asn: u32,
    pub address: Ipv4Addr,
}

/// LARGE_COMMUNITY element (RFC 8092).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LargeCommunity {
    pub global_admin: u32,
    pub local_data1: u32,
    pub local_data2: u32,
}

/// Next hop carried in MP_REACH_NLRI (RFC 4760 §3, RFC 2545 §3, RFC 8950).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MpNextHop {
    /// 4 octets.
    V4(Ipv4Addr),
    /// 16 octets.
    V6(Ipv6Addr),
    /// 32 octets: global then link-local (RFC 2545 §3).
    V6LinkLocal { global: Ipv6Addr, link_local: Ipv6Addr },
    /// Anything else (VPN route distinguisher forms, odd lengths of opaque families).
    Other(#[cfg_attr(feature = "serde", serde(with = "crate::serde_util::hex"))] Bytes),
}

/// NLRI inside MP_REACH/MP_UNREACH: decoded prefixes, or opaque bytes for
/// families this codec does not interpret (kept, not an error).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MpNlri {
    Prefixes(Vec<Nlri>),
    Opaque(#[cfg_attr(feature = "serde", serde(with = "crate::serde_util::hex"))] Bytes),
}

/// MP_REACH_NLRI (RFC 4760 §3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MpReach {
    pub family: Family,
    pub next_hop: MpNextHop,
    /// Reserved octet (SNPA count in RFC 2858); kept for byte-exact re-encoding.
    pub reserved: u8,
    pub nlri: MpNlri,
}

/// MP_UNREACH_NLRI (RFC 4760 §4). An empty one is End-of-RIB (RFC 4724 §2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MpUnreach {
    pub family: Family,
    pub withdrawn: MpNlri,
}

/// An attribute this codec does not interpret, kept with its flags.
///
/// `flags` are as received except the Extended Length bit, which is a
/// property of the encoding: the decoder clears it and the encoder sets it
/// exactly when the value exceeds 255 octets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RawAttribute {
    pub flags: u8,
    pub type_code: u8,
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_util::hex"))]
    pub value: Bytes,
}

/// The decoded path attributes of one UPDATE (or one MRT RIB entry).
///
/// Each known attribute appears at most once (RFC 7606 §3 g: duplicates
/// other than MP_REACH/MP_UNREACH are discarded). `as_path` and `aggregator`
/// hold what was on the wire; [`PathAttributes::effective_as_path`] and
/// [`PathAttributes::effective_aggregator`] apply the RFC 6793 §4.2.3
/// reconstruction with AS4_PATH / AS4_AGGREGATOR.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PathAttributes {
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub origin: Option<Origin>,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub as_path: Option<AsPath>,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub next_hop: Option<Ipv4Addr>,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub med: Option<u32>,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub aggregator: Option<Aggregator>,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub communities: Option<Vec<u32>>,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub originator_id: Option<Ipv4Addr>,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub cluster_list: Option<Vec<Ipv4Addr>>,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub mp_reach: Option<MpReach>,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub mp_unreach: Option<MpUnreach>,
    /// 8-octet extended communities (RFC 4360), raw.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub extended_communities: Option<Vec<[u8; 8]>>,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub as4_path: Option<AsPath>,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub as4_aggregator: Option<Aggregator>,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub large_communities: Option<Vec<LargeCommunity>>,
    /// Only to Customer (RFC 9234 §5).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub otc: Option<u32>,
    /// Every other attribute, ordered by type code (the decoder sorts them).
    pub unknown: Vec<RawAttribute>,
    /// Recognised optional transitive attributes that carried the Partial
    /// bit (RFC 4271 §5: once set it stays set when the route is passed on).
    pub partial: PartialBits,
}

// Clone by hand for `clone_from`: a RIB copies attribute sets into one
// scratch value per route (export rules, policies) and wants the scratch's
// vectors reused instead of allocated each time.

impl Clone for AsSegment {
    fn clone(&self) -> Self {
        AsSegment { kind: self.kind, asns: self.asns.clone() }
    }

    fn clone_from(&mut self, source: &Self) {
        self.kind = source.kind;
        self.asns.clone_from(&source.asns);
    }
}

impl Clone for AsPath {
    fn clone(&self) -> Self {
        AsPath { segments: self.segments.clone() }
    }

    fn clone_from(&mut self, source: &Self) {
        self.segments.clone_from(&source.segments);
    }
}

impl Clone for PathAttributes {
    fn clone(&self) -> Self {
        let mut a = PathAttributes::default();
        a.clone_from(self);
        a
    }

    fn clone_from(&mut self, source: &Self) {
        // Destructured so that a new field does not compile until it is copied here.
        let PathAttributes {
            origin,
            as_path,
            next_hop,
            med,
            local_pref,
            atomic_aggregate,
            aggregator,
            communities,
            originator_id,
            cluster_list,
            mp_reach,
            mp_unreach,
            extended_communities,
            as4_path,
            as4_aggregator,
            large_communities,
            otc,
            unknown,
            partial,
        } = source;
        self.origin = *origin;
        self.as_path.clone_from(as_path);
        self.next_hop = *next_hop;
        self.med = *med;
        self.local_pref = *local_pref;
        self.atomic_aggregate = *atomic_aggregate;
        self.aggregator = *aggregator;
        self.communities.clone_from(communities);
        self.originator_id = *originator_id;
        self.cluster_list.clone_from(cluster_list);
        self.mp_reach.clone_from(mp_reach);
        self.mp_unreach.clone_from(mp_unreach);
        self.extended_communities.clone_from(extended_communities);
        self.as4_path.clone_from(as4_path);
        self.as4_aggregator = *as4_aggregator;
        self.large_communities.clone_from(large_communities);
        self.otc = *otc;
        self.unknown.clone_from(unknown);
        self.partial = *partial;
    }
}

/// A set of attribute type codes below 64, one bit each: which recognised
/// optional transitive attributes had the Partial flag (RFC 4271 §4.3, §5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PartialBits(pub u64);

impl PartialBits {
    pub fn contains(self, type_code: u8) -> bool {
        type_code < 64 && self.0 & (1u64 << type_code) != 0
    }

    pub fn insert(&mut self, type_code: u8) {
        if type_code < 64 {
            self.0 |= 1u64 << type_code;
        }
    }
}
