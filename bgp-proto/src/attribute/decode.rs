//! Decoding of the path attribute section (RFC 4271 §4.3, §5) with the
//! RFC 7606 error classification: every problem becomes "attribute
//! discard", "treat-as-withdraw" or "session reset" with the NOTIFICATION
//! RFC 4271 §6.3 prescribes.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;

use super::{
    flags, type_code as tc, Aggregator, AsPath, AsSegment, LargeCommunity, MpNextHop, MpNlri, MpReach, MpUnreach,
    Origin, PathAttributes, RawAttribute, SegmentType,
};
use crate::context::Context;
use crate::error::{update_subcode as sub, AttributeIssue, DecodeError, ErrorAction, UpdateError};
use crate::nlri::decode_prefixes_into;
use crate::types::{Afi, Family, Nlri, Safi};

/// Decodes the path attributes of an UPDATE (`mrt_rib: None`) or of an MRT
/// TABLE_DUMP_V2 RIB entry of `family` (`mrt_rib: Some(family)`).
///
/// Returns the attributes and the issues handled by "attribute discard"
/// (RFC 7606 §2), or the UPDATE-level error. As this function does not see
/// the UPDATE's NLRI field, a treat-as-withdraw error lists only the
/// MP_REACH_NLRI / MP_UNREACH_NLRI prefixes, and the missing-attribute check
/// (RFC 7606 §3 d: ORIGIN and AS_PATH) is made only when MP_REACH_NLRI is
/// present; [`crate::update::decode_update`] does the complete job.
///
/// For an MRT RIB entry MP_REACH_NLRI may be the abbreviated RFC 6396 §4.3.4
/// form (next-hop length and next hop only), the full RFC 4760 form (whose
/// NLRI, a copy of the entry's prefix, is skipped: `nlri` is left empty), or
/// empty; no attribute is required.
#[inline]
pub fn decode_path_attributes(
    buf: &[u8],
    ctx: &Context,
    mrt_rib: Option<Family>,
) -> Result<(PathAttributes, Vec<AttributeIssue>), UpdateError> {
    // Decoded in place in the value returned on every path: PathAttributes
    // is large, and copying it costs as much as decoding an attribute.
    let mut out = Ok((PathAttributes::default(), Vec::new()));
    let Ok((attrs, issues)) = &mut out else { return out };
    let error = match decode_attributes(buf, ctx, mrt_rib, attrs) {
        Err(e) => Some(UpdateError::SessionReset(e)),
        Ok(mut d) => {
            if d.withdraw.is_none() && mrt_rib.is_none() && attrs.mp_reach.is_some() {
                d.withdraw = missing_mandatory(attrs, false);
            }
            *issues = d.issues;
            d.withdraw.map(|error| {
                let mut withdrawn = Vec::new();
                mp_withdrawn(attrs, &mut withdrawn);
                UpdateError::TreatAsWithdraw { withdrawn, error }
            })
        }
    };
    if let Some(e) = error {
        out = Err(e);
    }
    out
}

/// What decoding an attribute section found, beside the attributes, before
/// the UPDATE-level decisions.
pub(crate) struct Decoded {
    /// Problems handled by attribute discard.
    pub issues: Vec<AttributeIssue>,
    /// The first problem whose action is treat-as-withdraw. Decoding goes on
    /// after it, as a later session-reset problem is stronger (RFC 7606 §3 h)
    /// and MP_REACH_NLRI must be found to withdraw its NLRI.
    pub withdraw: Option<DecodeError>,
    /// Whether an attribute other than MP_UNREACH_NLRI was present
    /// (RFC 7606 §5.2).
    pub other_than_unreach: bool,
}

/// What went wrong in one attribute: the RFC 4271 §6.3 subcode and a text.
struct Bad {
    subcode: u8,
    detail: String,
}

fn bad(subcode: u8, detail: impl Into<String>) -> Bad {
    Bad { subcode, detail: detail.into() }
}

fn length_error(what: &str, len: usize) -> Bad {
    bad(sub::ATTRIBUTE_LENGTH_ERROR, format!("{what} attribute with length {len}"))
}

/// Decodes an attribute section into `attrs` (fresh); `Err` is a session
/// reset.
pub(crate) fn decode_attributes(
    buf: &[u8],
    ctx: &Context,
    mrt_rib: Option<Family>,
    attrs: &mut PathAttributes,
) -> Result<Decoded, DecodeError> {
    decode_attributes_reusing(buf, ctx, mrt_rib, attrs, &mut Spare::default())
}

/// Vectors of an earlier decode, cleared, lent to the next one so that a
/// steady stream of attribute sets allocates nothing (see
/// [`PathAttributesDecoder`]).
#[derive(Debug, Default)]
struct Spare {
    as_path: Option<AsPath>,
    communities: Option<Vec<u32>>,
    unknown: Vec<RawAttribute>,
}

/// A reusable decoder for bulk decoding: MRT RIB dumps, or a RIB ingesting
/// a full table. Each [`decode`](Self::decode) fills one `PathAttributes`
/// whose vectors keep their capacity from call to call, so decoding a long
/// stream of attribute sets costs no allocation per set for the AS path and
/// communities. The caller reads the result by reference and clones what it
/// keeps — which is what a RIB that interns attribute sets does anyway: most
/// sets it receives are already known, and only a new one is copied.
///
/// The result is the same as [`decode_path_attributes`] gives.
#[derive(Debug, Default)]
pub struct PathAttributesDecoder {
    attrs: PathAttributes,
    issues: Vec<AttributeIssue>,
    spare: Spare,
}

impl PathAttributesDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `buf` as [`decode_path_attributes`] does; on success the
    /// attributes are borrowed from the decoder until the next call, and the
    /// attribute-discard issues are in [`issues`](Self::issues).
    pub fn decode(
        &mut self,
        buf: &[u8],
        ctx: &Context,
        mrt_rib: Option<Family>,
    ) -> Result<&PathAttributes, UpdateError> {
        self.recycle();
        let attrs = &mut self.attrs;
        let mut d = match decode_attributes_reusing(buf, ctx, mrt_rib, attrs, &mut self.spare) {
            Ok(d) => d,
            Err(e) => return Err(UpdateError::SessionReset(e)),
        };
        if d.withdraw.is_none() && mrt_rib.is_none() && attrs.mp_reach.is_some() {
            d.withdraw = missing_mandatory(attrs, false);
        }
        self.issues = d.issues;
        if let Some(error) = d.withdraw {
            let mut withdrawn = Vec::new();
            mp_withdrawn(attrs, &mut withdrawn);
            return Err(UpdateError::TreatAsWithdraw { withdrawn, error });
        }
        Ok(&self.attrs)
    }

    /// The attribute-discard issues of the last successful decode.
    pub fn issues(&self) -> &[AttributeIssue] {
        &self.issues
    }

    /// Takes the vectors worth keeping out of the last result and resets it.
    fn recycle(&mut self) {
        let a = &mut self.attrs;
        if let Some(p) = a.as_path.take() {
            self.spare.as_path = Some(p);
        }
        if let Some(mut c) = a.communities.take() {
            c.clear();
            self.spare.communities = Some(c);
        }
        if !a.unknown.is_empty() {
            std::mem::swap(&mut self.spare.unknown, &mut a.unknown);
            self.spare.unknown.clear();
        }
        let unknown = std::mem::take(&mut self.spare.unknown);
        *a = PathAttributes { unknown, ..PathAttributes::default() };
        self.issues.clear();
    }
}

fn decode_attributes_reusing(
    buf: &[u8],
    ctx: &Context,
    mrt_rib: Option<Family>,
    attrs: &mut PathAttributes,
    spare: &mut Spare,
) -> Result<Decoded, DecodeError> {
    let mut d = Decoded { issues: Vec::new(), withdraw: None, other_than_unreach: false };
    // One bit per type code: RFC 7606 §3 g duplicate detection.
    let mut seen = [0u64; 4];
    let mut rest = buf;
    while !rest.is_empty() {
        let Some(&[attr_flags, code]) = rest.first_chunk::<2>() else {
            // RFC 7606 §4: fewer octets left than a minimum attribute header:
            // treat-as-withdraw, the Total Attribute Length locates the NLRI.
            withdraw(
                &mut d,
                DecodeError::update(sub::MALFORMED_ATTRIBUTE_LIST, Vec::new(), "trailing octet in attributes"),
            );
            break;
        };
        let extended = attr_flags & flags::EXTENDED_LENGTH != 0;
        let header_len = if extended { 4 } else { 3 };
        let value_len = match (extended, rest.get(2), rest.get(3)) {
            (false, Some(&l), _) => usize::from(l),
            (true, Some(&hi), Some(&lo)) => usize::from(u16::from_be_bytes([hi, lo])),
            _ => {
                // RFC 7606 §4, second case: truncated attribute header.
                let e = DecodeError::update(sub::MALFORMED_ATTRIBUTE_LIST, Vec::new(), "truncated attribute header");
                withdraw(&mut d, e);
                break;
            }
        };
        let Some(attr) = rest.get(..header_len + value_len) else {
            let detail = format!("attribute {code} of length {value_len} overruns the attribute section");
            let e = DecodeError::update(sub::ATTRIBUTE_LENGTH_ERROR, Bytes::copy_from_slice(rest), detail);
            if code == tc::MP_REACH_NLRI || code == tc::MP_UNREACH_NLRI {
                // RFC 7606 §7.11 / §5.3: the MP NLRI cannot be parsed, so
                // treat-as-withdraw is impossible.
                return Err(e);
            }
            // RFC 7606 §4, first case: treat-as-withdraw.
            withdraw(&mut d, e);
            break;
        };
        let value = attr.get(header_len..).unwrap_or_default();
        rest = rest.get(attr.len()..).unwrap_or_default();

        // RFC 7606 §3 g: a repeated MP_REACH_NLRI/MP_UNREACH_NLRI resets the
        // session; any other repeated attribute is discarded after the first.
        let word = &mut seen[usize::from(code >> 6)];
        let bit = 1u64 << (code & 63);
        if *word & bit != 0 {
            let e = DecodeError::update(
                sub::MALFORMED_ATTRIBUTE_LIST,
                Vec::new(),
                format!("attribute {code} appears more than once"),
            );
            if code == tc::MP_REACH_NLRI || code == tc::MP_UNREACH_NLRI {
                return Err(e);
            }
            d.issues.push(AttributeIssue { type_code: code, action: ErrorAction::AttributeDiscard, error: e });
            continue;
        }
        *word |= bit;
        if code != tc::MP_UNREACH_NLRI {
            d.other_than_unreach = true;
        }

        if let Err(b) = decode_one(attrs, attr_flags, code, value, ctx, mrt_rib, spare) {
            let data = match b.subcode {
                // RFC 4271 §6.3 prescribes no data for these.
                sub::MALFORMED_AS_PATH | sub::MALFORMED_ATTRIBUTE_LIST | sub::INVALID_NETWORK_FIELD => Bytes::new(),
                // "the Data field MUST contain the erroneous attribute (type,
                // length, and value)": flags, type code, length and value.
                _ => Bytes::copy_from_slice(attr),
            };
            let e = DecodeError::update(b.subcode, data, b.detail);
            match action_for(code, attr_flags) {
                ErrorAction::AttributeDiscard => {
                    d.issues.push(AttributeIssue { type_code: code, action: ErrorAction::AttributeDiscard, error: e })
                }
                ErrorAction::TreatAsWithdraw => withdraw(&mut d, e),
                ErrorAction::SessionReset => return Err(e),
            }
        }
    }
    Ok(d)
}

fn withdraw(d: &mut Decoded, e: DecodeError) {
    if d.withdraw.is_none() {
        d.withdraw = Some(e);
    }
}

/// RFC 7606 §7: the action for a malformed attribute of each type.
fn action_for(code: u8, attr_flags: u8) -> ErrorAction {
    match code {
        // §7.6 ATOMIC_AGGREGATE, §7.7 AGGREGATOR; RFC 6793 §6 AS4_PATH and
        // AS4_AGGREGATOR.
        tc::ATOMIC_AGGREGATE | tc::AGGREGATOR | tc::AS4_PATH | tc::AS4_AGGREGATOR => ErrorAction::AttributeDiscard,
        // §7.11: the NLRI cannot be located reliably.
        tc::MP_REACH_NLRI | tc::MP_UNREACH_NLRI => ErrorAction::SessionReset,
        // §7.1-7.5, 7.8-7.10, 7.14; RFC 8092 §6 (LARGE_COMMUNITY); RFC 9234
        // §5 (OTC). An unrecognized well-known attribute has no rule of its
        // own: treat-as-withdraw, the approach RFC 7606 §2 makes the default
        // for a malformed attribute (BIRD does the same).
        _ if attr_flags & flags::OPTIONAL == 0 || is_known(code) => ErrorAction::TreatAsWithdraw,
        _ => ErrorAction::AttributeDiscard,
    }
}

fn is_known(code: u8) -> bool {
    expected_flags(code).is_some()
}

/// Optional and Transitive bits each recognised attribute must carry
/// (RFC 4271 §5, RFC 4456 §8, RFC 4760 §3-4, RFC 4360 §2, RFC 6793 §3,
/// RFC 8092 §3, RFC 9234 §5).
fn expected_flags(code: u8) -> Option<u8> {
    const WELL_KNOWN: u8 = flags::TRANSITIVE;
    const OPT_TRANS: u8 = flags::OPTIONAL | flags::TRANSITIVE;
    const OPT_NON_TRANS: u8 = flags::OPTIONAL;
    Some(match code {
        tc::ORIGIN | tc::AS_PATH | tc::NEXT_HOP | tc::LOCAL_PREF | tc::ATOMIC_AGGREGATE => WELL_KNOWN,
        tc::MULTI_EXIT_DISC | tc::ORIGINATOR_ID | tc::CLUSTER_LIST | tc::MP_REACH_NLRI | tc::MP_UNREACH_NLRI => {
            OPT_NON_TRANS
        }
        tc::AGGREGATOR
        | tc::COMMUNITIES
        | tc::EXTENDED_COMMUNITIES
        | tc::AS4_PATH
        | tc::AS4_AGGREGATOR
        | tc::LARGE_COMMUNITY
        | tc::OTC => OPT_TRANS,
        _ => return None,
    })
}

pub(super) fn canonical_flags(code: u8) -> Option<u8> {
    expected_flags(code)
}

fn decode_one(
    a: &mut PathAttributes,
    attr_flags: u8,
    code: u8,
    value: &[u8],
    ctx: &Context,
    mrt_rib: Option<Family>,
    spare: &mut Spare,
) -> Result<(), Bad> {
    // RFC 6793 §4.2.2 ("ignored" between NEW speakers): kept opaque so the
    // received message still re-encodes, but not interpreted.
    if ctx.four_octet_as && (code == tc::AS4_PATH || code == tc::AS4_AGGREGATOR) {
        push_raw(a, attr_flags, code, value);
        return Ok(());
    }
    let Some(expected) = expected_flags(code) else {
        if attr_flags & flags::OPTIONAL == 0 {
            // RFC 4271 §6.3 Unrecognized Well-known Attribute; see action_for:
            // treat-as-withdraw.
            return Err(bad(sub::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE, format!("unknown well-known attribute {code}")));
        }
        push_raw(a, attr_flags, code, value);
        return Ok(());
    };
    // RFC 7606 §3 c: an Optional/Transitive conflict makes the attribute
    // malformed, handled by its own §7 rule.
    if attr_flags & (flags::OPTIONAL | flags::TRANSITIVE) != expected {
        return Err(bad(sub::ATTRIBUTE_FLAGS_ERROR, format!("attribute {code} with flags {attr_flags:#04x}")));
    }
    match code {
        // RFC 7606 §7.1
        tc::ORIGIN => {
            let &[o] = value else { return Err(length_error("ORIGIN", value.len())) };
            a.origin = Some(match o {
                0 => Origin::Igp,
                1 => Origin::Egp,
                2 => Origin::Incomplete,
                _ => return Err(bad(sub::INVALID_ORIGIN_ATTRIBUTE, format!("ORIGIN value {o}"))),
            });
        }
        // RFC 7606 §7.2
        tc::AS_PATH => {
            let width = if ctx.four_octet_as { 4 } else { 2 };
            let path = decode_as_path_into(value, width, spare.as_path.take().unwrap_or_default());
            a.as_path = Some(path.map_err(|e| bad(sub::MALFORMED_AS_PATH, e))?);
        }
        // RFC 7606 §7.3
        tc::NEXT_HOP => a.next_hop = Some(Ipv4Addr::from(u32_value(value, "NEXT_HOP")?)),
        // RFC 7606 §7.4
        tc::MULTI_EXIT_DISC => a.med = Some(u32_value(value, "MULTI_EXIT_DISC")?),
        // RFC 7606 §7.5
        tc::LOCAL_PREF => a.local_pref = Some(u32_value(value, "LOCAL_PREF")?),
        // RFC 7606 §7.6
        tc::ATOMIC_AGGREGATE => {
            if !value.is_empty() {
                return Err(length_error("ATOMIC_AGGREGATE", value.len()));
            }
            a.atomic_aggregate = true;
        }
        // RFC 7606 §7.7: length 6 or 8 as the AS width negotiated.
        tc::AGGREGATOR => a.aggregator = Some(decode_aggregator(value, ctx.four_octet_as, "AGGREGATOR")?),
        // RFC 7606 §7.8
        tc::COMMUNITIES => {
            let mut list = spare.communities.take().unwrap_or_default();
            u32_list_into(value, "COMMUNITIES", &mut list)?;
            a.communities = Some(list);
        }
        // RFC 7606 §7.9
        tc::ORIGINATOR_ID => a.originator_id = Some(Ipv4Addr::from(u32_value(value, "ORIGINATOR_ID")?)),
        // RFC 7606 §7.10
        tc::CLUSTER_LIST => {
            a.cluster_list = Some(u32_list(value, "CLUSTER_LIST")?.into_iter().map(Ipv4Addr::from).collect())
        }
        // RFC 7606 §7.11
        tc::MP_REACH_NLRI => {
            // Written in place: MpReach is large and this is the RIB hot path.
            if let Err(e) = decode_mp_reach(value, ctx, mrt_rib, &mut a.mp_reach) {
                return Err(bad(sub::OPTIONAL_ATTRIBUTE_ERROR, e));
            }
        }
        tc::MP_UNREACH_NLRI => {
            a.mp_unreach = Some(decode_mp_unreach(value, ctx).map_err(|e| bad(sub::OPTIONAL_ATTRIBUTE_ERROR, e))?)
        }
        // RFC 7606 §7.14
        tc::EXTENDED_COMMUNITIES => {
            if value.is_empty() || !value.len().is_multiple_of(8) {
                return Err(length_error("EXTENDED_COMMUNITIES", value.len()));
            }
            a.extended_communities =
                Some(value.chunks_exact(8).map(|c| <[u8; 8]>::try_from(c).unwrap_or_default()).collect());
        }
        // RFC 6793 §6: a malformed AS4_PATH is discarded.
        tc::AS4_PATH => {
            a.as4_path = Some(decode_as_path(value, 4).map_err(|e| bad(sub::OPTIONAL_ATTRIBUTE_ERROR, e))?);
        }
        // RFC 6793 §6: length other than 8 is malformed, discarded.
        tc::AS4_AGGREGATOR => a.as4_aggregator = Some(decode_aggregator(value, true, "AS4_AGGREGATOR")?),
        // RFC 8092 §6: a non-zero multiple of 12, else treat-as-withdraw.
        tc::LARGE_COMMUNITY => {
            if value.is_empty() || !value.len().is_multiple_of(12) {
                return Err(length_error("LARGE_COMMUNITY", value.len()));
            }
            a.large_communities = Some(
                value
                    .chunks_exact(12)
                    .map(|c| LargeCommunity {
                        global_admin: be32(c, 0),
                        local_data1: be32(c, 4),
                        local_data2: be32(c, 8),
                    })
                    .collect(),
            );
        }
        // RFC 9234 §5: length other than 4 is malformed, treat-as-withdraw.
        tc::OTC => a.otc = Some(u32_value(value, "OTC")?),
        _ => push_raw(a, attr_flags, code, value),
    }
    if attr_flags & flags::PARTIAL != 0 && expected == flags::OPTIONAL | flags::TRANSITIVE {
        a.partial.insert(code);
    }
    Ok(())
}

/// Keeps `unknown` ordered by type code (the order they are encoded in), so
/// that a decoded value equals the decode of its encoding.
fn push_raw(a: &mut PathAttributes, attr_flags: u8, code: u8, value: &[u8]) {
    let raw = RawAttribute {
        flags: attr_flags & !flags::EXTENDED_LENGTH,
        type_code: code,
        value: Bytes::copy_from_slice(value),
    };
    match a.unknown.last() {
        Some(last) if last.type_code > code => {
            let at = a.unknown.partition_point(|r| r.type_code <= code);
            a.unknown.insert(at, raw);
        }
        _ => a.unknown.push(raw),
    }
}

/// Big-endian u32 at `off`; 0 past the end (callers check lengths first).
fn be32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4).and_then(|s| <[u8; 4]>::try_from(s).ok()).map_or(0, u32::from_be_bytes)
}

fn u32_value(value: &[u8], what: &str) -> Result<u32, Bad> {
    match <[u8; 4]>::try_from(value) {
        Ok(b) => Ok(u32::from_be_bytes(b)),
        Err(_) => Err(length_error(what, value.len())),
    }
}

fn u32_list_into(value: &[u8], what: &str, out: &mut Vec<u32>) -> Result<(), Bad> {
    if value.is_empty() || !value.len().is_multiple_of(4) {
        return Err(length_error(what, value.len()));
    }
    out.clear();
    out.extend(value.chunks_exact(4).map(|c| be32(c, 0)));
    Ok(())
}

fn u32_list(value: &[u8], what: &str) -> Result<Vec<u32>, Bad> {
    if value.is_empty() || !value.len().is_multiple_of(4) {
        return Err(length_error(what, value.len()));
    }
    Ok(value.chunks_exact(4).map(|c| be32(c, 0)).collect())
}

fn decode_aggregator(value: &[u8], four_octet: bool, what: &str) -> Result<Aggregator, Bad> {
    let (asn, addr) = match (four_octet, value.len()) {
        (true, 8) => (be32(value, 0), be32(value, 4)),
        (false, 6) => (u32::from(u16::from_be_bytes([value[0], value[1]])), be32(value, 2)),
        _ => return Err(length_error(what, value.len())),
    };
    Ok(Aggregator { asn, address: Ipv4Addr::from(addr) })
}

/// AS_PATH / AS4_PATH segments (RFC 4271 §4.3, RFC 5065 §3, RFC 6793 §3)
/// with `width`-octet AS numbers. Malformed per RFC 7606 §7.2: unknown
/// segment type, segment overrun, a lone trailing octet, zero-length segment.
pub(crate) fn decode_as_path(value: &[u8], width: usize) -> Result<AsPath, String> {
    decode_as_path_into(value, width, AsPath { segments: Vec::with_capacity(1) })
}

/// [`decode_as_path`] reusing the vectors of `path` (whose content is
/// replaced).
fn decode_as_path_into(value: &[u8], width: usize, mut path: AsPath) -> Result<AsPath, String> {
    let mut used = 0;
    let mut rest = value;
    while !rest.is_empty() {
        let Some((&[kind, count], tail)) = rest.split_first_chunk::<2>() else {
            return Err("AS path ends with a lone octet".into());
        };
        let kind = match kind {
            1 => SegmentType::AsSet,
            2 => SegmentType::AsSequence,
            3 => SegmentType::ConfedSequence,
            4 => SegmentType::ConfedSet,
            other => return Err(format!("unknown AS path segment type {other}")),
        };
        if count == 0 {
            return Err("AS path segment of length zero".into());
        }
        let len = usize::from(count) * width;
        let (Some(body), Some(tail)) = (tail.get(..len), tail.get(len..)) else {
            return Err(format!("AS path segment of {count} ASes overruns the attribute"));
        };
        rest = tail;
        let fill = |asns: &mut Vec<u32>| {
            if width == 4 {
                asns.extend(body.chunks_exact(4).map(|c| be32(c, 0)));
            } else {
                asns.extend(body.chunks_exact(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))));
            }
        };
        if let Some(segment) = path.segments.get_mut(used) {
            segment.kind = kind;
            segment.asns.clear();
            fill(&mut segment.asns);
        } else {
            let mut asns = Vec::with_capacity(body.len() / width);
            fill(&mut asns);
            path.segments.push(AsSegment { kind, asns });
        }
        used += 1;
    }
    path.segments.truncate(used);
    Ok(path)
}

fn afi_safi(value: &[u8]) -> Result<(Family, &[u8]), String> {
    let Some((&[a0, a1, s], rest)) = value.split_first_chunk::<3>() else {
        return Err(format!("multiprotocol attribute of {} octets lacks AFI/SAFI", value.len()));
    };
    Ok((Family::new(Afi(u16::from_be_bytes([a0, a1])), Safi(s)), rest))
}

fn empty_nlri(family: Family) -> MpNlri {
    if family.has_prefix_nlri() {
        MpNlri::Prefixes(Vec::new())
    } else {
        MpNlri::Opaque(Bytes::new())
    }
}

/// Next hop by length: the forms of RFC 4760 §3 / RFC 2545 §3.
fn next_hop_by_len(nh: &[u8]) -> MpNextHop {
    if let Ok(b) = <[u8; 4]>::try_from(nh) {
        MpNextHop::V4(Ipv4Addr::from(b))
    } else if let Ok(b) = <[u8; 16]>::try_from(nh) {
        MpNextHop::V6(Ipv6Addr::from(b))
    } else if let Some((g, l)) = nh.split_first_chunk::<16>().filter(|_| nh.len() == 32) {
        MpNextHop::V6LinkLocal {
            global: Ipv6Addr::from(*g),
            link_local: Ipv6Addr::from(<[u8; 16]>::try_from(l).unwrap_or_default()),
        }
    } else {
        MpNextHop::Other(Bytes::copy_from_slice(nh))
    }
}

fn decode_nlri(family: Family, buf: &[u8], ctx: &Context) -> Result<MpNlri, String> {
    if !family.has_prefix_nlri() {
        // Families this codec does not interpret are carried, not refused.
        return Ok(MpNlri::Opaque(Bytes::copy_from_slice(buf)));
    }
    let mut out = Vec::new();
    decode_prefixes_into(buf, family.afi, ctx.add_path(family), &mut out)?;
    Ok(MpNlri::Prefixes(out))
}

/// MP_REACH_NLRI (RFC 4760 §3):
/// ```text
///  AFI(2) | SAFI(1) | next-hop length(1) | next hop | reserved(1) | NLRI
/// ```
/// Any inconsistency is malformed (RFC 7606 §7.11): session reset.
fn decode_mp_reach(
    value: &[u8],
    ctx: &Context,
    mrt_rib: Option<Family>,
    slot: &mut Option<MpReach>,
) -> Result<(), String> {
    if let Some(family) = mrt_rib {
        // RFC 6396 §4.3.4: the abbreviated form keeps only the next-hop
        // length and next hop; the full form starts with an AFI whose high
        // octet is 0, so a first octet equal to the remaining length is the
        // abbreviated form.
        match value.split_first() {
            None => {
                *slot = Some(MpReach {
                    family,
                    next_hop: MpNextHop::Other(Bytes::new()),
                    reserved: 0,
                    nlri: empty_nlri(family),
                });
                return Ok(());
            }
            Some((&nh_len, nh)) if usize::from(nh_len) == nh.len() => {
                *slot = Some(MpReach { family, next_hop: next_hop_by_len(nh), reserved: 0, nlri: empty_nlri(family) });
                return Ok(());
            }
            Some(_) => {}
        }
    }
    let (family, rest) = afi_safi(value)?;
    let Some((&nh_len, rest)) = rest.split_first() else {
        return Err("MP_REACH_NLRI lacks the next-hop length".into());
    };
    let nh_len = usize::from(nh_len);
    let (Some(nh), Some(rest)) = (rest.get(..nh_len), rest.get(nh_len..)) else {
        return Err(format!("MP_REACH_NLRI next hop of {nh_len} octets overruns the attribute"));
    };
    let Some((&reserved, nlri)) = rest.split_first() else {
        return Err("MP_REACH_NLRI lacks the reserved octet".into());
    };
    if family.has_prefix_nlri() && mrt_rib.is_none() {
        // RFC 7606 §7.11 "that which was expected": 16 or 32 for IPv6
        // (RFC 2545 §3); 4 for IPv4, or 16/32 with RFC 8950 negotiated.
        let ok = match (family.afi, nh_len) {
            (Afi::IPV6, 16 | 32) | (Afi::IPV4, 4) => true,
            (Afi::IPV4, 16 | 32) => ctx.extended_next_hop.contains(&family),
            _ => false,
        };
        if !ok {
            return Err(format!("{family} next hop of unexpected length {nh_len}"));
        }
    }
    let nlri = if mrt_rib.is_some() {
        // RFC 6396 §4.3.4: in a RIB entry the prefix is the entry's, not the
        // attribute's; writers that keep the full form (RouteViews) repeat
        // it here. Not decoded (and not an error).
        empty_nlri(family)
    } else {
        decode_nlri(family, nlri, ctx)?
    };
    *slot = Some(MpReach { family, next_hop: next_hop_by_len(nh), reserved, nlri });
    Ok(())
}

/// MP_UNREACH_NLRI (RFC 4760 §4): `AFI(2) | SAFI(1) | withdrawn routes`.
fn decode_mp_unreach(value: &[u8], ctx: &Context) -> Result<MpUnreach, String> {
    let (family, withdrawn) = afi_safi(value)?;
    Ok(MpUnreach { family, withdrawn: decode_nlri(family, withdrawn, ctx)? })
}

/// RFC 7606 §3 d: the first well-known mandatory attribute missing from an
/// UPDATE that carries reachable NLRI (NEXT_HOP only with `ipv4_nlri`, NLRI
/// in the NLRI field, RFC 4760 §3). NOTIFICATION data: the type code
/// (RFC 4271 §6.3).
pub(crate) fn missing_mandatory(a: &PathAttributes, ipv4_nlri: bool) -> Option<DecodeError> {
    let missing = if a.origin.is_none() {
        tc::ORIGIN
    } else if a.as_path.is_none() {
        tc::AS_PATH
    } else if ipv4_nlri && a.next_hop.is_none() {
        tc::NEXT_HOP
    } else {
        return None;
    };
    Some(DecodeError::update(
        sub::MISSING_WELL_KNOWN_ATTRIBUTE,
        vec![missing],
        format!("missing well-known attribute {missing}"),
    ))
}

/// The MP_UNREACH_NLRI and MP_REACH_NLRI prefixes, for treat-as-withdraw.
pub(crate) fn mp_withdrawn(a: &PathAttributes, out: &mut Vec<(Family, Nlri)>) {
    if let Some(MpUnreach { family, withdrawn: MpNlri::Prefixes(p) }) = &a.mp_unreach {
        out.extend(p.iter().map(|n| (*family, *n)));
    }
    if let Some(MpReach { family, nlri: MpNlri::Prefixes(p), .. }) = &a.mp_reach {
        out.extend(p.iter().map(|n| (*family, *n)));
    }
}
