//! Path attribute encoding (RFC 4271 §4.3).

/// How [`super::PathAttributes::encode_with`] writes attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Passing the route on (RFC 4271 §5) rather than re-encoding it as
    /// received.
    pub pass_on: bool,
    /// Write MP_REACH_NLRI in the abbreviated MRT TABLE_DUMP_V2 form.
    pub mrt_rib: bool,
}
