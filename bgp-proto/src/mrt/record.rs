//! Record bodies: TABLE_DUMP (RFC 6396 §4.2), TABLE_DUMP_V2 (§4.3, RFC 8050 §4),
//! BGP4MP / BGP4MP_ET (§4.4, RFC 8050 §3). Decoding borrows from the record;
//! RIB entries and BGP messages are decoded further only on request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::{
    bgp4mp_subtype as bs, mrt_type, table_dump_subtype, table_dump_v2_subtype as ts, MrtError, MrtErrorKind, RawRecord,
};
use crate::attribute::{decode_path_attributes, PathAttributes, PathAttributesDecoder};
use crate::context::{Context, HEADER_LEN};
use crate::error::{AttributeIssue, UpdateError};
use crate::message::Message;
use crate::types::{Afi, Family, Safi};

/// A checked big-endian reader over a record body.
struct Cur<'a> {
    buf: &'a [u8],
    offset: u64,
}

impl<'a> Cur<'a> {
    fn new(buf: &'a [u8], offset: u64) -> Self {
        Cur { buf, offset }
    }
    fn err(&self, what: &'static str) -> MrtError {
        MrtError::new(self.offset, MrtErrorKind::TruncatedBody { what })
    }
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], MrtError> {
        if self.buf.len() < n {
            return Err(self.err(what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], MrtError> {
        match self.buf.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.buf = rest;
                Ok(*head)
            }
            None => Err(self.err(what)),
        }
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, MrtError> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, MrtError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, MrtError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    fn asn(&mut self, four: bool, what: &'static str) -> Result<u32, MrtError> {
        if four {
            self.u32(what)
        } else {
            self.u16(what).map(u32::from)
        }
    }
    fn ipv4(&mut self, what: &'static str) -> Result<Ipv4Addr, MrtError> {
        Ok(Ipv4Addr::from(self.array::<4>(what)?))
    }
    fn ipv6(&mut self, what: &'static str) -> Result<Ipv6Addr, MrtError> {
        Ok(Ipv6Addr::from(self.array::<16>(what)?))
    }
    fn ip(&mut self, v6: bool, what: &'static str) -> Result<IpAddr, MrtError> {
        if v6 {
            self.ipv6(what).map(IpAddr::V6)
        } else {
            self.ipv4(what).map(IpAddr::V4)
        }
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
}

fn invalid(offset: u64, what: &'static str) -> MrtError {
    MrtError::new(offset, MrtErrorKind::Invalid { what })
}

/// A prefix as RIB records carry it: length in bits, then only the octets
/// the length needs (RFC 6396 §4.3.2, RFC 4271 §4.3).
fn read_prefix(c: &mut Cur<'_>, afi: Afi) -> Result<IpNet, MrtError> {
    let len = c.u8("prefix length")?;
    let octets = c.take(usize::from(len).div_ceil(8), "prefix")?;
    let max = if afi == Afi::IPV6 { 128 } else { 32 };
    if len > max {
        return Err(invalid(c.offset, "prefix length"));
    }
    let mut addr = [0u8; 16];
    addr.get_mut(..octets.len()).ok_or_else(|| invalid(c.offset, "prefix"))?.copy_from_slice(octets);
    let net = if afi == Afi::IPV6 {
        Ipv6Net::new(Ipv6Addr::from(addr), len).map(IpNet::V6)
    } else {
        Ipv4Net::new(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]), len).map(IpNet::V4)
    };
    net.map_err(|_| invalid(c.offset, "prefix length"))
}

/// A decoded MRT record, borrowing from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// TABLE_DUMP (type 12) entry.
    TableDump(TableDumpEntry<'a>),
    /// TABLE_DUMP_V2 PEER_INDEX_TABLE.
    PeerIndexTable(PeerIndexTable),
    /// TABLE_DUMP_V2 RIB_IPV4/IPV6_UNICAST/MULTICAST and their ADDPATH forms.
    Rib(RibPrefix<'a>),
    /// TABLE_DUMP_V2 RIB_GENERIC(_ADDPATH), kept opaque.
    RibGeneric(RibGeneric<'a>),
    /// BGP4MP(_ET) MESSAGE, MESSAGE_AS4, _LOCAL and _ADDPATH forms.
    Bgp4mpMessage(Bgp4mpMessage<'a>),
    /// BGP4MP(_ET) STATE_CHANGE and STATE_CHANGE_AS4.
    Bgp4mpStateChange(Bgp4mpStateChange),
}

/// Decodes a framed record. Types and subtypes this reader does not know give
/// [`MrtErrorKind::Unsupported`]; the caller may skip them.
pub fn decode_record<'a>(rec: &RawRecord<'a>) -> Result<Record<'a>, MrtError> {
    let h = &rec.header;
    let unsupported =
        || MrtError::new(rec.offset, MrtErrorKind::Unsupported { mrt_type: h.mrt_type, subtype: h.subtype });
    match h.mrt_type {
        mrt_type::TABLE_DUMP => TableDumpEntry::decode(rec).map(Record::TableDump),
        mrt_type::TABLE_DUMP_V2 => match h.subtype {
            ts::PEER_INDEX_TABLE => PeerIndexTable::decode(rec.body, rec.offset).map(Record::PeerIndexTable),
            ts::RIB_GENERIC | ts::RIB_GENERIC_ADDPATH => RibGeneric::decode(rec).map(Record::RibGeneric),
            s if RibPrefix::family_of(s).is_some() => RibPrefix::decode(rec).map(Record::Rib),
            _ => Err(unsupported()),
        },
        mrt_type::BGP4MP | mrt_type::BGP4MP_ET => match h.subtype {
            bs::STATE_CHANGE | bs::STATE_CHANGE_AS4 => Bgp4mpStateChange::decode(rec).map(Record::Bgp4mpStateChange),
            bs::MESSAGE | bs::MESSAGE_AS4 | bs::MESSAGE_LOCAL..=bs::MESSAGE_AS4_LOCAL_ADDPATH => {
                Bgp4mpMessage::decode(rec).map(Record::Bgp4mpMessage)
            }
            _ => Err(unsupported()),
        },
        _ => Err(unsupported()),
    }
}

/// TABLE_DUMP entry (RFC 6396 §4.2): one route of one peer, 2-octet AS
/// numbers throughout (also inside its attributes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDumpEntry<'a> {
    pub view: u16,
    pub sequence: u16,
    pub prefix: IpNet,
    pub status: u8,
    pub originated: u32,
    pub peer_ip: IpAddr,
    pub peer_as: u32,
    /// Raw path attributes.
    pub attributes: &'a [u8],
}

impl<'a> TableDumpEntry<'a> {
    fn decode(rec: &RawRecord<'a>) -> Result<Self, MrtError> {
        let v6 = match rec.header.subtype {
            table_dump_subtype::AFI_IPV4 => false,
            table_dump_subtype::AFI_IPV6 => true,
            _ => return Err(invalid(rec.offset, "TABLE_DUMP subtype (AFI)")),
        };
        let mut c = Cur::new(rec.body, rec.offset);
        let view = c.u16("view")?;
        let sequence = c.u16("sequence")?;
        let addr = c.ip(v6, "prefix")?;
        let len = c.u8("prefix length")?;
        let prefix = IpNet::new(addr, len).map_err(|_| invalid(rec.offset, "prefix length"))?;
        let status = c.u8("status")?;
        let originated = c.u32("originated time")?;
        let peer_ip = c.ip(v6, "peer address")?;
        let peer_as = c.asn(false, "peer AS")?;
        let attr_len = c.u16("attribute length")?;
        let attributes = c.take(usize::from(attr_len), "attributes")?;
        Ok(TableDumpEntry { view, sequence, prefix, status, originated, peer_ip, peer_as, attributes })
    }

    pub fn family(&self) -> Family {
        match self.prefix {
            IpNet::V4(_) => Family::IPV4_UNICAST,
            IpNet::V6(_) => Family::IPV6_UNICAST,
        }
    }

    /// Decodes the attributes (2-octet AS numbers, RFC 6396 §4.2).
    #[inline]
    pub fn decode_attributes(&self) -> Result<(PathAttributes, Vec<AttributeIssue>), UpdateError> {
        decode_path_attributes(self.attributes, &Context::legacy(), Some(self.family()))
    }
}

/// One peer of a PEER_INDEX_TABLE (RFC 6396 §4.3.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerEntry {
    pub bgp_id: Ipv4Addr,
    pub ip: IpAddr,
    pub asn: u32,
    /// Peer Type bit 1: the AS was written in 4 octets.
    pub as4: bool,
}

/// PEER_INDEX_TABLE (RFC 6396 §4.3.1): the peers RIB entries refer to by index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerIndexTable {
    pub collector_id: Ipv4Addr,
    pub view_name: String,
    pub peers: Vec<PeerEntry>,
}

impl PeerIndexTable {
    /// Decodes a PEER_INDEX_TABLE body.
    pub fn decode(body: &[u8], offset: u64) -> Result<Self, MrtError> {
        let mut c = Cur::new(body, offset);
        let collector_id = c.ipv4("collector BGP ID")?;
        let name_len = c.u16("view name length")?;
        let view_name = String::from_utf8_lossy(c.take(usize::from(name_len), "view name")?).into_owned();
        let count = c.u16("peer count")?;
        // Bounded by what the body can hold (8 octets per peer at least).
        let mut peers = Vec::with_capacity(usize::from(count).min(body.len() / 8));
        for _ in 0..count {
            let peer_type = c.u8("peer type")?;
            let bgp_id = c.ipv4("peer BGP ID")?;
            let ip = c.ip(peer_type & 0x01 != 0, "peer address")?;
            let as4 = peer_type & 0x02 != 0;
            let asn = c.asn(as4, "peer AS")?;
            peers.push(PeerEntry { bgp_id, ip, asn, as4 });
        }
        Ok(PeerIndexTable { collector_id, view_name, peers })
    }
}

/// A RIB_* record (RFC 6396 §4.3.2; RFC 8050 §4 for the ADDPATH subtypes):
/// one prefix and the entries of every peer that has a route for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RibPrefix<'a> {
    pub subtype: u16,
    pub sequence: u32,
    pub family: Family,
    /// RFC 8050: every entry carries a path identifier.
    pub add_path: bool,
    pub prefix: IpNet,
    pub entry_count: u16,
    entries: &'a [u8],
    offset: u64,
}

impl<'a> RibPrefix<'a> {
    /// Family and ADD-PATH flag of an AFI/SAFI-specific RIB subtype.
    pub fn family_of(subtype: u16) -> Option<(Family, bool)> {
        Some(match subtype {
            ts::RIB_IPV4_UNICAST => (Family::IPV4_UNICAST, false),
            ts::RIB_IPV4_MULTICAST => (Family::IPV4_MULTICAST, false),
            ts::RIB_IPV6_UNICAST => (Family::IPV6_UNICAST, false),
            ts::RIB_IPV6_MULTICAST => (Family::IPV6_MULTICAST, false),
            ts::RIB_IPV4_UNICAST_ADDPATH => (Family::IPV4_UNICAST, true),
            ts::RIB_IPV4_MULTICAST_ADDPATH => (Family::IPV4_MULTICAST, true),
            ts::RIB_IPV6_UNICAST_ADDPATH => (Family::IPV6_UNICAST, true),
            ts::RIB_IPV6_MULTICAST_ADDPATH => (Family::IPV6_MULTICAST, true),
            _ => return None,
        })
    }

    fn decode(rec: &RawRecord<'a>) -> Result<Self, MrtError> {
        let (family, add_path) =
            Self::family_of(rec.header.subtype).ok_or_else(|| invalid(rec.offset, "RIB subtype"))?;
        let mut c = Cur::new(rec.body, rec.offset);
        let sequence = c.u32("sequence number")?;
        let prefix = read_prefix(&mut c, family.afi)?;
        let entry_count = c.u16("entry count")?;
        Ok(RibPrefix {
            subtype: rec.header.subtype,
            sequence,
            family,
            add_path,
            prefix,
            entry_count,
            entries: c.rest(),
            offset: rec.offset,
        })
    }

    /// The RIB entries, decoded one at a time without copying.
    pub fn entries(&self) -> RibEntries<'a> {
        RibEntries { cur: self.entries, left: self.entry_count, add_path: self.add_path, offset: self.offset }
    }
}

/// Iterator over the entries of a [`RibPrefix`]. Stops after the first
/// truncated entry (the rest of the record cannot be framed).
#[derive(Clone, Debug)]
pub struct RibEntries<'a> {
    cur: &'a [u8],
    left: u16,
    add_path: bool,
    offset: u64,
}

impl<'a> RibEntries<'a> {
    fn entry(&mut self) -> Result<RibEntry<'a>, MrtError> {
        let mut c = Cur::new(self.cur, self.offset);
        let peer_index = c.u16("peer index")?;
        let originated = c.u32("originated time")?;
        let path_id = if self.add_path { Some(c.u32("path identifier")?) } else { None };
        let len = c.u16("attribute length")?;
        let attributes = c.take(usize::from(len), "attributes")?;
        self.cur = c.rest();
        Ok(RibEntry { peer_index, originated, path_id, attributes })
    }
}

impl<'a> Iterator for RibEntries<'a> {
    type Item = Result<RibEntry<'a>, MrtError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let r = self.entry();
        if r.is_err() {
            self.left = 0;
        }
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.left)))
    }
}

/// One RIB entry (RFC 6396 §4.3.4; RFC 8050 §4 adds the path identifier).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RibEntry<'a> {
    /// Index into the PEER_INDEX_TABLE.
    pub peer_index: u16,
    pub originated: u32,
    pub path_id: Option<u32>,
    /// Raw path attributes (always 4-octet AS numbers, RFC 6396 §4.3.4).
    pub attributes: &'a [u8],
}

impl RibEntry<'_> {
    /// Decodes the attributes of an entry of a RIB record of `family`: 4-octet
    /// AS numbers; MP_REACH_NLRI in the abbreviated RFC 6396 form, the full
    /// RFC 4760 form, or absent.
    #[inline]
    pub fn decode_attributes(&self, family: Family) -> Result<(PathAttributes, Vec<AttributeIssue>), UpdateError> {
        decode_path_attributes(self.attributes, &Context::default(), Some(family))
    }

    /// [`decode_attributes`](Self::decode_attributes) through a reusable
    /// decoder: no allocation per entry for the AS path and communities when
    /// walking a whole dump.
    #[inline]
    pub fn decode_attributes_with<'d>(
        &self,
        family: Family,
        decoder: &'d mut PathAttributesDecoder,
    ) -> Result<&'d PathAttributes, UpdateError> {
        decoder.decode(self.attributes, &Context::default(), Some(family))
    }
}

/// RIB_GENERIC(_ADDPATH) (RFC 6396 §4.3.3): the NLRI of an arbitrary family
/// cannot be framed without knowing the family, so the rest stays opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RibGeneric<'a> {
    pub sequence: u32,
    pub afi: Afi,
    pub safi: Safi,
    pub add_path: bool,
    /// NLRI, entry count and entries, as on the wire.
    pub rest: &'a [u8],
}

impl<'a> RibGeneric<'a> {
    fn decode(rec: &RawRecord<'a>) -> Result<Self, MrtError> {
        let mut c = Cur::new(rec.body, rec.offset);
        let sequence = c.u32("sequence number")?;
        let afi = Afi(c.u16("AFI")?);
        let safi = Safi(c.u8("SAFI")?);
        Ok(RibGeneric { sequence, afi, safi, add_path: rec.header.subtype == ts::RIB_GENERIC_ADDPATH, rest: c.rest() })
    }
}

/// The peering part shared by BGP4MP messages and state changes (RFC 6396 §4.4).
fn read_peering(c: &mut Cur<'_>, as4: bool, offset: u64) -> Result<(u32, u32, u16, Afi, IpAddr, IpAddr), MrtError> {
    let peer_as = c.asn(as4, "peer AS")?;
    let local_as = c.asn(as4, "local AS")?;
    let interface_index = c.u16("interface index")?;
    let afi = Afi(c.u16("address family")?);
    let v6 = match afi {
        Afi::IPV4 => false,
        Afi::IPV6 => true,
        _ => return Err(invalid(offset, "BGP4MP address family")),
    };
    let peer_ip = c.ip(v6, "peer address")?;
    let local_ip = c.ip(v6, "local address")?;
    Ok((peer_as, local_as, interface_index, afi, peer_ip, local_ip))
}

/// BGP4MP(_ET) MESSAGE and its AS4 / LOCAL / ADDPATH forms (RFC 6396 §4.4.2-4.4.6,
/// RFC 8050 §3): a whole BGP message (with its 19-octet header) exchanged with a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bgp4mpMessage<'a> {
    pub subtype: u16,
    pub peer_as: u32,
    pub local_as: u32,
    pub interface_index: u16,
    pub afi: Afi,
    pub peer_ip: IpAddr,
    pub local_ip: IpAddr,
    /// MESSAGE_AS4 forms: AS numbers here and in the message are 4 octets.
    pub as4: bool,
    /// RFC 8050 ADDPATH forms: NLRI carry path identifiers.
    pub add_path: bool,
    /// _LOCAL forms: the message was sent by the local speaker.
    pub local: bool,
    /// The BGP message, header included.
    pub message: &'a [u8],
    offset: u64,
}

impl<'a> Bgp4mpMessage<'a> {
    fn decode(rec: &RawRecord<'a>) -> Result<Self, MrtError> {
        let subtype = rec.header.subtype;
        let as4 = bs::is_as4_message(subtype);
        let add_path = bs::is_add_path_message(subtype);
        let local = bs::is_local_message(subtype);
        let mut c = Cur::new(rec.body, rec.offset);
        let (peer_as, local_as, interface_index, afi, peer_ip, local_ip) = read_peering(&mut c, as4, rec.offset)?;
        Ok(Bgp4mpMessage {
            subtype,
            peer_as,
            local_as,
            interface_index,
            afi,
            peer_ip,
            local_ip,
            as4,
            add_path,
            local,
            message: c.rest(),
            offset: rec.offset,
        })
    }

    /// The decode context of the message: 2-octet AS paths for the plain
    /// forms, 4-octet for AS4; ADD-PATH on every prefix family for the ADDPATH forms.
    pub fn context(&self) -> Context {
        let mut ctx = if self.as4 { Context::default() } else { Context::legacy() };
        // A dump may hold messages of up to 65,535 octets (RFC 8654 sessions).
        ctx.extended_message = true;
        if self.add_path {
            ctx.add_path =
                vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST, Family::IPV4_MULTICAST, Family::IPV6_MULTICAST];
        }
        ctx
    }

    /// Checks the 19-octet BGP header (RFC 4271 §4.1) and returns the message
    /// type and the body after the header.
    pub fn split_message(&self) -> Result<(u8, &'a [u8]), MrtError> {
        let bad = |what| MrtError::new(self.offset, MrtErrorKind::Invalid { what });
        let (head, body) = self
            .message
            .split_first_chunk::<HEADER_LEN>()
            .ok_or_else(|| MrtError::new(self.offset, MrtErrorKind::TruncatedBody { what: "BGP header" }))?;
        if head[..16].iter().any(|&b| b != 0xff) {
            return Err(bad("BGP marker"));
        }
        let len = usize::from(u16::from_be_bytes([head[16], head[17]]));
        if len < HEADER_LEN || len > self.message.len() {
            return Err(bad("BGP message length"));
        }
        let body = body.get(..len - HEADER_LEN).ok_or_else(|| bad("BGP message length"))?;
        Ok((head[18], body))
    }

    /// Decodes the BGP message with [`Bgp4mpMessage::context`].
    pub fn decode_message(&self) -> Result<Message, MrtError> {
        let (msg_type, body) = self.split_message()?;
        Message::decode(msg_type, body, &self.context())
            .map_err(|e| MrtError::new(self.offset, MrtErrorKind::Bgp { detail: e.to_string() }))
    }
}

/// BGP4MP(_ET) STATE_CHANGE and STATE_CHANGE_AS4 (RFC 6396 §4.4.1, §4.4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bgp4mpStateChange {
    pub peer_as: u32,
    pub local_as: u32,
    pub interface_index: u16,
    pub afi: Afi,
    pub peer_ip: IpAddr,
    pub local_ip: IpAddr,
    /// RFC 4271 §8.2.2 states: 1 Idle .. 6 Established.
    pub old_state: u16,
    pub new_state: u16,
    pub as4: bool,
}

impl Bgp4mpStateChange {
    fn decode(rec: &RawRecord<'_>) -> Result<Self, MrtError> {
        let as4 = rec.header.subtype == bs::STATE_CHANGE_AS4;
        let mut c = Cur::new(rec.body, rec.offset);
        let (peer_as, local_as, interface_index, afi, peer_ip, local_ip) = read_peering(&mut c, as4, rec.offset)?;
        let old_state = c.u16("old state")?;
        let new_state = c.u16("new state")?;
        Ok(Bgp4mpStateChange { peer_as, local_as, interface_index, afi, peer_ip, local_ip, old_state, new_state, as4 })
    }
}
