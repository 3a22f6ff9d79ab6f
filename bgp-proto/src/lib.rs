//! `bgp-proto`: the BGP-4 wire format, sans-IO.
//!
//! Messages (RFC 4271), capabilities (RFC 5492 and friends), path attributes
//! with RFC 7606 error classification, NLRI with ADD-PATH (RFC 7911), a
//! stream framer, and an MRT (RFC 6396) reader/writer. Decoders never panic:
//! every input gives a value or a classified error.

pub mod attribute;
pub mod capability;
pub mod context;
pub mod error;
pub mod framer;
pub mod message;
pub mod mrt;
pub mod nlri;
pub mod notification;
pub mod open;
pub mod route_refresh;
#[cfg(feature = "serde")]
pub mod serde_util;
pub mod types;
pub mod update;

pub use attribute::PathAttributes;
pub use capability::Capability;
pub use context::Context;
pub use error::{DecodeError, ErrorAction, UpdateError};
pub use framer::{Frame, Framer};
pub use message::{Message, MessageError};
pub use notification::Notification;
pub use open::Open;
pub use route_refresh::RouteRefresh;
pub use types::{Afi, Family, Nlri, Safi};
pub use update::Update;
