//! NOTIFICATION message (RFC 4271 §4.5), with the Cease data formats of
//! RFC 8203/9003 (shutdown communication) and RFC 8538 (hard reset).

use bytes::Bytes;

/// NOTIFICATION message. `data` is kept as received; helpers interpret it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Bytes,
}
