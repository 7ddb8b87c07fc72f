//! Strict Recursive Length Prefix (Ethereum Yellow Paper, appendix B).
//!
//! Decoding accepts exactly the canonical encoding: a single byte below 0x80
//! must be itself, the long form is only for lengths of 56 and more, lengths
//! have no leading zero byte, integers have no leading zero byte, and an
//! input holds one item with nothing after it. Anything else has two
//! encodings of the same value, which a verifier must not accept (a hash
//! over one would not be the hash over the other).
//!
//! [`Item`] is the generic tree used by the RLP test vectors; the header and
//! receipt codecs use the same reader through a typed field reader.

use crate::Error;

/// Lists nested deeper than this are refused: a hostile input of a few
/// kilobytes of list headers would otherwise exhaust the stack. Consensus
/// objects nest at most four deep.
pub const MAX_DEPTH: usize = 256;

/// A decoded RLP item: a byte string or a list of items.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Item {
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Item>),
}

impl Item {
    /// Decodes the one item `input` holds, refusing non-canonical encodings
    /// and trailing bytes.
    pub fn decode(input: &[u8]) -> Result<Self, Error> {
        let raw = read_exact(input)?;
        Self::from_raw(raw, 0)
    }

    fn from_raw(raw: Raw<'_>, depth: usize) -> Result<Self, Error> {
        if !raw.list {
            return Ok(Self::Bytes(raw.payload.to_vec()));
        }
        if depth >= MAX_DEPTH {
            return Err(Error::RlpTooDeep { limit: MAX_DEPTH });
        }
        let mut items = Vec::new();
        let mut fields = Fields::new(raw);
        while let Some(child) = fields.next_raw()? {
            items.push(Self::from_raw(child, depth + 1)?);
        }
        Ok(Self::List(items))
    }

    /// Appends the canonical encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Bytes(b) => put_bytes(out, b),
            Self::List(items) => {
                let payload: usize = items.iter().map(Self::encoded_len).sum();
                put_header(out, true, payload);
                for item in items {
                    item.encode(out);
                }
            }
        }
    }

    /// The canonical encoding.
    pub fn encoded(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// Length of the canonical encoding.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Bytes(b) => bytes_len(b),
            Self::List(items) => {
                let payload: usize = items.iter().map(Self::encoded_len).sum();
                header_len(payload) + payload
            }
        }
    }
}

/// One item located in an input, not yet interpreted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Raw<'a> {
    /// Whether the item is a list.
    pub(crate) list: bool,
    /// The payload (for a single byte below 0x80, that byte).
    pub(crate) payload: &'a [u8],
    /// Absolute offset of the payload, for error reports.
    pub(crate) payload_offset: usize,
    /// Absolute offset of the item.
    pub(crate) offset: usize,
    /// Length of the whole item, header included.
    pub(crate) len: usize,
}

impl Raw<'_> {
    fn kind(&self) -> &'static str {
        if self.list { "list" } else { "string" }
    }
}

/// Reads the item at the start of `input`, whose first byte is at absolute
/// offset `base`. Bytes after the item are left alone.
pub(crate) fn read_item(input: &[u8], base: usize) -> Result<Raw<'_>, Error> {
    let Some(&first) = input.first() else {
        return Err(Error::RlpTruncated {
            offset: base,
            needed: 1,
            available: 0,
        });
    };
    let (list, header, payload_len) = match first {
        0x00..=0x7f => {
            return Ok(Raw {
                list: false,
                payload: &input[..1],
                payload_offset: base,
                offset: base,
                len: 1,
            });
        }
        0x80..=0xb7 => (false, 1, usize::from(first - 0x80)),
        0xc0..=0xf7 => (true, 1, usize::from(first - 0xc0)),
        0xb8..=0xbf | 0xf8..=0xff => {
            let list = first >= 0xf8;
            let len_of_len = usize::from(first - if list { 0xf7 } else { 0xb7 });
            let Some(len_bytes) = input.get(1..1 + len_of_len) else {
                return Err(Error::RlpTruncated {
                    offset: base,
                    needed: 1 + len_of_len,
                    available: input.len(),
                });
            };
            if len_bytes[0] == 0 {
                return Err(Error::RlpNonCanonical {
                    offset: base + 1,
                    what: "leading zero byte in a length",
                });
            }
            // At most 8 length bytes: fits a u64 by construction.
            let len = len_bytes
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            if len < 56 {
                return Err(Error::RlpNonCanonical {
                    offset: base,
                    what: "long form for a length below 56",
                });
            }
            // A length past usize cannot be present in memory: truncated.
            (
                list,
                1 + len_of_len,
                usize::try_from(len).unwrap_or(usize::MAX),
            )
        }
    };
    let total = header.saturating_add(payload_len);
    if input.len() < total {
        return Err(Error::RlpTruncated {
            offset: base,
            needed: total,
            available: input.len(),
        });
    }
    let payload = &input[header..total];
    if !list && payload_len == 1 && payload[0] < 0x80 {
        return Err(Error::RlpNonCanonical {
            offset: base,
            what: "single byte below 0x80 encoded as a string",
        });
    }
    Ok(Raw {
        list,
        payload,
        payload_offset: base + header,
        offset: base,
        len: total,
    })
}

/// Reads the one item `input` holds, refusing trailing bytes.
pub(crate) fn read_exact(input: &[u8]) -> Result<Raw<'_>, Error> {
    let raw = read_item(input, 0)?;
    if raw.len != input.len() {
        return Err(Error::RlpTrailingBytes {
            expected: raw.len,
            got: input.len(),
        });
    }
    Ok(raw)
}

/// A cursor over the items of a list payload, with typed readers for
/// consensus fields.
#[derive(Debug, Clone)]
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> Fields<'a> {
    /// The items of `raw`'s payload (the caller checked that it is a list).
    pub(crate) fn new(raw: Raw<'a>) -> Self {
        Self {
            rest: raw.payload,
            offset: raw.payload_offset,
        }
    }

    /// The items of the list `raw`, refusing a string.
    pub(crate) fn of_list(raw: Raw<'a>, field: &'static str) -> Result<Self, Error> {
        if !raw.list {
            return Err(Error::RlpUnexpectedKind {
                field,
                offset: raw.offset,
                expected: "list",
                got: raw.kind(),
            });
        }
        Ok(Self::new(raw))
    }

    /// Whether every item has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Refuses items left after the last expected field.
    pub(crate) fn finish(&self, field: &'static str) -> Result<(), Error> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::RlpUnexpectedKind {
                field,
                offset: self.offset,
                expected: "end of list",
                got: "item",
            })
        }
    }

    /// Number of items left, reading (and so validating) each of them.
    pub(crate) fn count(&self) -> Result<usize, Error> {
        let mut probe = self.clone();
        let mut n = 0;
        while probe.next_raw()?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    /// The next item, or `None` at the end of the payload.
    pub(crate) fn next_raw(&mut self) -> Result<Option<Raw<'a>>, Error> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let raw = read_item(self.rest, self.offset)?;
        self.rest = &self.rest[raw.len..];
        self.offset += raw.len;
        Ok(Some(raw))
    }

    fn next_of(&mut self, field: &'static str) -> Result<Raw<'a>, Error> {
        let offset = self.offset;
        self.next_raw()?.ok_or(Error::RlpUnexpectedKind {
            field,
            offset,
            expected: "item",
            got: "end of list",
        })
    }

    /// The next item, which must be a string.
    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], Error> {
        let raw = self.next_of(field)?;
        if raw.list {
            return Err(Error::RlpUnexpectedKind {
                field,
                offset: raw.offset,
                expected: "string",
                got: "list",
            });
        }
        Ok(raw.payload)
    }

    /// The next item, which must be a list.
    pub(crate) fn list(&mut self, field: &'static str) -> Result<Fields<'a>, Error> {
        let raw = self.next_of(field)?;
        Self::of_list(raw, field)
    }

    /// The next item, a string of exactly `N` bytes.
    pub(crate) fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        let b = self.bytes(field)?;
        b.try_into().map_err(|_| Error::RlpFieldLength {
            field,
            expected: N,
            got: b.len(),
        })
    }

    /// The next item, a canonical big-endian integer of at most `N` bytes,
    /// returned left-padded to `N` bytes.
    pub(crate) fn uint<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        let offset = self.offset;
        let b = self.bytes(field)?;
        if b.len() > N {
            return Err(Error::RlpIntegerOverflow {
                field,
                max_bytes: N,
                got: b.len(),
            });
        }
        if b.first() == Some(&0) {
            return Err(Error::RlpNonCanonical {
                offset,
                what: "integer with a leading zero byte",
            });
        }
        let mut out = [0u8; N];
        out[N - b.len()..].copy_from_slice(b);
        Ok(out)
    }

    /// The next item, a canonical integer that fits a u64.
    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, Error> {
        self.uint::<8>(field).map(u64::from_be_bytes)
    }
}

/// Length of a list or string header for a payload of `payload_len` bytes.
pub(crate) const fn header_len(payload_len: usize) -> usize {
    if payload_len < 56 {
        1
    } else {
        1 + be_len(payload_len as u64)
    }
}

/// Number of bytes of `v` without leading zero bytes.
const fn be_len(v: u64) -> usize {
    8 - (v.leading_zeros() as usize) / 8
}

/// Appends a list or string header.
pub(crate) fn put_header(out: &mut Vec<u8>, list: bool, payload_len: usize) {
    let (short, long) = if list { (0xc0u8, 0xf7u8) } else { (0x80, 0xb7) };
    if payload_len < 56 {
        // payload_len < 56 fits a byte.
        out.push(short + payload_len as u8);
    } else {
        let n = be_len(payload_len as u64);
        out.push(long + n as u8);
        out.extend_from_slice(&(payload_len as u64).to_be_bytes()[8 - n..]);
    }
}

/// Encoded length of the string `b`.
pub(crate) const fn bytes_len(b: &[u8]) -> usize {
    if b.len() == 1 && b[0] < 0x80 {
        1
    } else {
        header_len(b.len()) + b.len()
    }
}

/// Appends the string `b`.
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() == 1 && b[0] < 0x80 {
        out.push(b[0]);
    } else {
        put_header(out, false, b.len());
        out.extend_from_slice(b);
    }
}

/// Encoded length of the integer `v`.
pub(crate) const fn u64_len(v: u64) -> usize {
    if v < 0x80 { 1 } else { 1 + be_len(v) }
}

/// Appends the integer `v` (big-endian, no leading zero bytes; 0 is the
/// empty string).
pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    let bytes = v.to_be_bytes();
    put_bytes(out, &bytes[8 - be_len(v)..]);
}

/// Strips leading zero bytes of a big-endian integer.
pub(crate) fn trim_be(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test hex")
    }

    #[test]
    fn integers_encode_canonically() {
        for (v, enc) in [
            (0u64, "80"),
            (1, "01"),
            (0x7f, "7f"),
            (0x80, "8180"),
            (1000, "8203e8"),
        ] {
            let mut out = Vec::new();
            put_u64(&mut out, v);
            assert_eq!(out, hex(enc), "{v}");
            assert_eq!(u64_len(v), out.len());
        }
        let mut out = Vec::new();
        put_u64(&mut out, u64::MAX);
        assert_eq!(out, hex("88ffffffffffffffff"));
    }

    #[test]
    fn long_headers_round_trip() {
        for len in [55usize, 56, 255, 256, 65_536] {
            let item = Item::Bytes(vec![0xaa; len]);
            let enc = item.encoded();
            assert_eq!(enc.len(), item.encoded_len());
            assert_eq!(Item::decode(&enc).expect("canonical"), item);
        }
    }

    #[test]
    fn integer_fields_refuse_leading_zero_and_overflow() {
        // [0x00 as a one-byte string] is not the canonical zero.
        let enc = hex("c100");
        let mut f = Fields::of_list(read_exact(&enc).expect("list"), "t").expect("list");
        assert!(matches!(f.u64("n"), Err(Error::RlpNonCanonical { .. })));

        let enc = hex("ca89010000000000000000");
        let mut f = Fields::of_list(read_exact(&enc).expect("list"), "t").expect("list");
        assert_eq!(
            f.u64("n"),
            Err(Error::RlpIntegerOverflow {
                field: "n",
                max_bytes: 8,
                got: 9
            })
        );
    }

    #[test]
    fn fixed_fields_check_length_and_kind() {
        let enc = hex("c3820102");
        let mut f = Fields::of_list(read_exact(&enc).expect("list"), "t").expect("list");
        assert_eq!(
            f.fixed::<3>("h"),
            Err(Error::RlpFieldLength {
                field: "h",
                expected: 3,
                got: 2
            })
        );
        let enc = hex("c1c0");
        let mut f = Fields::of_list(read_exact(&enc).expect("list"), "t").expect("list");
        assert!(matches!(
            f.bytes("h"),
            Err(Error::RlpUnexpectedKind {
                expected: "string",
                ..
            })
        ));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        // 100k nested empty-list headers: each level is one byte longer.
        let depth = 100_000usize;
        let mut enc = Vec::new();
        let mut payload = 0usize;
        let mut headers = Vec::new();
        for _ in 0..depth {
            let mut h = Vec::new();
            put_header(&mut h, true, payload);
            payload += h.len();
            headers.push(h);
        }
        for h in headers.iter().rev() {
            enc.extend_from_slice(h);
        }
        assert_eq!(
            Item::decode(&enc),
            Err(Error::RlpTooDeep { limit: MAX_DEPTH })
        );
    }

    #[test]
    fn trim_be_strips_leading_zeros() {
        assert_eq!(trim_be(&[0, 0, 1, 0]), &[1, 0]);
        assert!(trim_be(&[0, 0]).is_empty());
    }
}
