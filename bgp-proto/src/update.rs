//! UPDATE message (RFC 4271 §4.3) with RFC 7606 revised error handling.
//!
//! ```text
//!  withdrawn routes length(2) | withdrawn routes | total path attribute length(2)
//!  | path attributes | NLRI (to the end of the message)
//! ```
//!
//! Decisions where the RFCs leave room, each cited where it is made:
//! - Host bits set beyond a prefix length are masked, not an error: RFC 4271
//!   §4.3 says "the value of trailing bits is irrelevant", and RFC 7606 §5.3
//!   names only an over-long length and a field overrun as NLRI syntax
//!   errors. (Those two reset the session: §3 j, no treat-as-withdraw
//!   without parsed NLRI.)
//! - Attributes are written with MP_REACH_NLRI / MP_UNREACH_NLRI first (RFC
//!   7606 §5.1 "SHALL be encoded as the very first path attribute"), then in
//!   ascending type-code order; Extended Length only above 255 octets. A
//!   received message in that form re-encodes to its own bytes.
//! - AS4_PATH / AS4_AGGREGATOR received on a 4-octet-AS session are kept as
//!   opaque attributes (not merged; RFC 6793 §4.2.2), so they re-encode but
//!   never alter the path.
//! - A malformed MP_REACH_NLRI / MP_UNREACH_NLRI (including wrong flags)
//!   resets the session with Optional Attribute Error (RFC 7606 §7.11, RFC
//!   4760 §7), the attribute as data.

use bytes::{BufMut, BytesMut};

use crate::attribute::{self, MpNlri, MpUnreach, PathAttributes};
use crate::context::{Context, HEADER_LEN};
use crate::error::{update_subcode as sub, AttributeIssue, DecodeError, EncodeError, ErrorAction, UpdateError};
use crate::nlri::{decode_prefixes_into, encode_run};
use crate::types::{Afi, Family, Nlri};

mod builder;

pub use builder::UpdateBuilder;

/// BGP message type code of UPDATE (RFC 4271 §4.1).
const UPDATE_TYPE: u8 = 2;

/// A decoded UPDATE message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Update {
    /// IPv4 unicast withdrawn routes.
    pub withdrawn: Vec<Nlri>,
    pub attributes: PathAttributes,
    /// IPv4 unicast NLRI.
    pub nlri: Vec<Nlri>,
    /// Attributes dropped under RFC 7606 "attribute discard"; the update is
    /// otherwise valid. Empty for a clean message. Never encoded.
    pub discarded: Vec<AttributeIssue>,
}

/// Decodes an UPDATE body (the message after its 19-octet header).
///
/// Gives a usable [`Update`] (perhaps with `discarded` attributes), or the
/// RFC 7606 action: [`UpdateError::TreatAsWithdraw`] with every NLRI of the
/// message, or [`UpdateError::SessionReset`] with the NOTIFICATION.
pub fn decode_update(body: &[u8], ctx: &Context) -> Result<Update, UpdateError> {
    let reset = UpdateError::SessionReset;
    let (Some((&withdrawn_len, rest)), true) = (body.split_first_chunk::<2>(), body.len() >= 4) else {
        // RFC 4271 §6.1: an UPDATE shorter than 23 octets.
        return Err(reset(DecodeError::bad_length(msg_len(body), "UPDATE shorter than 23 octets")));
    };
    let withdrawn_len = usize::from(u16::from_be_bytes(withdrawn_len));
    // RFC 4271 §6.3, unchanged by RFC 7606 §3 b: Withdrawn Routes Length or
    // Total Attribute Length too large is a session reset with Malformed
    // Attribute List.
    let too_large = || {
        reset(DecodeError::update(
            sub::MALFORMED_ATTRIBUTE_LIST,
            Vec::new(),
            "withdrawn routes or path attribute length exceeds the message",
        ))
    };
    let (Some(withdrawn_field), Some(rest)) = (rest.get(..withdrawn_len), rest.get(withdrawn_len..)) else {
        return Err(too_large());
    };
    let Some((&attr_len, rest)) = rest.split_first_chunk::<2>() else {
        return Err(too_large());
    };
    let attr_len = usize::from(u16::from_be_bytes(attr_len));
    let (Some(attr_field), Some(nlri_field)) = (rest.get(..attr_len), rest.get(attr_len..)) else {
        return Err(too_large());
    };

    // RFC 7606 §5.3, §3 i (Withdrawn Routes checked like NLRI): a
    // syntactically incorrect field makes treat-as-withdraw impossible (§3 j):
    // session reset, Invalid Network Field (RFC 4271 §6.3).
    let add_path = ctx.add_path(Family::IPV4_UNICAST);
    let invalid_network = |detail: String| reset(DecodeError::update(sub::INVALID_NETWORK_FIELD, Vec::new(), detail));
    let mut withdrawn = Vec::new();
    decode_prefixes_into(withdrawn_field, Afi::IPV4, add_path, &mut withdrawn)
        .map_err(|e| invalid_network(format!("withdrawn routes: {e}")))?;
    let mut nlri = Vec::new();
    decode_prefixes_into(nlri_field, Afi::IPV4, add_path, &mut nlri)
        .map_err(|e| invalid_network(format!("NLRI: {e}")))?;

    let mut attributes = PathAttributes::default();
    let mut d = attribute::decode_attributes(attr_field, ctx, None, &mut attributes).map_err(reset)?;

    // RFC 7606 §3 d: missing well-known mandatory attributes, only when the
    // UPDATE carries reachable NLRI; NEXT_HOP only for NLRI in the NLRI field
    // (RFC 4760 §3).
    if d.withdraw.is_none() && (!nlri.is_empty() || attributes.mp_reach.is_some()) {
        d.withdraw = attribute::missing_mandatory(&attributes, !nlri.is_empty());
    }
    if let Some(error) = d.withdraw {
        // RFC 7606 §5.2: with attributes other than MP_UNREACH_NLRI but no
        // reachable NLRI, the NLRI may not have been parsed correctly: an
        // error stronger than attribute discard resets the session.
        if nlri.is_empty() && attributes.mp_reach.is_none() && d.other_than_unreach {
            return Err(reset(error));
        }
        let mut all = Vec::with_capacity(withdrawn.len() + nlri.len());
        all.extend(withdrawn.iter().chain(&nlri).map(|n| (Family::IPV4_UNICAST, *n)));
        attribute::mp_withdrawn(&attributes, &mut all);
        return Err(UpdateError::TreatAsWithdraw { withdrawn: all, error });
    }
    debug_assert!(d.issues.iter().all(|i| i.action == ErrorAction::AttributeDiscard));
    Ok(Update { withdrawn, attributes, nlri, discarded: d.issues })
}

/// Marker, a length to patch, type UPDATE.
pub(crate) fn put_header(out: &mut BytesMut) {
    out.put_slice(&[0xff; 16]);
    out.put_u16(0);
    out.put_u8(UPDATE_TYPE);
}

/// Writes the length of what follows the 2-octet field at `at`.
fn patch_len(out: &mut BytesMut, at: usize, what: &'static str) -> Result<(), EncodeError> {
    let len = out.len() - at - 2;
    let l = u16::try_from(len).map_err(|_| EncodeError::FieldTooLong { what, len })?;
    out[at..at + 2].copy_from_slice(&l.to_be_bytes());
    Ok(())
}

/// Checks the size of the message that starts at `start` and writes it in
/// its header (RFC 4271 §4.1).
pub(crate) fn finish_message(out: &mut BytesMut, start: usize, max: usize) -> Result<(), EncodeError> {
    let len = out.len() - start;
    if len > max {
        return Err(EncodeError::TooLong { len, max });
    }
    let l = u16::try_from(len).map_err(|_| EncodeError::TooLong { len, max })?;
    out[start + 16..start + 18].copy_from_slice(&l.to_be_bytes());
    Ok(())
}

fn msg_len(body: &[u8]) -> u16 {
    u16::try_from(body.len() + HEADER_LEN).unwrap_or(u16::MAX)
}

impl Update {
    /// Appends the whole message, header included, to `out` (RFC 4271 §4.3),
    /// with the attributes in the canonical form of
    /// [`PathAttributes::encode`]. `discarded` is not encoded. Path
    /// identifiers are written as `ctx` says for each family (a missing one
    /// as 0). Fails, leaving `out` as it was, when the message would exceed
    /// `ctx.max_message_len()` or a prefix is not IPv4.
    pub fn encode(&self, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        let r = self.encode_message(ctx, out, start);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn encode_message(&self, ctx: &Context, out: &mut BytesMut, start: usize) -> Result<(), EncodeError> {
        put_header(out);
        let add_path = ctx.add_path(Family::IPV4_UNICAST);
        let withdrawn_at = out.len();
        out.put_u16(0);
        encode_run(&self.withdrawn, Afi::IPV4, add_path, out)?;
        patch_len(out, withdrawn_at, "withdrawn routes")?;
        let attrs_at = out.len();
        out.put_u16(0);
        self.attributes.encode(ctx, out)?;
        patch_len(out, attrs_at, "path attributes")?;
        encode_run(&self.nlri, Afi::IPV4, add_path, out)?;
        finish_message(out, start, ctx.max_message_len())
    }

    /// The End-of-RIB marker of `family` (RFC 4724 §2): an empty UPDATE for
    /// IPv4 unicast, otherwise an UPDATE with only an empty MP_UNREACH_NLRI.
    pub fn end_of_rib(family: Family) -> Update {
        if family == Family::IPV4_UNICAST {
            return Update::default();
        }
        let withdrawn =
            if family.has_prefix_nlri() { MpNlri::Prefixes(Vec::new()) } else { MpNlri::Opaque(bytes::Bytes::new()) };
        Update {
            attributes: PathAttributes {
                mp_unreach: Some(MpUnreach { family, withdrawn }),
                ..PathAttributes::default()
            },
            ..Update::default()
        }
    }

    /// The family whose End-of-RIB this UPDATE is (RFC 4724 §2), if it is one.
    pub fn is_end_of_rib(&self) -> Option<Family> {
        if !self.withdrawn.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        let a = &self.attributes;
        let Some(unreach) = &a.mp_unreach else {
            return only_mp_unreach(a).then_some(Family::IPV4_UNICAST);
        };
        let empty = match &unreach.withdrawn {
            MpNlri::Prefixes(p) => p.is_empty(),
            MpNlri::Opaque(b) => b.is_empty(),
        };
        (empty && only_mp_unreach(a)).then_some(unreach.family)
    }
}

/// Whether `a` holds nothing but (perhaps) MP_UNREACH_NLRI.
fn only_mp_unreach(a: &PathAttributes) -> bool {
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
        mp_unreach: _,
        extended_communities,
        as4_path,
        as4_aggregator,
        large_communities,
        otc,
        unknown,
        partial: _,
    } = a;
    origin.is_none()
        && as_path.is_none()
        && next_hop.is_none()
        && med.is_none()
        && local_pref.is_none()
        && !atomic_aggregate
        && aggregator.is_none()
        && communities.is_none()
        && originator_id.is_none()
        && cluster_list.is_none()
        && mp_reach.is_none()
        && extended_communities.is_none()
        && as4_path.is_none()
        && as4_aggregator.is_none()
        && large_communities.is_none()
        && otc.is_none()
        && unknown.is_empty()
}
