//! Strategic merge patch (`application/strategic-merge-patch+json`): the patch type
//! `kubectl apply`, `kubectl set image` and the kubelet send for the built-in kinds.
//!
//! It reads like a JSON merge patch — objects merge key by key and `null` removes a
//! key — but a [`PatchSchema`] says, field by field, which lists are not replaced
//! whole: lists of objects merged item by item on a *merge key* (a pod's `containers`
//! on `name`), and lists of primitives merged as sets (`metadata.finalizers`). Any other
//! list is replaced, as a merge patch replaces it. The patch can also carry directives:
//!
//! - `"$patch": "replace"` in an object replaces the object instead of merging it;
//!   `"$patch": "delete"` empties it. In an item of a merging list, `"$patch": "delete"`
//!   removes the item with that merge key, and an item `{"$patch": "replace"}` makes the
//!   patch's other items the whole list.
//! - `"$setElementOrder/<field>": [...]` gives the order of the merged list: the listed
//!   items in that order, with the items only the object has kept where they were
//!   relative to the listed ones.
//! - `"$deleteFromPrimitiveList/<field>": [...]` removes those values from a list of
//!   primitives.
//! - `"$retainKeys": [...]` clears every field of the object that is not listed, before
//!   the patch is merged (how `kubectl apply` switches a deployment's `strategy` from
//!   `RollingUpdate` to `Recreate`).
//!
//! Where merged items stand: the patch's items in the patch's order, the object's other
//! items in theirs, and an item of the object placed before the next patch item when it
//! stood before that item in the object. So without `$setElementOrder` an item new to
//! the list comes before the object's items the patch does not name (kubectl always
//! sends the order, so its lists keep theirs).
//!
//! The rules are those of Kubernetes' apimachinery `strategicpatch` package, applied as
//! kube-apiserver applies a patch it receives. Any other `$`-key, or any other `$patch`
//! value, is refused — `merge` too, which apimachinery takes nowhere when it applies a
//! patch. Values listed in a `$deleteFromPrimitiveList` are removed after the patch's
//! additions to the same list. Where a directive appears in a value the object does not have
//! yet, the value is merged into nothing (a `$patch: delete` there leaves the field
//! absent), so directives never leak into the stored object.
//!
//! The built-in kinds' schemas are in [`schemas`]; the registry applies a strategic
//! merge patch only to a kind whose [`Strategy`](crate::registry::Strategy) names one.
//!
//! ```
//! use orchestra_core::api::strategic_merge::{apply_strategic_merge_patch, schemas};
//! use serde_json::json;
//!
//! let mut pod = json!({"spec": {"containers": [
//!     {"name": "web", "image": "web:1"},
//!     {"name": "log", "image": "log:1"},
//! ]}});
//! let patch = json!({"spec": {"containers": [{"name": "web", "image": "web:2"}]}});
//! apply_strategic_merge_patch(&mut pod, &patch, &schemas::POD).unwrap();
//! assert_eq!(pod, json!({"spec": {"containers": [
//!     {"name": "web", "image": "web:2"},
//!     {"name": "log", "image": "log:1"},
//! ]}}));
//! ```

#[cfg(test)]
mod kubectl_tests;
mod list;
mod schema;
pub mod schemas;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use list::{merge_list_field, set_element_order};
pub use schema::{FieldStrategy, PatchSchema};

/// The key of the `$patch` directive.
const PATCH: &str = "$patch";
/// The key of the `$retainKeys` directive.
const RETAIN_KEYS: &str = "$retainKeys";
/// The prefix of a `$setElementOrder/<field>` key.
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
/// The prefix of a `$deleteFromPrimitiveList/<field>` key.
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Why a strategic merge patch does not apply. Each names where, as a dotted path with
/// merging-list items by their key (`spec.containers[name=web]`), `.` being the top.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StrategicMergeError {
    /// The patch is not a JSON object.
    #[error("a strategic merge patch must be a JSON object, got {found}")]
    NotAnObject {
        /// The JSON type that was sent.
        found: &'static str,
    },
    /// A `$`-key, or a value of `$patch`, that is no directive.
    #[error("{path}: unknown strategic merge patch directive {directive}")]
    UnknownDirective {
        /// Where it is.
        path: String,
        /// The key, or `$patch: <value>`.
        directive: String,
    },
    /// A directive whose value does not fit it.
    #[error("{path}: invalid {directive}: {reason}")]
    InvalidDirective {
        /// Where it is.
        path: String,
        /// The directive (`$retainKeys`, `$setElementOrder/containers`…).
        directive: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An item of a list merged by key, in the object or in the patch, lacks its key.
    #[error("{path}: an item of a list merged on {key:?} has no {key:?}: {item}")]
    MissingMergeKey {
        /// The list.
        path: String,
        /// The merge key.
        key: &'static str,
        /// The item, as JSON (shortened).
        item: String,
    },
    /// A list to merge whose items cannot be merged: lists of lists, items of different
    /// types, or objects in a list of primitives.
    #[error("{path}: cannot merge the list: {reason}")]
    UnmergeableList {
        /// The list.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Applies the strategic merge patch `patch` to `target`, with `schema` the schema of
/// `target`'s kind. On error `target` is left as it was.
///
/// A `target` that is not an object is treated as an empty object.
pub fn apply_strategic_merge_patch(
    target: &mut Value,
    patch: &Value,
    schema: &PatchSchema,
) -> Result<(), StrategicMergeError> {
    let Value::Object(patch) = patch else {
        return Err(StrategicMergeError::NotAnObject {
            found: kind_of(patch),
        });
    };
    let original = target.as_object().cloned().unwrap_or_default();
    let merged = merge_map(original, patch, schema, &Path::ROOT)?;
    *target = Value::Object(merged);
    Ok(())
}

/// Where in the document the merge is, for error messages; built only when needed.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Item(&'a Path<'a>, &'a str, &'a Value),
}

impl Path<'_> {
    const ROOT: Path<'static> = Path::Root;

    fn render(&self) -> String {
        match self {
            Path::Root => ".".to_owned(),
            Path::Field(Path::Root, name) => (*name).to_owned(),
            Path::Field(parent, name) => format!("{}.{name}", parent.render()),
            Path::Item(parent, key, value) => match value {
                Value::String(s) => format!("{}[{key}={s}]", parent.render()),
                other => format!("{}[{key}={other}]", parent.render()),
            },
        }
    }
}

fn field<'a>(parent: &'a Path<'a>, name: &'a str) -> Path<'a> {
    Path::Field(parent, name)
}

/// Merges `patch` into `original`, an object of the kind `schema` describes.
fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    schema: &PatchSchema,
    path: &Path<'_>,
) -> Result<Map<String, Value>, StrategicMergeError> {
    if let Some(directive) = patch.get(PATCH) {
        return match directive.as_str() {
            Some("replace") => fresh_map(patch, schema, path, &[PATCH]),
            Some("delete") => Ok(Map::new()),
            _ => Err(unknown_patch_value(directive, path)),
        };
    }
    for key in patch.keys() {
        check_directive_key(key, path)?;
    }

    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let Value::Array(retained) = retain else {
            return Err(invalid(
                path,
                RETAIN_KEYS,
                "it must be a list of field names",
            ));
        };
        let keeps = |key: &str| retained.iter().any(|v| v.as_str() == Some(key));
        if let Some((key, _)) = patch
            .iter()
            .find(|(k, v)| !v.is_null() && !k.starts_with('$') && !keeps(k))
        {
            return Err(invalid(
                path,
                RETAIN_KEYS,
                format!("the patch sets {key:?}, which the list does not retain"),
            ));
        }
        original.retain(|key, _| keeps(key));
    }

    // Lists with an order directive are merged and ordered first; the plain merge
    // below then skips them.
    let mut ordered: Vec<&str> = Vec::new();
    for (key, order) in patch {
        if let Some(name) = key.strip_prefix(SET_ELEMENT_ORDER) {
            set_element_order(&mut original, name, order, patch.get(name), schema, path)?;
            ordered.push(name);
        }
    }

    for (key, value) in patch {
        if key.starts_with('$') || ordered.contains(&key.as_str()) {
            continue;
        }
        let here = field(path, key);
        if value.is_null() {
            original.remove(key);
            continue;
        }
        let merged =
            match (original.remove(key), value) {
                (Some(Value::Object(old)), Value::Object(new)) => Some(Value::Object(merge_map(
                    old,
                    new,
                    schema.object_field(key),
                    &here,
                )?)),
                (Some(Value::Array(old)), Value::Array(new)) => Some(Value::Array(
                    merge_list_field(old, new, schema.field(key), &here)?,
                )),
                // Absent, or of another type: the patch's value, merged into nothing.
                _ => fresh(value, schema.field(key), &here)?,
            };
        if let Some(merged) = merged {
            original.insert(key.clone(), merged);
        }
    }

    // Deletions come last, after the additions to the same list: kubectl never sends
    // a value in both, and removing last makes "delete" win if a client does.
    for (key, values) in patch {
        let Some(name) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) else {
            continue;
        };
        let Value::Array(values) = values else {
            return Err(invalid(path, key, "it must be a list of values"));
        };
        if values.iter().any(|v| v.is_object() || v.is_array()) {
            return Err(invalid(path, key, "it must list primitive values"));
        }
        if let Some(Value::Array(list)) = original.get_mut(name) {
            list.retain(|item| !values.contains(item));
        }
    }
    Ok(original)
}

/// Refuses a `$`-key that is no directive.
fn check_directive_key(key: &str, path: &Path<'_>) -> Result<(), StrategicMergeError> {
    let known = key == PATCH
        || key == RETAIN_KEYS
        || key
            .strip_prefix(SET_ELEMENT_ORDER)
            .or_else(|| key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST))
            .is_some_and(|name| !name.is_empty());
    if key.starts_with('$') && !known {
        return Err(StrategicMergeError::UnknownDirective {
            path: path.render(),
            directive: key.to_owned(),
        });
    }
    Ok(())
}

/// The patch's `value` for a field the object lacks: merged into nothing, so nulls are
/// dropped and directives applied. `None` when nothing is left (a `$patch: delete`).
fn fresh(
    value: &Value,
    strategy: Option<&FieldStrategy>,
    path: &Path<'_>,
) -> Result<Option<Value>, StrategicMergeError> {
    match value {
        Value::Null => Ok(None),
        Value::Object(map) => {
            if let Some(directive) = map.get(PATCH) {
                match directive.as_str() {
                    Some("delete") => return Ok(None),
                    Some("replace") => {}
                    _ => return Err(unknown_patch_value(directive, path)),
                }
            }
            let schema = match strategy {
                Some(FieldStrategy::Object { fields, .. }) => fields,
                _ => &PatchSchema::EMPTY,
            };
            merge_map(Map::new(), map, schema, path).map(|m| Some(Value::Object(m)))
        }
        Value::Array(list) => merge_list_field(Vec::new(), list, strategy, path)
            .map(|merged| Some(Value::Array(merged))),
        scalar => Ok(Some(scalar.clone())),
    }
}

/// The patch object `map` merged into nothing, without the keys in `skip`.
fn fresh_map(
    map: &Map<String, Value>,
    schema: &PatchSchema,
    path: &Path<'_>,
    skip: &[&str],
) -> Result<Map<String, Value>, StrategicMergeError> {
    let mut out = Map::new();
    for (key, value) in map {
        if skip.contains(&key.as_str()) {
            continue;
        }
        check_directive_key(key, path)?;
        if key.starts_with('$') {
            continue;
        }
        if let Some(value) = fresh(value, schema.field(key), &field(path, key))? {
            out.insert(key.clone(), value);
        }
    }
    Ok(out)
}

/// A replacing list's items merged into nothing: objects lose their directives and
/// nulls; items that are `$patch: delete` objects are dropped. (An atomic list's items
/// have no strategies of their own.)
fn fresh_list(list: &[Value], path: &Path<'_>) -> Result<Vec<Value>, StrategicMergeError> {
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        match item {
            Value::Object(_) => out.extend(fresh(item, None, path)?),
            Value::Array(inner) => out.push(Value::Array(fresh_list(inner, path)?)),
            other => out.push(other.clone()),
        }
    }
    Ok(out)
}

fn unknown_patch_value(directive: &Value, path: &Path<'_>) -> StrategicMergeError {
    StrategicMergeError::UnknownDirective {
        path: path.render(),
        directive: format!("{PATCH}: {directive}"),
    }
}

fn invalid(path: &Path<'_>, directive: &str, reason: impl Into<String>) -> StrategicMergeError {
    StrategicMergeError::InvalidDirective {
        path: path.render(),
        directive: directive.to_owned(),
        reason: reason.into(),
    }
}

fn missing_key(
    path: &Path<'_>,
    key: &'static str,
    item: &Map<String, Value>,
) -> StrategicMergeError {
    StrategicMergeError::MissingMergeKey {
        path: path.render(),
        key,
        item: brief(&Value::Object(item.clone())),
    }
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

/// A value as JSON, shortened for an error message.
fn brief(value: &Value) -> String {
    const MAX: usize = 120;
    let text = value.to_string();
    if text.len() <= MAX {
        return text;
    }
    let cut = (0..=MAX)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…", &text[..cut])
}
