//! A message decoded against its schema into Kubernetes' JSON shape.
//!
//! A schema lists a message's fields: number, JSON name and type. Fields the
//! schema does not list are skipped, as every protobuf reader does; a listed field
//! with the wrong wire type is an error.
//!
//! gogo-protobuf writes every field of a Go struct that is not a pointer, zero or
//! not, where Go's JSON encoder leaves out the zero ones (`omitempty`). So a zero
//! `string`, `int` or `bool` is left out here too, unless the schema says
//! [`Zero::Keep`]: for Go pointers (`*int32`), written only when set, a zero is a
//! real value (`replicas: 0`), and for the few fields Go's JSON always writes.

use serde_json::{Map, Value};

use super::wire::{Reader, WireValue};
use super::{DecodeError, MAX_DEPTH, Problem};

/// The schema of one protobuf message.
#[derive(Debug)]
pub(crate) struct Message {
    pub fields: &'static [Field],
}

/// One field of a message.
#[derive(Debug)]
pub(crate) struct Field {
    pub number: u32,
    pub json: &'static str,
    pub kind: Kind,
}

/// Whether a zero value of a scalar field appears in the JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Zero {
    /// Zero is unset: left out.
    Omit,
    /// Zero is a value: written.
    Keep,
}

/// A field's type, and so its JSON form.
#[derive(Debug)]
pub(crate) enum Kind {
    /// A string; an empty one is left out.
    String,
    /// `repeated string`: an array.
    Strings,
    Int32(Zero),
    Int64(Zero),
    Bool(Zero),
    /// A nested message: an object.
    Message(&'static Message),
    /// `repeated` nested messages: an array of objects.
    Messages(&'static Message),
    /// A nested message whose fields Go embeds in the parent (a probe's handler):
    /// its fields join the parent's object.
    Embedded(&'static Message),
    /// `map<string, string>`: an object.
    StringMap,
    /// `map<string, Quantity>` (resource lists): an object of strings.
    QuantityMap,
    /// `metav1.Time` {1 seconds, 2 nanos}: an RFC 3339 string in seconds, as
    /// Kubernetes writes it; the zero time is left out.
    Time,
    /// `resource.Quantity` {1 string}: the string.
    Quantity,
    /// `intstr.IntOrString` {1 type, 2 intVal, 3 strVal}: a number or a string.
    IntOrString,
}

/// Shorthand for the schema tables.
pub(crate) const fn field(number: u32, json: &'static str, kind: Kind) -> Field {
    Field { number, json, kind }
}

/// The fields of the message in `bytes`, `depth` messages down from the object.
pub(crate) fn message(
    bytes: &[u8],
    schema: &'static Message,
    depth: usize,
) -> Result<Map<String, Value>, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(Problem::TooDeep.into());
    }
    let mut out = Map::new();
    let mut reader = Reader::new(bytes);
    while let Some((number, value)) = reader.next_field()? {
        let Some(field) = schema.fields.iter().find(|f| f.number == number) else {
            continue;
        };
        set_field(&mut out, field, number, value, depth).map_err(|e| e.within(field.json))?;
    }
    Ok(out)
}

fn set_field(
    out: &mut Map<String, Value>,
    field: &Field,
    number: u32,
    value: WireValue<'_>,
    depth: usize,
) -> Result<(), DecodeError> {
    let name = field.json;
    // Later occurrences of a scalar win, as protobuf says; a zero that is unset
    // takes an earlier value away again.
    let mut put = |value: Option<Value>| match value {
        Some(v) => {
            out.insert(name.to_owned(), v);
        }
        None => {
            out.remove(name);
        }
    };
    match &field.kind {
        Kind::String => {
            let s = string(number, value)?;
            put((!s.is_empty()).then_some(Value::String(s)));
        }
        Kind::Int32(zero) => {
            let v = int32(number, value)?;
            put(kept(v != 0, *zero).then_some(Value::from(v)));
        }
        Kind::Int64(zero) => {
            let v = varint(number, value)? as i64;
            put(kept(v != 0, *zero).then_some(Value::from(v)));
        }
        Kind::Bool(zero) => {
            let v = varint(number, value)? != 0;
            put(kept(v, *zero).then_some(Value::Bool(v)));
        }
        Kind::Time => {
            let v = time(bytes(number, value)?)?;
            put(v.map(Value::String));
        }
        Kind::Quantity => {
            let v = quantity(bytes(number, value)?, depth + 1)?;
            put((!v.is_empty()).then_some(Value::String(v)));
        }
        Kind::IntOrString => {
            let v = int_or_string(bytes(number, value)?)?;
            put(Some(v));
        }
        Kind::Message(schema) => {
            let fields = message(bytes(number, value)?, schema, depth + 1)?;
            // A message sent twice is merged, as protobuf says (shallowly here).
            match out.get_mut(name) {
                Some(Value::Object(earlier)) => earlier.extend(fields),
                _ => {
                    out.insert(name.to_owned(), Value::Object(fields));
                }
            }
        }
        Kind::Embedded(schema) => {
            let fields = message(bytes(number, value)?, schema, depth + 1)?;
            out.extend(fields);
        }
        Kind::Messages(schema) => {
            let index = out.get(name).and_then(Value::as_array).map_or(0, Vec::len);
            let fields = message(bytes(number, value)?, schema, depth + 1)
                .map_err(|e| e.within(format!("[{index}]")))?;
            push(out, name, Value::Object(fields));
        }
        Kind::Strings => {
            let s = string(number, value)?;
            push(out, name, Value::String(s));
        }
        Kind::StringMap | Kind::QuantityMap => {
            let quantities = matches!(field.kind, Kind::QuantityMap);
            let (key, value) = map_entry(bytes(number, value)?, quantities, depth + 1)?;
            let map = out.entry(name).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = map {
                map.insert(key, Value::String(value));
            }
        }
    }
    Ok(())
}

fn kept(nonzero: bool, zero: Zero) -> bool {
    nonzero || zero == Zero::Keep
}

/// Appends `item` to the array at `name` in `out`, made if missing.
fn push(out: &mut Map<String, Value>, name: &str, item: Value) {
    match out.get_mut(name) {
        Some(Value::Array(items)) => items.push(item),
        _ => {
            out.insert(name.to_owned(), Value::Array(vec![item]));
        }
    }
}

fn wrong(number: u32, expected: &'static str, found: WireValue<'_>) -> Problem {
    Problem::WrongWireType {
        number,
        expected,
        found: found.wire_name(),
    }
}

fn varint(number: u32, value: WireValue<'_>) -> Result<u64, Problem> {
    match value {
        WireValue::Varint(v) => Ok(v),
        other => Err(wrong(number, "a varint", other)),
    }
}

/// An int32: protobuf sign-extends negative ones to 64 bits.
fn int32(number: u32, value: WireValue<'_>) -> Result<i32, Problem> {
    let v = varint(number, value)? as i64;
    i32::try_from(v).map_err(|_| Problem::OutOfRange(v))
}

fn bytes(number: u32, value: WireValue<'_>) -> Result<&[u8], Problem> {
    match value {
        WireValue::Bytes(b) => Ok(b),
        other => Err(wrong(number, "length-delimited bytes", other)),
    }
}

/// A `string` field.
pub(crate) fn string(number: u32, value: WireValue<'_>) -> Result<String, Problem> {
    let b = bytes(number, value)?;
    String::from_utf8(b.to_vec()).map_err(|_| Problem::NotUtf8)
}

/// A map entry {1 key, 2 value}, its value a string or a Quantity.
fn map_entry(
    bytes: &[u8],
    quantity_value: bool,
    depth: usize,
) -> Result<(String, String), DecodeError> {
    let mut reader = Reader::new(bytes);
    let (mut key, mut value) = (String::new(), String::new());
    while let Some((number, wire)) = reader.next_field()? {
        match number {
            1 => key = string(number, wire)?,
            2 if quantity_value => value = quantity(self::bytes(number, wire)?, depth + 1)?,
            2 => value = string(number, wire)?,
            _ => {}
        }
    }
    Ok((key, value))
}

fn quantity(bytes: &[u8], depth: usize) -> Result<String, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(Problem::TooDeep.into());
    }
    let mut reader = Reader::new(bytes);
    let mut out = String::new();
    while let Some((number, value)) = reader.next_field()? {
        if number == 1 {
            out = string(number, value)?;
        }
    }
    Ok(out)
}

fn int_or_string(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut reader = Reader::new(bytes);
    let (mut type_, mut int, mut text) = (0, 0, String::new());
    while let Some((number, value)) = reader.next_field()? {
        match number {
            1 => type_ = varint(number, value)?,
            2 => int = int32(number, value)?,
            3 => text = string(number, value)?,
            _ => {}
        }
    }
    // Type 1 is a string; 0 (and anything else, as Go reads it) an integer.
    Ok(if type_ == 1 {
        Value::String(text)
    } else {
        Value::from(int)
    })
}

/// A `metav1.Time`, or `None` for the zero time.
fn time(bytes: &[u8]) -> Result<Option<String>, DecodeError> {
    let mut reader = Reader::new(bytes);
    let mut seconds = 0i64;
    let mut nanos = 0i32;
    while let Some((number, value)) = reader.next_field()? {
        match number {
            1 => seconds = varint(number, value)? as i64,
            2 => nanos = int32(number, value)?,
            _ => {}
        }
    }
    if seconds == 0 && nanos == 0 {
        return Ok(None);
    }
    // Go's zero time.Time, which gogo writes for an unset non-pointer Time.
    const GO_ZERO_TIME: i64 = -62_135_596_800;
    if seconds == GO_ZERO_TIME && nanos == 0 {
        return Ok(None);
    }
    rfc3339(seconds)
        .map(Some)
        .ok_or(Problem::Time(seconds).into())
}

/// Seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ`, for years 0 to 9999.
fn rfc3339(seconds: i64) -> Option<String> {
    const DAY: i64 = 86_400;
    let days = seconds.div_euclid(DAY);
    let second_of_day = seconds.rem_euclid(DAY);
    let (year, month, day) = civil_date(days)?;
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    ))
}

/// The proleptic Gregorian date `days` after 1970-01-01, counted in 400-year eras
/// of 146 097 days that start on a 1 March, so the leap day falls at an era's end.
fn civil_date(days: i64) -> Option<(i64, i64, i64)> {
    // Years 0–9999 are about ±3.7 million days from 1970; check before any
    // arithmetic that could overflow.
    if !(-719_528..=2_932_896).contains(&days) {
        return None;
    }
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Some((year, month, day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_as_kubernetes_does() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
        assert_eq!(
            rfc3339(1_733_616_000 + 3_723).unwrap(),
            "2024-12-08T01:02:03Z"
        );
        assert_eq!(rfc3339(-1).unwrap(), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(253_402_300_799).unwrap(), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(-62_167_219_200).unwrap(), "0000-01-01T00:00:00Z");
        assert_eq!(rfc3339(253_402_300_800), None);
        assert_eq!(rfc3339(i64::MIN), None);
        assert_eq!(rfc3339(i64::MAX), None);
    }
}
