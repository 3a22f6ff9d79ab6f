//! Path attribute encoding (RFC 4271 §4.3) in canonical form: each
//! attribute with the flags its type prescribes, the Extended Length flag
//! only for values above 255 octets, MP_REACH_NLRI / MP_UNREACH_NLRI first
//! (RFC 7606 §5.1) and every other attribute in ascending type-code order.

use bytes::{BufMut, BytesMut};

use super::decode::canonical_flags;
use super::{
    flags, type_code as tc, Aggregator, AsPath, MpNextHop, MpNlri, MpReach, MpUnreach, PathAttributes, RawAttribute,
    SegmentType,
};
use crate::context::Context;
use crate::error::EncodeError;
use crate::nlri::encode_run;
use crate::types::{Family, AS_TRANS};

/// How [`PathAttributes::encode_with`] writes attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Passing the route on to another peer (RFC 4271 §5) rather than
    /// re-encoding it as received: unrecognised optional transitive
    /// attributes get the Partial bit, unrecognised optional non-transitive
    /// ones are left out, and AS4_PATH / AS4_AGGREGATOR kept opaque from a
    /// 4-octet-AS session are left out (RFC 6793 §4.2.2: a speaker builds
    /// its own for 2-octet peers).
    pub pass_on: bool,
    /// Write MP_REACH_NLRI in the abbreviated MRT TABLE_DUMP_V2 form of
    /// RFC 6396 §4.3.4: next-hop length and next hop only.
    pub mrt_rib: bool,
}

impl PathAttributes {
    /// Appends the attributes to `out` as received-form canonical encoding
    /// (see [`EncodeOptions`]); on error `out` is left as it was.
    pub fn encode(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.encode_with(ctx, EncodeOptions::default(), out)
    }

    /// Appends the attributes to `out` as `opts` says; on error `out` is
    /// left as it was.
    pub fn encode_with(&self, ctx: &Context, opts: EncodeOptions, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        let r = self.encode_all(ctx, opts, out);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn encode_all(&self, ctx: &Context, opts: EncodeOptions, out: &mut BytesMut) -> Result<(), EncodeError> {
        // RFC 7606 §5.1: MP_REACH_NLRI / MP_UNREACH_NLRI SHALL come first.
        if let Some(r) = &self.mp_reach {
            try_attr(out, flags::OPTIONAL, tc::MP_REACH_NLRI, |o| put_mp_reach(r, ctx, opts.mrt_rib, o))?;
        }
        if let Some(u) = &self.mp_unreach {
            try_attr(out, flags::OPTIONAL, tc::MP_UNREACH_NLRI, |o| put_mp_unreach(u, ctx, o))?;
        }
        let sorted;
        let raws: &[RawAttribute] = if self.unknown.windows(2).all(|w| w[0].type_code <= w[1].type_code) {
            &self.unknown
        } else {
            let mut v = self.unknown.clone();
            v.sort_by_key(|r| r.type_code);
            sorted = v;
            &sorted
        };
        let mut raws = raws.iter().peekable();
        let mut flush = |below: u16, out: &mut BytesMut| -> Result<(), EncodeError> {
            while let Some(r) = raws.next_if(|r| u16::from(r.type_code) < below) {
                put_raw(r, opts, out)?;
            }
            Ok(())
        };
        let known = |code: u8| -> u8 {
            let f = canonical_flags(code).unwrap_or(flags::OPTIONAL);
            if self.partial.contains(code) && f == flags::OPTIONAL | flags::TRANSITIVE {
                f | flags::PARTIAL
            } else {
                f
            }
        };
        let four = ctx.four_octet_as;

        flush(u16::from(tc::ORIGIN), out)?;
        if let Some(o) = self.origin {
            attr(out, known(tc::ORIGIN), tc::ORIGIN, |o2| o2.put_u8(o as u8))?;
        }
        flush(u16::from(tc::AS_PATH), out)?;
        if let Some(p) = &self.as_path {
            try_attr(out, known(tc::AS_PATH), tc::AS_PATH, |o| put_as_path(p, four, o))?;
        }
        flush(u16::from(tc::NEXT_HOP), out)?;
        if let Some(nh) = self.next_hop {
            attr(out, known(tc::NEXT_HOP), tc::NEXT_HOP, |o| o.put_slice(&nh.octets()))?;
        }
        flush(u16::from(tc::MULTI_EXIT_DISC), out)?;
        if let Some(v) = self.med {
            attr(out, known(tc::MULTI_EXIT_DISC), tc::MULTI_EXIT_DISC, |o| o.put_u32(v))?;
        }
        flush(u16::from(tc::LOCAL_PREF), out)?;
        if let Some(v) = self.local_pref {
            attr(out, known(tc::LOCAL_PREF), tc::LOCAL_PREF, |o| o.put_u32(v))?;
        }
        flush(u16::from(tc::ATOMIC_AGGREGATE), out)?;
        if self.atomic_aggregate {
            attr(out, known(tc::ATOMIC_AGGREGATE), tc::ATOMIC_AGGREGATE, |_| {})?;
        }
        flush(u16::from(tc::AGGREGATOR), out)?;
        if let Some(a) = &self.aggregator {
            attr(out, known(tc::AGGREGATOR), tc::AGGREGATOR, |o| put_aggregator(a, four, o))?;
        }
        flush(u16::from(tc::COMMUNITIES), out)?;
        if let Some(c) = self.communities.as_ref().filter(|c| !c.is_empty()) {
            attr(out, known(tc::COMMUNITIES), tc::COMMUNITIES, |o| {
                c.iter().for_each(|v| o.put_u32(*v));
            })?;
        }
        flush(u16::from(tc::ORIGINATOR_ID), out)?;
        if let Some(id) = self.originator_id {
            attr(out, known(tc::ORIGINATOR_ID), tc::ORIGINATOR_ID, |o| o.put_slice(&id.octets()))?;
        }
        flush(u16::from(tc::CLUSTER_LIST), out)?;
        if let Some(c) = self.cluster_list.as_ref().filter(|c| !c.is_empty()) {
            attr(out, known(tc::CLUSTER_LIST), tc::CLUSTER_LIST, |o| {
                c.iter().for_each(|v| o.put_slice(&v.octets()));
            })?;
        }
        flush(u16::from(tc::EXTENDED_COMMUNITIES), out)?;
        if let Some(c) = self.extended_communities.as_ref().filter(|c| !c.is_empty()) {
            attr(out, known(tc::EXTENDED_COMMUNITIES), tc::EXTENDED_COMMUNITIES, |o| {
                c.iter().for_each(|v| o.put_slice(v));
            })?;
        }
        flush(u16::from(tc::AS4_PATH), out)?;
        if let Some(p) = &self.as4_path {
            try_attr(out, known(tc::AS4_PATH), tc::AS4_PATH, |o| put_as_path(p, true, o))?;
        }
        flush(u16::from(tc::AS4_AGGREGATOR), out)?;
        if let Some(a) = &self.as4_aggregator {
            attr(out, known(tc::AS4_AGGREGATOR), tc::AS4_AGGREGATOR, |o| put_aggregator(a, true, o))?;
        }
        flush(u16::from(tc::LARGE_COMMUNITY), out)?;
        if let Some(c) = self.large_communities.as_ref().filter(|c| !c.is_empty()) {
            attr(out, known(tc::LARGE_COMMUNITY), tc::LARGE_COMMUNITY, |o| {
                for v in c {
                    o.put_u32(v.global_admin);
                    o.put_u32(v.local_data1);
                    o.put_u32(v.local_data2);
                }
            })?;
        }
        flush(u16::from(tc::OTC), out)?;
        if let Some(v) = self.otc {
            attr(out, known(tc::OTC), tc::OTC, |o| o.put_u32(v))?;
        }
        flush(256, out)
    }
}

/// Writes one attribute whose value cannot fail to encode.
pub(crate) fn attr(
    out: &mut BytesMut,
    attr_flags: u8,
    code: u8,
    value: impl FnOnce(&mut BytesMut),
) -> Result<(), EncodeError> {
    try_attr(out, attr_flags, code, |o| {
        value(o);
        Ok(())
    })
}

/// Writes one attribute: header, then `value`, then patches the length,
/// using the one-octet form (without Extended Length) when it fits.
pub(crate) fn try_attr(
    out: &mut BytesMut,
    attr_flags: u8,
    code: u8,
    value: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.put_slice(&[attr_flags | flags::EXTENDED_LENGTH, code, 0, 0]);
    value(out)?;
    let len = out.len() - start - 4;
    if len > 255 {
        let l = u16::try_from(len).map_err(|_| EncodeError::FieldTooLong { what: "path attribute", len })?;
        out[start + 2..start + 4].copy_from_slice(&l.to_be_bytes());
    } else {
        out[start] = attr_flags & !flags::EXTENDED_LENGTH;
        out[start + 2] = len as u8;
        out[start + 3..].copy_within(1.., 0);
        out.truncate(out.len() - 1);
    }
    Ok(())
}

fn put_raw(r: &RawAttribute, opts: EncodeOptions, out: &mut BytesMut) -> Result<(), EncodeError> {
    let mut f = r.flags & !flags::EXTENDED_LENGTH;
    if opts.pass_on {
        if r.type_code == tc::AS4_PATH || r.type_code == tc::AS4_AGGREGATOR {
            return Ok(());
        }
        // RFC 4271 §5: unrecognised optional non-transitive attributes are
        // not passed on; optional transitive ones are, with Partial set.
        match f & (flags::OPTIONAL | flags::TRANSITIVE) {
            flags::OPTIONAL => return Ok(()),
            x if x == flags::OPTIONAL | flags::TRANSITIVE => f |= flags::PARTIAL,
            _ => {}
        }
    }
    attr(out, f, r.type_code, |o| o.put_slice(&r.value))
}

/// AS_PATH / AS4_PATH segments; with 2-octet AS numbers a number above
/// 65535 is written as AS_TRANS (RFC 6793 §4.2.2). A sequence longer than
/// 255 ASes becomes several segments; an empty segment is left out.
fn put_as_path(p: &AsPath, four: bool, out: &mut BytesMut) -> Result<(), EncodeError> {
    for seg in &p.segments {
        let splittable = matches!(seg.kind, SegmentType::AsSequence | SegmentType::ConfedSequence);
        if seg.asns.len() > 255 && !splittable {
            return Err(EncodeError::FieldTooLong { what: "AS_SET segment", len: seg.asns.len() });
        }
        for chunk in seg.asns.chunks(255) {
            out.put_u8(seg.kind as u8);
            out.put_u8(chunk.len() as u8);
            for &asn in chunk {
                if four {
                    out.put_u32(asn);
                } else {
                    out.put_u16(u16::try_from(asn).unwrap_or(AS_TRANS as u16));
                }
            }
        }
    }
    Ok(())
}

fn put_aggregator(a: &Aggregator, four: bool, out: &mut BytesMut) {
    if four {
        out.put_u32(a.asn);
    } else {
        out.put_u16(u16::try_from(a.asn).unwrap_or(AS_TRANS as u16));
    }
    out.put_slice(&a.address.octets());
}

pub(crate) fn put_next_hop(nh: &MpNextHop, out: &mut BytesMut) -> Result<(), EncodeError> {
    let len = next_hop_len(nh);
    let len = u8::try_from(len).map_err(|_| EncodeError::FieldTooLong { what: "MP_REACH_NLRI next hop", len })?;
    out.put_u8(len);
    match nh {
        MpNextHop::V4(a) => out.put_slice(&a.octets()),
        MpNextHop::V6(a) => out.put_slice(&a.octets()),
        MpNextHop::V6LinkLocal { global, link_local } => {
            out.put_slice(&global.octets());
            out.put_slice(&link_local.octets());
        }
        MpNextHop::Other(b) => out.put_slice(b),
    }
    Ok(())
}

fn next_hop_len(nh: &MpNextHop) -> usize {
    match nh {
        MpNextHop::V4(_) => 4,
        MpNextHop::V6(_) => 16,
        MpNextHop::V6LinkLocal { .. } => 32,
        MpNextHop::Other(b) => b.len(),
    }
}

/// MP_REACH_NLRI (RFC 4760 §3), or its RFC 6396 §4.3.4 abbreviated form.
fn put_mp_reach(r: &MpReach, ctx: &Context, mrt_rib: bool, out: &mut BytesMut) -> Result<(), EncodeError> {
    if mrt_rib {
        return put_next_hop(&r.next_hop, out);
    }
    out.put_u16(r.family.afi.0);
    out.put_u8(r.family.safi.0);
    put_next_hop(&r.next_hop, out)?;
    out.put_u8(r.reserved);
    put_mp_nlri(r.family, &r.nlri, ctx, out)
}

/// MP_UNREACH_NLRI (RFC 4760 §4).
fn put_mp_unreach(u: &MpUnreach, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
    out.put_u16(u.family.afi.0);
    out.put_u8(u.family.safi.0);
    put_mp_nlri(u.family, &u.withdrawn, ctx, out)
}

fn put_mp_nlri(family: Family, nlri: &MpNlri, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
    match nlri {
        MpNlri::Opaque(b) => out.put_slice(b),
        MpNlri::Prefixes(p) => encode_run(p, family.afi, ctx.add_path(family), out)?,
    }
    Ok(())
}
