//! Kubernetes protobuf request bodies, decoded into the JSON the same object would
//! have been sent as.
//!
//! kubectl 1.32 and later send some writes (`create deployment`, `autoscale`) as
//! `application/vnd.kubernetes.protobuf`, with no fallback to JSON. Everything after
//! the body is read works on JSON (the registry stores JSON, the checks of the URL
//! read JSON), so this module turns the protobuf into the `serde_json::Value`
//! Kubernetes' JSON encoding of the same Go object would give, and the request goes
//! on as if it had been JSON.
//!
//! The parts:
//! - [`wire`] reads the protobuf wire format, bounds-checked;
//! - [`decode`] walks a message against a schema (field number → JSON name and
//!   type) and builds the JSON;
//! - [`kinds`] holds the schemas of the Kubernetes messages this server decodes,
//!   with the field numbers of k8s.io/api's `generated.proto`;
//! - this file reads the envelope: the magic `k8s\0` and a `runtime.Unknown`
//!   holding the type and the serialised object.
//!
//! Replies stay JSON, which kubectl accepts.

mod decode;
mod kinds;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::{Map, Value};

use wire::{Reader, WireValue};

/// The media type of Kubernetes protobuf.
pub(crate) const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every Kubernetes protobuf body starts with.
const MAGIC: &[u8; 4] = b"k8s\0";

/// Messages nested deeper than this are refused. The schemas themselves are
/// shallower (a Deployment's deepest field is about a dozen levels down); the bound
/// keeps a schema that refers to itself from recursing without end.
const MAX_DEPTH: usize = 64;

/// The kinds (`apiVersion`, `kind`) whose protobuf this server decodes.
pub(crate) fn decodes(api_version: &str, kind: &str) -> bool {
    kinds::schema(api_version, kind).is_some()
}

/// A body's type as its envelope states it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TypeMeta {
    pub api_version: String,
    pub kind: String,
}

/// A body opened: its stated type and the serialised object.
#[derive(Debug)]
pub(crate) struct Envelope<'a> {
    pub type_meta: TypeMeta,
    raw: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Opens a body: checks the magic and reads the `runtime.Unknown` after it.
    pub(crate) fn open(body: &'a [u8]) -> Result<Envelope<'a>, DecodeError> {
        let unknown = body
            .strip_prefix(MAGIC)
            .ok_or(DecodeError::new(Problem::Magic))?;
        let mut reader = Reader::new(unknown);
        let mut envelope = Envelope {
            type_meta: TypeMeta::default(),
            raw: &[],
        };
        while let Some((number, value)) = reader.next_field()? {
            let field = match number {
                1 => "typeMeta",
                2 => "raw",
                3 => "contentEncoding",
                4 => "contentType",
                _ => continue,
            };
            let WireValue::Bytes(bytes) = value else {
                return Err(DecodeError::new(Problem::WrongWireType {
                    number,
                    expected: "length-delimited bytes",
                    found: value.wire_name(),
                })
                .within(field));
            };
            match number {
                1 => {
                    envelope.type_meta = type_meta(bytes).map_err(|e| e.within(field))?;
                }
                2 => envelope.raw = bytes,
                // Kubernetes writes both empty: the object is plain protobuf.
                3 if !bytes.is_empty() => {
                    return Err(DecodeError::new(Problem::ContentEncoding(
                        String::from_utf8_lossy(bytes).into_owned(),
                    )));
                }
                4 if !bytes.is_empty() && bytes != MEDIA_TYPE.as_bytes() => {
                    return Err(DecodeError::new(Problem::ContentType(
                        String::from_utf8_lossy(bytes).into_owned(),
                    )));
                }
                _ => {}
            }
        }
        Ok(envelope)
    }

    /// The `DeleteOptions` in the envelope, as JSON.
    pub(crate) fn decode_delete_options(&self) -> Result<Value, DecodeError> {
        decode::message(self.raw, &kinds::DELETE_OPTIONS, 0).map(Value::Object)
    }

    /// The object as JSON, with `apiVersion` and `kind` from the envelope; `None`
    /// when this server has no schema for the envelope's kind.
    pub(crate) fn decode(&self) -> Option<Result<Value, DecodeError>> {
        let schema = kinds::schema(&self.type_meta.api_version, &self.type_meta.kind)?;
        Some(decode::message(self.raw, schema, 0).map(|fields| {
            let mut object = Map::with_capacity(fields.len() + 2);
            object.insert("kind".into(), Value::from(self.type_meta.kind.as_str()));
            object.insert(
                "apiVersion".into(),
                Value::from(self.type_meta.api_version.as_str()),
            );
            object.extend(fields);
            Value::Object(object)
        }))
    }
}

fn type_meta(bytes: &[u8]) -> Result<TypeMeta, DecodeError> {
    let mut reader = Reader::new(bytes);
    let mut type_meta = TypeMeta::default();
    while let Some((number, value)) = reader.next_field()? {
        let (slot, field) = match number {
            1 => (&mut type_meta.api_version, "apiVersion"),
            2 => (&mut type_meta.kind, "kind"),
            _ => continue,
        };
        *slot = decode::string(number, value).map_err(|e| DecodeError::new(e).within(field))?;
    }
    Ok(type_meta)
}

/// Why a body could not be decoded, and where in it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// JSON field names from the object down to the field at fault, innermost last.
    path: Vec<String>,
    problem: Problem,
}

impl DecodeError {
    fn new(problem: Problem) -> DecodeError {
        DecodeError {
            path: Vec::new(),
            problem,
        }
    }

    /// The same error, one field further out.
    fn within(mut self, field: impl Into<String>) -> DecodeError {
        self.path.insert(0, field.into());
        self
    }
}

impl From<Problem> for DecodeError {
    fn from(problem: Problem) -> DecodeError {
        DecodeError::new(problem)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body is not a valid Kubernetes protobuf object: ")?;
        for (i, field) in self.path.iter().enumerate() {
            // Array indexes follow their field without a dot: `containers[0]`.
            if i > 0 && !field.starts_with('[') {
                f.write_str(".")?;
            }
            f.write_str(field)?;
        }
        if !self.path.is_empty() {
            f.write_str(": ")?;
        }
        fmt::Display::fmt(&self.problem, f)
    }
}

impl std::error::Error for DecodeError {}

/// What is wrong with a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The body does not start with `k8s\0`.
    Magic,
    /// A varint ends with the input.
    TruncatedVarint,
    /// A varint longer than ten bytes, or over 64 bits.
    VarintOverflow,
    /// A length (or fixed width) longer than what is left.
    LengthPastEnd { length: u64, left: usize },
    /// Field number 0, or one over 2^32.
    FieldNumber(u64),
    /// A wire type that does not exist (6 or 7).
    WireType(u8),
    /// A group (wire types 3 and 4).
    Group(u32),
    /// A known field with another wire type than its type has.
    WrongWireType {
        number: u32,
        expected: &'static str,
        found: &'static str,
    },
    /// A string that is not UTF-8.
    NotUtf8,
    /// An int32 field holding a value out of its range.
    OutOfRange(i64),
    /// A timestamp outside years 0–9999.
    Time(i64),
    /// Messages nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// An envelope with a content encoding (Kubernetes never writes one).
    ContentEncoding(String),
    /// An envelope whose object is in another format.
    ContentType(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Magic => write!(f, "it does not start with the magic bytes \"k8s\\0\""),
            Problem::TruncatedVarint => f.write_str("a varint is cut off by the end of the data"),
            Problem::VarintOverflow => f.write_str("a varint is longer than 64 bits"),
            Problem::LengthPastEnd { length, left } => {
                write!(
                    f,
                    "a length of {length} bytes runs past the end ({left} left)"
                )
            }
            Problem::FieldNumber(n) => write!(f, "invalid field number {n}"),
            Problem::WireType(t) => write!(f, "invalid wire type {t}"),
            Problem::Group(n) => write!(f, "field {n} is a group, which is not supported"),
            Problem::WrongWireType {
                number,
                expected,
                found,
            } => write!(f, "field {number} should be {expected}, not {found}"),
            Problem::NotUtf8 => f.write_str("a string is not valid UTF-8"),
            Problem::OutOfRange(v) => write!(f, "{v} is out of range for an int32"),
            Problem::Time(s) => write!(f, "{s} seconds since 1970 is not a time in years 0-9999"),
            Problem::TooDeep => write!(f, "messages are nested more than {MAX_DEPTH} deep"),
            Problem::ContentEncoding(e) => {
                write!(f, "content encoding {e:?} is not supported")
            }
            Problem::ContentType(t) => write!(f, "the object is in {t:?}, not protobuf"),
        }
    }
}
