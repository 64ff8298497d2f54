//! JSON patch (RFC 6902): a list of operations on JSON pointers (RFC 6901), the patch
//! format `kubectl rollout undo` sends.
//!
//! The operations are applied in order to a copy; if any fails, the target is left as
//! it was and the error names the operation and the pointer.

use serde_json::Value;

/// Applies the JSON patch `patch` (an array of operations) to `target`.
///
/// ```
/// use orchestra_core::api::json_patch::apply_json_patch;
/// use serde_json::json;
///
/// let mut doc = json!({"spec": {"replicas": 1, "tags": ["a"]}});
/// let patch = json!([
///     {"op": "replace", "path": "/spec/replicas", "value": 3},
///     {"op": "add", "path": "/spec/tags/-", "value": "b"},
///     {"op": "test", "path": "/spec/tags/0", "value": "a"},
/// ]);
/// apply_json_patch(&mut doc, &patch).unwrap();
/// assert_eq!(doc, json!({"spec": {"replicas": 3, "tags": ["a", "b"]}}));
/// ```
pub fn apply_json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let Value::Array(ops) = patch else {
        return Err(format!(
            "a JSON patch must be an array of operations, got {}",
            kind_of(patch)
        ));
    };
    let mut doc = target.clone();
    for (i, op) in ops.iter().enumerate() {
        apply_one(&mut doc, op).map_err(|why| format!("operation {i} ({}): {why}", brief(op)))?;
    }
    *target = doc;
    Ok(())
}

fn apply_one(doc: &mut Value, op: &Value) -> Result<(), String> {
    let name = op
        .get("op")
        .and_then(Value::as_str)
        .ok_or("has no \"op\" string")?;
    let path = pointer(op, "path")?;
    let value = || op.get("value").cloned().ok_or("has no \"value\"");
    match name {
        "add" => add(doc, &path, value()?),
        "remove" => remove(doc, &path).map(drop),
        "replace" => {
            let slot = get_mut(doc, &path)?;
            *slot = value()?;
            Ok(())
        }
        "move" => {
            let from = pointer(op, "from")?;
            if path.len() > from.len() && path[..from.len()] == from[..] {
                return Err("cannot move a value into itself".to_owned());
            }
            let moved = remove(doc, &from)?;
            add(doc, &path, moved)
        }
        "copy" => {
            let from = pointer(op, "from")?;
            let copied = get_mut(doc, &from)?.clone();
            add(doc, &path, copied)
        }
        "test" => {
            let want = value()?;
            let have = get_mut(doc, &path)?;
            if *have == want {
                Ok(())
            } else {
                Err(format!("test failed: the value is {have}, not {want}"))
            }
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

/// The reference tokens of the pointer at `op[field]`.
fn pointer(op: &Value, field: &str) -> Result<Vec<String>, String> {
    let text = op
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("has no {field:?} string"))?;
    parse_pointer(text)
}

/// Splits a JSON pointer into its unescaped tokens (`""` is the whole document).
fn parse_pointer(text: &str) -> Result<Vec<String>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = text.strip_prefix('/') else {
        return Err(format!("pointer {text:?} does not start with '/'"));
    };
    rest.split('/')
        .map(|token| {
            let mut out = String::with_capacity(token.len());
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c != '~' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('0') => out.push('~'),
                    Some('1') => out.push('/'),
                    _ => return Err(format!("pointer {text:?} has a bad '~' escape")),
                }
            }
            Ok(out)
        })
        .collect()
}

fn get_mut<'a>(doc: &'a mut Value, path: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for (depth, token) in path.iter().enumerate() {
        let at = || format!("/{}", path[..=depth].join("/"));
        cur = match cur {
            Value::Object(map) => map
                .get_mut(token)
                .ok_or_else(|| format!("{} does not exist", at()))?,
            Value::Array(items) => {
                let index =
                    array_index(token, items.len(), false).map_err(|e| format!("{}: {e}", at()))?;
                &mut items[index]
            }
            other => return Err(format!("{} is inside a {}", at(), kind_of(other))),
        };
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            let index = if last == "-" {
                items.len()
            } else {
                array_index(last, items.len(), true)?
            };
            items.insert(index, value);
            Ok(())
        }
        other => Err(format!("cannot add into a {}", kind_of(other))),
    }
}

fn remove(doc: &mut Value, path: &[String]) -> Result<Value, String> {
    let Some((last, parent)) = path.split_last() else {
        return Err("cannot remove the whole document".to_owned());
    };
    match get_mut(doc, parent)? {
        Value::Object(map) => map
            .remove(last)
            .ok_or_else(|| format!("/{} does not exist", path.join("/"))),
        Value::Array(items) => {
            let index = array_index(last, items.len(), false)?;
            Ok(items.remove(index))
        }
        other => Err(format!("cannot remove from a {}", kind_of(other))),
    }
}

/// An array index token: digits without a leading zero, below `len` (or equal to it
/// when inserting).
fn array_index(token: &str, len: usize, inserting: bool) -> Result<usize, String> {
    let well_formed = !token.is_empty()
        && token.chars().all(|c| c.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    let index: usize = if well_formed {
        token
            .parse()
            .map_err(|_| format!("index {token:?} is too large"))?
    } else {
        return Err(format!("{token:?} is not an array index"));
    };
    let limit = if inserting {
        len
    } else {
        len.saturating_sub(1)
    };
    if index > limit || (!inserting && len == 0) {
        return Err(format!("index {index} is out of bounds (length {len})"));
    }
    Ok(index)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// An operation, shortened for an error message.
fn brief(op: &Value) -> String {
    let text = op.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(doc: Value, patch: Value) -> Result<Value, String> {
        let mut doc = doc;
        apply_json_patch(&mut doc, &patch).map(|()| doc)
    }

    #[test]
    fn the_rfc_examples_apply() {
        // RFC 6902, appendix A (a selection).
        assert_eq!(
            patched(
                json!({"foo": "bar"}),
                json!([{"op":"add","path":"/baz","value":"qux"}])
            ),
            Ok(json!({"foo": "bar", "baz": "qux"}))
        );
        assert_eq!(
            patched(
                json!({"foo": ["bar", "baz"]}),
                json!([{"op":"add","path":"/foo/1","value":"qux"}])
            ),
            Ok(json!({"foo": ["bar", "qux", "baz"]}))
        );
        assert_eq!(
            patched(
                json!({"baz": "qux", "foo": "bar"}),
                json!([{"op":"remove","path":"/baz"}])
            ),
            Ok(json!({"foo": "bar"}))
        );
        assert_eq!(
            patched(
                json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}),
                json!([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])
            ),
            Ok(json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}))
        );
        assert_eq!(
            patched(
                json!({"/": 1, "m~n": 2}),
                json!([{"op":"replace","path":"/~1","value":3},{"op":"copy","from":"/m~0n","path":"/c"}])
            ),
            Ok(json!({"/": 3, "m~n": 2, "c": 2}))
        );
    }

    #[test]
    fn a_failed_operation_leaves_the_target_unchanged_and_is_named() {
        let mut doc = json!({"a": 1});
        let err = apply_json_patch(
            &mut doc,
            &json!([{"op":"replace","path":"/a","value":2},{"op":"test","path":"/a","value":1}]),
        )
        .unwrap_err();
        assert!(err.starts_with("operation 1"), "{err}");
        assert_eq!(doc, json!({"a": 1}));
        for bad in [
            json!({"op": "add"}),
            json!([{"op": "frobnicate", "path": "/a"}]),
            json!([{"op": "remove", "path": "/missing"}]),
            json!([{"op": "add", "path": "/a/b", "value": 1}]),
            json!([{"op": "replace", "path": "a", "value": 1}]),
            json!([{"op": "add", "path": "/list/01", "value": 1}]),
        ] {
            let mut doc = json!({"a": 1, "list": [1]});
            assert!(apply_json_patch(&mut doc, &bad).is_err(), "{bad}");
        }
    }
}
