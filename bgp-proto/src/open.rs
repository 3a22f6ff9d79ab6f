//! OPEN message (RFC 4271 §4.2) with RFC 9072 extended optional parameters.
//!
//! ```text
//!  version(1) | my AS(2) | hold time(2) | BGP identifier(4) | opt param len(1) | opt params
//!  RFC 9072: opt param len = 255, then type 255, then a 2-octet length; each
//!  parameter then has a 2-octet length.
//! ```

use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::capability::Capability;
use crate::context::{HEADER_LEN, MAX_MESSAGE_LEN};
use crate::error::{open_subcode, DecodeError, EncodeError};
use crate::message::{finish_message, message_type, put_header};
use crate::types::{RouterId, AS_TRANS};

/// Optional parameter type of the Capabilities parameter (RFC 5492 §4).
pub const PARAM_CAPABILITIES: u8 = 2;

/// An optional parameter of an OPEN.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum OptionalParameter {
    /// One Capabilities parameter may carry several capabilities.
    Capabilities(Vec<Capability>),
    /// Any other parameter type (e.g. 1, deprecated authentication), kept as bytes.
    Unknown {
        param_type: u8,
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_util::hex"))]
        value: Bytes,
    },
}

/// OPEN message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Open {
    pub version: u8,
    /// The 2-octet My Autonomous System field (AS_TRANS for 4-octet ASNs).
    pub my_as: u16,
    pub hold_time: u16,
    pub bgp_id: RouterId,
    pub parameters: Vec<OptionalParameter>,
    /// Whether the parameters were (or are to be) written in the RFC 9072 extended form.
    pub extended_parameters: bool,
}

/// The only BGP version this codec speaks (RFC 4271 §4.2).
pub const BGP_VERSION: u8 = 4;

/// Octets of the fixed OPEN fields after the header: version(1) | my AS(2) |
/// hold time(2) | BGP identifier(4) | optional parameters length(1).
const FIXED_LEN: usize = 10;

/// RFC 9072 §2: the Non-Ext OP Type value announcing the extended encoding.
const EXTENDED_PARAMS_TYPE: u8 = 255;

/// OPEN Message Error / Unspecific (subcode 0): RFC 4271 §6.2 prescribes it
/// when a recognized optional parameter is malformed. A parameter (or the
/// parameter list) whose length overruns the message is such a case.
fn malformed_params(detail: impl Into<String>) -> DecodeError {
    DecodeError::open(0, Vec::new(), detail)
}

impl Open {
    /// An OPEN for `asn` with the given capabilities in one Capabilities
    /// parameter. `my_as` is AS_TRANS when `asn` does not fit two octets
    /// (RFC 6793 §4.1); the caller includes the 4-octet AS capability.
    pub fn new(asn: u32, hold_time: u16, bgp_id: RouterId, capabilities: Vec<Capability>) -> Open {
        let my_as = u16::try_from(asn).unwrap_or(AS_TRANS as u16);
        let parameters =
            if capabilities.is_empty() { Vec::new() } else { vec![OptionalParameter::Capabilities(capabilities)] };
        Open { version: BGP_VERSION, my_as, hold_time, bgp_id, parameters, extended_parameters: false }
    }

    /// Every capability of every Capabilities parameter, in order (RFC 5492 §4).
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> + '_ {
        self.parameters.iter().flat_map(|p| match p {
            OptionalParameter::Capabilities(caps) => caps.as_slice(),
            OptionalParameter::Unknown { .. } => &[],
        })
    }

    /// The sender's AS: the 4-octet AS capability when present (RFC 6793
    /// §4.1), otherwise the My Autonomous System field.
    pub fn asn(&self) -> u32 {
        self.capabilities()
            .find_map(|c| match c {
                Capability::FourOctetAs(asn) => Some(*asn),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    /// Decodes an OPEN body (the message after its 19-octet header).
    ///
    /// Pure syntax: the fields are kept as received, unknown optional
    /// parameters as [`OptionalParameter::Unknown`] and capabilities as
    /// [`Capability::decode`] gives them; [`Open::validate`] applies the
    /// RFC 4271 §6.2 semantic checks. Errors:
    /// - shorter than 29 octets: Message Header Error / Bad Message Length
    ///   (RFC 4271 §6.1), data = the length;
    /// - optional parameters whose lengths disagree with the message:
    ///   OPEN Message Error / Unspecific (RFC 4271 §6.2, "malformed"), unless
    ///   the version is not 4, in which case the rest of the message need not
    ///   have this layout and the answer is Unsupported Version Number.
    pub fn decode(body: &[u8]) -> Result<Open, DecodeError> {
        let Some((fixed, rest)) = body.split_first_chunk::<FIXED_LEN>() else {
            let len = u16::try_from(body.len() + HEADER_LEN).unwrap_or(u16::MAX);
            return Err(DecodeError::bad_length(len, "OPEN shorter than 29 octets"));
        };
        let [version, a0, a1, h0, h1, i0, i1, i2, i3, opt_len] = *fixed;
        let (parameters, extended_parameters) = match decode_parameters(opt_len, rest) {
            Ok(p) => p,
            Err(_) if version != BGP_VERSION => return Err(unsupported_version(version)),
            Err(e) => return Err(e),
        };
        Ok(Open {
            version,
            my_as: u16::from_be_bytes([a0, a1]),
            hold_time: u16::from_be_bytes([h0, h1]),
            bgp_id: Ipv4Addr::new(i0, i1, i2, i3),
            parameters,
            extended_parameters,
        })
    }

    /// The semantic checks of RFC 4271 §6.2 that need no configuration, in
    /// the RFC's order: version 4 (else Unsupported Version Number with data
    /// = 2-octet largest supported version, 4), hold time 0 or at least 3
    /// (else Unacceptable Hold Time), BGP identifier not 0 (RFC 6286 §2;
    /// else Bad BGP Identifier), every optional parameter known (else
    /// Unsupported Optional Parameter). Peer AS and hold-time policy are the
    /// session's business.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.version != BGP_VERSION {
            return Err(unsupported_version(self.version));
        }
        if matches!(self.hold_time, 1 | 2) {
            return Err(DecodeError::open(
                open_subcode::UNACCEPTABLE_HOLD_TIME,
                Vec::new(),
                format!("hold time of {} s (must be 0 or at least 3)", self.hold_time),
            ));
        }
        if self.bgp_id.is_unspecified() {
            return Err(DecodeError::open(open_subcode::BAD_BGP_IDENTIFIER, Vec::new(), "BGP identifier is 0"));
        }
        if let Some(OptionalParameter::Unknown { param_type, .. }) =
            self.parameters.iter().find(|p| matches!(p, OptionalParameter::Unknown { .. }))
        {
            return Err(DecodeError::open(
                open_subcode::UNSUPPORTED_OPTIONAL_PARAMETER,
                Vec::new(),
                format!("unsupported optional parameter type {param_type}"),
            ));
        }
        Ok(())
    }

    /// Appends the whole OPEN, header included (RFC 4271 §4.2). The
    /// optional parameters are written in the RFC 9072 extended form when
    /// `extended_parameters` is set, they do not fit the one-octet lengths,
    /// or the first one has type 255. An OPEN is never larger than 4,096 octets: RFC 8654
    /// excludes OPEN from extended messages. On error `out` is unchanged.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        let r = self.encode_message(out, start);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    fn encode_message(&self, out: &mut BytesMut, start: usize) -> Result<(), EncodeError> {
        let mut values = Vec::with_capacity(self.parameters.len());
        for p in &self.parameters {
            let mut v = BytesMut::new();
            let param_type = match p {
                OptionalParameter::Capabilities(caps) => {
                    for c in caps {
                        c.encode(&mut v)?;
                    }
                    PARAM_CAPABILITIES
                }
                OptionalParameter::Unknown { param_type, value } => {
                    v.extend_from_slice(value);
                    *param_type
                }
            };
            values.push((param_type, v));
        }
        let short_len: usize = values.iter().map(|(_, v)| 2 + v.len()).sum();
        // A first parameter of type 255 in the RFC 4271 form would read as
        // the RFC 9072 marker: such a list needs the extended form too.
        let extended = self.extended_parameters
            || short_len > usize::from(u8::MAX)
            || values.iter().any(|(_, v)| v.len() > usize::from(u8::MAX))
            || values.first().is_some_and(|(t, _)| *t == EXTENDED_PARAMS_TYPE);

        put_header(out, message_type::OPEN);
        out.put_u8(self.version);
        out.put_u16(self.my_as);
        out.put_u16(self.hold_time);
        out.put_slice(&self.bgp_id.octets());
        if extended {
            // RFC 9072 §2: Non-Ext OP Len = 255, Non-Ext OP Type = 255,
            // Extended Opt. Parm. Length(2), then type(1) | length(2) | value.
            out.put_u8(u8::MAX);
            out.put_u8(EXTENDED_PARAMS_TYPE);
            let total: usize = values.iter().map(|(_, v)| 3 + v.len()).sum();
            out.put_u16(
                u16::try_from(total)
                    .map_err(|_| EncodeError::FieldTooLong { what: "optional parameters", len: total })?,
            );
            for (t, v) in &values {
                out.put_u8(*t);
                out.put_u16(
                    u16::try_from(v.len())
                        .map_err(|_| EncodeError::FieldTooLong { what: "optional parameter", len: v.len() })?,
                );
                out.put_slice(v);
            }
        } else {
            out.put_u8(
                u8::try_from(short_len)
                    .map_err(|_| EncodeError::FieldTooLong { what: "optional parameters", len: short_len })?,
            );
            for (t, v) in &values {
                out.put_u8(*t);
                out.put_u8(
                    u8::try_from(v.len())
                        .map_err(|_| EncodeError::FieldTooLong { what: "optional parameter", len: v.len() })?,
                );
                out.put_slice(v);
            }
        }
        finish_message(out, start, MAX_MESSAGE_LEN)
    }
}

/// RFC 4271 §6.2: Unsupported Version Number; the data is the largest
/// locally supported version below the one bid, as 2 octets: always 4.
fn unsupported_version(version: u8) -> DecodeError {
    DecodeError::open(
        open_subcode::UNSUPPORTED_VERSION,
        u16::from(BGP_VERSION).to_be_bytes().to_vec(),
        format!("unsupported BGP version {version}"),
    )
}

/// The optional parameters after the fixed fields, in either the RFC 4271
/// or the RFC 9072 encoding; also tells which one was used.
fn decode_parameters(opt_len: u8, rest: &[u8]) -> Result<(Vec<OptionalParameter>, bool), DecodeError> {
    // RFC 9072 §2: a non-zero Non-Ext OP Len followed by Non-Ext OP Type 255
    // announces the extended encoding; the Non-Ext OP Len value is then not
    // used (it should be 255).
    if opt_len != 0 && rest.first() == Some(&EXTENDED_PARAMS_TYPE) {
        let Some((&[_, l0, l1], params)) = rest.split_first_chunk::<3>() else {
            return Err(malformed_params("truncated RFC 9072 extended optional parameters length"));
        };
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        if params.len() != len {
            return Err(malformed_params(format!(
                "extended optional parameters length {len} but {} octets follow",
                params.len()
            )));
        }
        return Ok((decode_parameter_list::<2>(params)?, true));
    }
    if rest.len() != usize::from(opt_len) {
        return Err(malformed_params(format!("optional parameters length {opt_len} but {} octets follow", rest.len())));
    }
    Ok((decode_parameter_list::<1>(rest)?, false))
}

/// type(1) | length(`L` octets) | value, repeated to the end of `buf`.
fn decode_parameter_list<const L: usize>(mut buf: &[u8]) -> Result<Vec<OptionalParameter>, DecodeError> {
    let mut params = Vec::new();
    while let Some((&param_type, rest)) = buf.split_first() {
        let Some((len, rest)) = rest.split_first_chunk::<L>() else {
            return Err(malformed_params("truncated optional parameter header"));
        };
        let len = len.iter().fold(0usize, |acc, b| acc << 8 | usize::from(*b));
        let (Some(value), Some(rest)) = (rest.get(..len), rest.get(len..)) else {
            return Err(malformed_params(format!(
                "optional parameter {param_type} of length {len} overruns the message"
            )));
        };
        params.push(match param_type {
            PARAM_CAPABILITIES => OptionalParameter::Capabilities(Capability::decode_list(value)?),
            _ => OptionalParameter::Unknown { param_type, value: Bytes::copy_from_slice(value) },
        });
        buf = rest;
    }
    Ok(params)
}
