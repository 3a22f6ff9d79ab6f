//! OPEN message (RFC 4271 §4.2) with RFC 9072 extended optional parameters.
//!
//! ```text
//!  version(1) | my AS(2) | hold time(2) | BGP identifier(4) | opt param len(1) | opt params
//!  RFC 9072: opt param len = 255, then type 255, then a 2-octet length; each
//!  parameter then has a 2-octet length.
//! ```

use bytes::Bytes;

use crate::capability::Capability;
use crate::types::RouterId;

/// Optional parameter type of the Capabilities parameter (RFC 5492 §4).
pub const PARAM_CAPABILITIES: u8 = 2;

/// An optional parameter of an OPEN.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum OptionalParameter {
    /// One Capabilities parameter may carry several capabilities.
    Capabilities(Vec<Capability>),
    /// Any other parameter type (e.g. 1, deprecated authentication), kept as bytes.
    Unknown { param_type: u8, value: Bytes },
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
