//! The protobuf wire format, read and never trusted: each field is a key (field
//! number and wire type) and a value; a varint, a length-delimited run of bytes, or
//! a fixed 32- or 64-bit word. Every read is bounds-checked and returns an error
//! instead of reading past the end. Groups (wire types 3 and 4, deprecated since
//! proto2 and never written by Kubernetes) are refused.

use super::Problem;

/// One field's value as the wire carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireValue<'a> {
    /// Wire type 0: an integer, a bool or an enum.
    Varint(u64),
    /// Wire type 2: a string, bytes, a nested message, a map entry or a packed run.
    Bytes(&'a [u8]),
    /// Wire types 1 and 5: fixed-width numbers, which no decoded Kubernetes field uses.
    Fixed,
}

impl WireValue<'_> {
    /// How the wire type is named in errors.
    pub(crate) fn wire_name(&self) -> &'static str {
        match self {
            WireValue::Varint(_) => "a varint",
            WireValue::Bytes(_) => "length-delimited bytes",
            WireValue::Fixed => "a fixed-width number",
        }
    }
}

/// Reads the fields of one message, front to back.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { rest: bytes }
    }

    /// The next field (its number and value), or `None` at the end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, Problem> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| Problem::FieldNumber(key >> 3))?;
        if number == 0 {
            return Err(Problem::FieldNumber(0));
        }
        let value = match key & 7 {
            0 => WireValue::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                WireValue::Fixed
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|len| *len <= self.rest.len())
                    .ok_or(Problem::LengthPastEnd {
                        length: len,
                        left: self.rest.len(),
                    })?;
                WireValue::Bytes(self.take(len)?)
            }
            3 | 4 => return Err(Problem::Group(number)),
            5 => {
                self.take(4)?;
                WireValue::Fixed
            }
            other => return Err(Problem::WireType(other as u8)),
        };
        Ok(Some((number, value)))
    }

    /// A base-128 varint of at most ten bytes.
    fn varint(&mut self) -> Result<u64, Problem> {
        let mut value = 0u64;
        for (i, byte) in self.rest.iter().enumerate().take(10) {
            let bits = u64::from(byte & 0x7f);
            // The tenth byte holds only the top bit of a u64.
            if i == 9 && bits > 1 {
                return Err(Problem::VarintOverflow);
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok(value);
            }
        }
        Err(if self.rest.len() >= 10 {
            Problem::VarintOverflow
        } else {
            Problem::TruncatedVarint
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Problem> {
        if n > self.rest.len() {
            return Err(Problem::LengthPastEnd {
                length: n as u64,
                left: self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(bytes: &[u8]) -> Result<Vec<(u32, WireValue<'_>)>, Problem> {
        let mut reader = Reader::new(bytes);
        let mut out = Vec::new();
        while let Some(field) = reader.next_field()? {
            out.push(field);
        }
        Ok(out)
    }

    #[test]
    fn reads_each_wire_type() {
        // 1: varint 300; 2: "hi"; 3: fixed64; 4: fixed32.
        let bytes = [
            0x08, 0xac, 0x02, 0x12, 2, b'h', b'i', 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x25, 1, 2, 3, 4,
        ];
        assert_eq!(
            fields(&bytes).unwrap(),
            vec![
                (1, WireValue::Varint(300)),
                (2, WireValue::Bytes(b"hi")),
                (3, WireValue::Fixed),
                (4, WireValue::Fixed),
            ]
        );
    }

    #[test]
    fn reads_the_largest_varint() {
        let mut bytes = vec![0x08];
        bytes.extend([0xff; 9]);
        bytes.push(0x01);
        assert_eq!(
            fields(&bytes).unwrap(),
            vec![(1, WireValue::Varint(u64::MAX))]
        );
    }

    #[test]
    fn refuses_malformed_input() {
        assert_eq!(fields(&[0x08, 0x80]), Err(Problem::TruncatedVarint));
        assert_eq!(
            fields(&[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02
            ]),
            Err(Problem::VarintOverflow)
        );
        assert_eq!(
            fields(&[0x12, 5, b'a']),
            Err(Problem::LengthPastEnd { length: 5, left: 1 })
        );
        assert_eq!(
            fields(&[0x19, 1, 2]),
            Err(Problem::LengthPastEnd { length: 8, left: 2 })
        );
        assert_eq!(fields(&[0x0b]), Err(Problem::Group(1)));
        assert_eq!(fields(&[0x0e, 0]), Err(Problem::WireType(6)));
        assert_eq!(fields(&[0x00, 0]), Err(Problem::FieldNumber(0)));
    }
}
