//! Serde helpers that keep JSON output readable (the `serde` feature):
//! byte blobs as hex strings, names as text.

/// `Bytes` as a lower-case hex string in human-readable formats, raw bytes otherwise.
pub mod hex {
    use bytes::Bytes;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Lower-case hex of `bytes`, two digits per octet.
    pub fn encode(bytes: &[u8]) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            s.push(char::from(DIGITS[usize::from(b >> 4)]));
            s.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
        s
    }

    /// Inverse of [`encode`]; `None` for odd length or a non-hex digit.
    pub fn decode(s: &str) -> Option<Vec<u8>> {
        let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
        let (pairs, rest) = (s.as_bytes().chunks_exact(2), s.len() % 2);
        if rest != 0 {
            return None;
        }
        pairs.map(|p| Some(digit(*p.first()?)? << 4 | digit(*p.get(1)?)?)).collect()
    }

    pub fn serialize<S: Serializer>(bytes: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&encode(bytes))
        } else {
            s.serialize_bytes(bytes)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            decode(&s).map(Bytes::from).ok_or_else(|| D::Error::custom("invalid hex string"))
        } else {
            Bytes::deserialize(d)
        }
    }
}

/// `Bytes` holding text (host names): a string in human-readable formats,
/// with invalid UTF-8 replaced by U+FFFD; raw bytes otherwise.
pub mod text {
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&String::from_utf8_lossy(bytes))
        } else {
            s.serialize_bytes(bytes)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        if d.is_human_readable() {
            Ok(Bytes::from(String::deserialize(d)?))
        } else {
            Bytes::deserialize(d)
        }
    }
}
