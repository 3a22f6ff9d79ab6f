//! Packing many NLRI behind one attribute set into as few UPDATE messages as
//! the negotiated maximum size allows (RFC 4271 §4.3, RFC 4760, RFC 8654).

use bytes::{BufMut, BytesMut};

use super::{finish_message, put_header};
use crate::attribute::{flags, put_next_hop, type_code as tc, EncodeOptions, PathAttributes};
use crate::context::{Context, HEADER_LEN};
use crate::error::EncodeError;
use crate::nlri::{encode_run, encoded_len};
use crate::types::{Family, Nlri};

/// Builds UPDATE messages for one family and one attribute set.
///
/// The attribute block is encoded once, when the builder is made; each
/// message copies it and adds as many NLRI as fit under the session's
/// maximum message size. IPv4 unicast with a NEXT_HOP goes in the NLRI /
/// Withdrawn Routes fields; every other family (and IPv4 unicast with an
/// RFC 8950 IPv6 next hop) in MP_REACH_NLRI / MP_UNREACH_NLRI, which comes
/// first in the message (RFC 7606 §5.1). Path identifiers are written when
/// the context has ADD-PATH for the family.
///
/// ```
/// # use bgp_proto::{attribute::*, update::UpdateBuilder, Context, Family, Nlri};
/// # use bytes::BytesMut;
/// let attrs = PathAttributes {
///     origin: Some(Origin::Igp),
///     as_path: Some(AsPath::default()),
///     next_hop: Some("192.0.2.1".parse().unwrap()),
///     ..PathAttributes::default()
/// };
/// let ctx = Context::default();
/// let builder = UpdateBuilder::new(&ctx, Family::IPV4_UNICAST, &attrs, EncodeOptions::default()).unwrap();
/// let nlri: Vec<Nlri> = (0..2000u32).map(|i| Nlri::new(format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap())).collect();
/// let mut out = BytesMut::new();
/// let messages = builder.announce(&nlri, &mut out).unwrap();
/// assert_eq!(messages, 2);
/// ```
#[derive(Clone, Debug)]
pub struct UpdateBuilder {
    family: Family,
    add_path: bool,
    max_len: usize,
    /// The encoded attributes other than MP_REACH_NLRI / MP_UNREACH_NLRI;
    /// `None` for a builder of withdrawals only.
    attrs: Option<Vec<u8>>,
    /// MP_REACH_NLRI value before its NLRI (AFI, SAFI, next hop, reserved);
    /// `None` when announcing in the NLRI field.
    mp_reach_head: Option<Vec<u8>>,
}

impl UpdateBuilder {
    /// A builder announcing routes of `family` with `attributes`.
    ///
    /// For MP families the next hop is `attributes.mp_reach`'s (its family
    /// and NLRI are ignored) and NEXT_HOP is left out (RFC 4760 §3: such an
    /// UPDATE "SHOULD NOT carry the NEXT_HOP attribute"). `mp_unreach` is
    /// ignored. `opts` as for [`PathAttributes::encode_with`].
    pub fn new(
        ctx: &Context,
        family: Family,
        attributes: &PathAttributes,
        opts: EncodeOptions,
    ) -> Result<Self, EncodeError> {
        let nlri_field = family == Family::IPV4_UNICAST && attributes.next_hop.is_some();
        let mut rest = PathAttributes { mp_reach: None, mp_unreach: None, ..attributes.clone() };
        let mp_reach_head = if nlri_field {
            None
        } else {
            let Some(reach) = &attributes.mp_reach else {
                return Err(EncodeError::Invalid(format!("no next hop to announce {family} routes with")));
            };
            rest.next_hop = None;
            let mut head = BytesMut::with_capacity(40);
            head.put_u16(family.afi.0);
            head.put_u8(family.safi.0);
            put_next_hop(&reach.next_hop, &mut head)?;
            // Reserved (RFC 4760 §3).
            head.put_u8(0);
            Some(head.to_vec())
        };
        let mut attrs = BytesMut::new();
        rest.encode_with(ctx, opts, &mut attrs)?;
        Ok(UpdateBuilder {
            family,
            add_path: ctx.add_path(family),
            max_len: ctx.max_message_len(),
            attrs: Some(attrs.to_vec()),
            mp_reach_head,
        })
    }

    /// A builder of withdrawals of `family` only.
    pub fn withdrawals(ctx: &Context, family: Family) -> Self {
        UpdateBuilder {
            family,
            add_path: ctx.add_path(family),
            max_len: ctx.max_message_len(),
            attrs: None,
            mp_reach_head: None,
        }
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// Appends UPDATE messages announcing `nlri` to `out`, back to back,
    /// and returns how many. Nothing is appended for no NLRI. On error `out`
    /// is left as it was.
    pub fn announce(&self, nlri: &[Nlri], out: &mut BytesMut) -> Result<usize, EncodeError> {
        let Some(attrs) = &self.attrs else {
            return Err(EncodeError::Invalid("a withdrawals-only builder cannot announce".into()));
        };
        // MP_REACH_NLRI header counted with a 2-octet length.
        let mp = self.mp_reach_head.as_ref().map_or(0, |h| 4 + h.len());
        let fixed = HEADER_LEN + 4 + attrs.len() + mp;
        self.pack(nlri, fixed, out, |batch, nlri_len, out| {
            out.put_u16(0);
            let attrs_at = out.len();
            out.put_u16(0);
            if let Some(head) = &self.mp_reach_head {
                put_attr_header(out, tc::MP_REACH_NLRI, head.len() + nlri_len);
                out.put_slice(head);
                self.put_nlri(batch, out)?;
                out.put_slice(attrs);
                patch_u16(out, attrs_at);
            } else {
                out.put_slice(attrs);
                patch_u16(out, attrs_at);
                self.put_nlri(batch, out)?;
            }
            Ok(())
        })
    }

    /// Appends UPDATE messages withdrawing `nlri` to `out`, back to back,
    /// and returns how many: Withdrawn Routes for IPv4 unicast, otherwise
    /// MP_UNREACH_NLRI alone. On error `out` is left as it was.
    pub fn withdraw(&self, nlri: &[Nlri], out: &mut BytesMut) -> Result<usize, EncodeError> {
        let ipv4 = self.family == Family::IPV4_UNICAST;
        let fixed = HEADER_LEN + 4 + if ipv4 { 0 } else { 4 + 3 };
        self.pack(nlri, fixed, out, |batch, nlri_len, out| {
            if ipv4 {
                let at = out.len();
                out.put_u16(0);
                self.put_nlri(batch, out)?;
                patch_u16(out, at);
                out.put_u16(0);
            } else {
                out.put_u16(0);
                let attrs_at = out.len();
                out.put_u16(0);
                put_attr_header(out, tc::MP_UNREACH_NLRI, 3 + nlri_len);
                out.put_u16(self.family.afi.0);
                out.put_u8(self.family.safi.0);
                self.put_nlri(batch, out)?;
                patch_u16(out, attrs_at);
            }
            Ok(())
        })
    }

    fn put_nlri(&self, batch: &[Nlri], out: &mut BytesMut) -> Result<(), EncodeError> {
        encode_run(batch, self.family.afi, self.add_path, out)
    }

    /// Splits `nlri` into runs that fit next to `fixed` octets and writes a
    /// message for each with `body` (given the run and its encoded size).
    fn pack(
        &self,
        nlri: &[Nlri],
        fixed: usize,
        out: &mut BytesMut,
        mut body: impl FnMut(&[Nlri], usize, &mut BytesMut) -> Result<(), EncodeError>,
    ) -> Result<usize, EncodeError> {
        let start_all = out.len();
        let mut count = 0;
        let mut rest = nlri;
        while !rest.is_empty() {
            let mut size = fixed;
            let mut n = 0;
            for x in rest {
                let l = encoded_len(x, self.add_path);
                if size + l > self.max_len {
                    break;
                }
                size += l;
                n += 1;
            }
            if n == 0 {
                out.truncate(start_all);
                let len = size + rest.first().map_or(0, |x| encoded_len(x, self.add_path));
                return Err(EncodeError::TooLong { len, max: self.max_len });
            }
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            let start = out.len();
            out.reserve(size);
            put_header(out);
            let r = body(batch, size - fixed, out).and_then(|()| finish_message(out, start, self.max_len));
            if let Err(e) = r {
                out.truncate(start_all);
                return Err(e);
            }
            count += 1;
        }
        Ok(count)
    }
}

/// Header of an optional non-transitive MP attribute with the length form
/// its value needs.
fn put_attr_header(out: &mut BytesMut, code: u8, value_len: usize) {
    match u8::try_from(value_len) {
        Ok(l) => out.put_slice(&[flags::OPTIONAL, code, l]),
        Err(_) => {
            out.put_slice(&[flags::OPTIONAL | flags::EXTENDED_LENGTH, code]);
            out.put_u16(u16::try_from(value_len).unwrap_or(u16::MAX));
        }
    }
}

/// Writes the length of what follows the 2-octet field at `at` (bounded by
/// the message size checked in `finish_message`).
fn patch_u16(out: &mut BytesMut, at: usize) {
    let len = u16::try_from(out.len() - at - 2).unwrap_or(u16::MAX);
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
}
