//! UPDATE message (RFC 4271 §4.3) with RFC 7606 revised error handling.
//!
//! ```text
//!  withdrawn routes length(2) | withdrawn routes | total path attribute length(2)
//!  | path attributes | NLRI (to the end of the message)
//! ```

use crate::attribute::PathAttributes;
use crate::error::AttributeIssue;
use crate::types::Nlri;

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
