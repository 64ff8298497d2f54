//! Merging lists: by merge key or as sets of primitives, with the `$patch` items of a
//! merging list, and the ordering rules — the patch's order, the object's order, and
//! `$setElementOrder` — that decide where each item of the result stands.

use serde_json::{Map, Value};

use super::{
    FieldStrategy, PATCH, PatchSchema, Path, SET_ELEMENT_ORDER, StrategicMergeError, brief, field,
    fresh_list, fresh_map, invalid, kind_of, merge_map, missing_key, unknown_patch_value,
};

/// Merges the list field `name` of `original` with the patch's list (if any) and puts
/// it in the order `order` gives.
pub(super) fn set_element_order(
    original: &mut Map<String, Value>,
    name: &str,
    order: &Value,
    patch_list: Option<&Value>,
    schema: &PatchSchema,
    path: &Path<'_>,
) -> Result<(), StrategicMergeError> {
    let directive = || format!("{SET_ELEMENT_ORDER}{name}");
    let here = field(path, name);
    let Value::Array(order) = order else {
        return Err(invalid(path, &directive(), "it must be a list"));
    };
    let strategy = schema.field(name);
    let key = match strategy {
        Some(FieldStrategy::MergeByKey { key, .. }) => Some(*key),
        _ => None,
    };
    let old = match original.get(name) {
        None => None,
        Some(Value::Array(old)) => Some(old.clone()),
        Some(other) => {
            return Err(invalid(
                path,
                &directive(),
                format!("the object's {name:?} is {}, not a list", kind_of(other)),
            ));
        }
    };
    let new = match patch_list {
        None => None,
        Some(Value::Array(new)) => Some(new.as_slice()),
        Some(other) => {
            return Err(invalid(
                path,
                &directive(),
                format!("the patch's {name:?} is {}, not a list", kind_of(other)),
            ));
        }
    };
    check_order_covers_patch(new.unwrap_or_default(), order, key, &here, &directive)?;

    let order_ids = identities(order, key, &here)?;
    let server_ids = identities(old.as_deref().unwrap_or_default(), key, &here)?;
    let merged = match (old, new) {
        (Some(old), None) => old,
        (old, Some(new)) => merge_list_field(old.unwrap_or_default(), new, strategy, &here)?,
        (None, None) => return Ok(()),
    };
    let (mut listed, mut unlisted) = (Vec::new(), Vec::new());
    for item in merged {
        let id = identity(&item, key, &here)?;
        if order_ids.contains(&id) {
            listed.push((id, item));
        } else {
            unlisted.push((id, item));
        }
    }
    sort_by_rank(&mut listed, &order_ids);
    sort_by_rank(&mut unlisted, &server_ids);
    let both = interleave(unlisted, listed, &server_ids);
    original.insert(name.to_owned(), Value::Array(both));
    Ok(())
}

/// Checks that the patch's items (but deletions) appear in the `$setElementOrder` list,
/// in the same relative order.
fn check_order_covers_patch(
    patch: &[Value],
    order: &[Value],
    key: Option<&'static str>,
    path: &Path<'_>,
    directive: &dyn Fn() -> String,
) -> Result<(), StrategicMergeError> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut items = patch
        .iter()
        .filter(|item| key.is_none() || !item.get(PATCH).is_some_and(|d| d == "delete"));
    let mut next = items.next();
    for listed in order {
        // Other directive items ({"$patch": "replace"}) have no place in the order.
        while next.is_some_and(|item| key.is_some() && item.get(PATCH).is_some()) {
            next = items.next();
        }
        let Some(item) = next else { break };
        if identity(item, key, path)? == identity(listed, key, path)? {
            next = items.next();
        }
    }
    while next.is_some_and(|item| key.is_some() && item.get(PATCH).is_some()) {
        next = items.next();
    }
    match next {
        None => Ok(()),
        Some(item) => Err(invalid(
            path,
            &directive(),
            format!(
                "the patch's item {} is not in it, or not in the same order",
                brief(item)
            ),
        )),
    }
}

/// Merges a list field by its strategy: merging lists merge, others are replaced.
pub(super) fn merge_list_field(
    original: Vec<Value>,
    patch: &[Value],
    strategy: Option<&FieldStrategy>,
    path: &Path<'_>,
) -> Result<Vec<Value>, StrategicMergeError> {
    match strategy {
        Some(FieldStrategy::MergeByKey { key, items, .. }) => {
            merge_list(original, patch, Some((key, items)), path)
        }
        Some(FieldStrategy::PrimitiveSet) => merge_list(original, patch, None, path),
        _ => fresh_list(patch, path),
    }
}

/// Merges a merging list: by `keyed`'s key with its items' schema, or (without one) as
/// a set of primitives. The result keeps the patch's order for the patch's items and
/// the object's order for the others, interleaved as they stood in the object.
fn merge_list(
    original: Vec<Value>,
    patch: &[Value],
    keyed: Option<(&'static str, &PatchSchema)>,
    path: &Path<'_>,
) -> Result<Vec<Value>, StrategicMergeError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let objects = check_item_types(&original, patch, path)?;
    if !objects {
        // A set of primitives: the patch's values in its order, then interleaved with
        // the values only the object has.
        let mut added: Vec<(Value, Value)> = Vec::new();
        for v in patch {
            if !added.iter().any(|(id, _)| id == v) {
                added.push((v.clone(), v.clone()));
            }
        }
        let mut kept: Vec<(Value, Value)> = Vec::new();
        for v in &original {
            if !patch.contains(v) && !kept.iter().any(|(id, _)| id == v) {
                kept.push((v.clone(), v.clone()));
            }
        }
        return Ok(interleave(kept, added, &original));
    }
    let Some((key, items)) = keyed else {
        return Err(StrategicMergeError::UnmergeableList {
            path: path.render(),
            reason: "a list of objects merges only on a merge key, and this one has none"
                .to_owned(),
        });
    };

    // Directive items first: deletions from the object, and whether to replace.
    let mut base = original;
    let mut plain: Vec<&Map<String, Value>> = Vec::new();
    let mut replace = false;
    for item in patch {
        let Value::Object(item) = item else {
            unreachable!("check_item_types found only objects")
        };
        let Some(directive) = item.get(PATCH) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(id) = item.get(key) else {
                    return Err(missing_key(path, key, item));
                };
                base.retain(|old| old.get(key) != Some(id));
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(invalid(
                    path,
                    PATCH,
                    "\"merge\" cannot be given for an item of a list",
                ));
            }
            _ => return Err(unknown_patch_value(directive, path)),
        }
    }
    if replace {
        return plain
            .into_iter()
            .map(|item| fresh_map(item, items, path, &[]).map(Value::Object))
            .collect();
    }

    let server_ids = identities(&base, Some(key), path)?;
    let mut patch_ids = Vec::with_capacity(plain.len());
    for item in plain {
        let Some(id) = item.get(key) else {
            return Err(missing_key(path, key, item));
        };
        patch_ids.push(id.clone());
        let here = Path::Item(path, key, id);
        match base.iter().position(|old| old.get(key) == Some(id)) {
            Some(at) => {
                let Value::Object(old) = std::mem::take(&mut base[at]) else {
                    unreachable!("check_item_types found only objects")
                };
                base[at] = Value::Object(merge_map(old, item, items, &here)?);
            }
            None => base.push(Value::Object(fresh_map(item, items, &here, &[])?)),
        }
    }

    let (mut from_patch, mut kept) = (Vec::new(), Vec::new());
    for item in base {
        let id = identity(&item, Some(key), path)?;
        if patch_ids.contains(&id) {
            from_patch.push((id, item));
        } else {
            kept.push((id, item));
        }
    }
    sort_by_rank(&mut from_patch, &patch_ids);
    Ok(interleave(kept, from_patch, &server_ids))
}

/// Whether the items of both lists are objects (else primitives); refuses lists of
/// lists and lists whose items differ in type.
fn check_item_types(
    original: &[Value],
    patch: &[Value],
    path: &Path<'_>,
) -> Result<bool, StrategicMergeError> {
    let mut first: Option<&'static str> = None;
    for item in original.iter().chain(patch) {
        let kind = kind_of(item);
        if kind == "array" {
            return Err(StrategicMergeError::UnmergeableList {
                path: path.render(),
                reason: "lists of lists are not supported".to_owned(),
            });
        }
        match first {
            None => first = Some(kind),
            Some(seen) if seen != kind => {
                return Err(StrategicMergeError::UnmergeableList {
                    path: path.render(),
                    reason: format!("it holds both {seen} and {kind} items"),
                });
            }
            Some(_) => {}
        }
    }
    Ok(first == Some("object"))
}

/// What identifies a list item: its merge key's value, or (in a list of primitives)
/// the item itself.
fn identity(
    item: &Value,
    key: Option<&'static str>,
    path: &Path<'_>,
) -> Result<Value, StrategicMergeError> {
    let Some(key) = key else {
        return Ok(item.clone());
    };
    match item {
        Value::Object(map) => map
            .get(key)
            .cloned()
            .ok_or_else(|| missing_key(path, key, map)),
        other => Err(StrategicMergeError::UnmergeableList {
            path: path.render(),
            reason: format!(
                "items merged on {key:?} must be objects, got {}",
                brief(other)
            ),
        }),
    }
}

/// The identities of a list's items, in its order.
fn identities(
    list: &[Value],
    key: Option<&'static str>,
    path: &Path<'_>,
) -> Result<Vec<Value>, StrategicMergeError> {
    list.iter().map(|item| identity(item, key, path)).collect()
}

/// Where the item identified by `id` stands among `ids`.
fn rank(ids: &[Value], id: &Value) -> Option<usize> {
    ids.iter().position(|other| other == id)
}

/// Sorts `(identity, item)` pairs by where they stand among `ids`; items missing
/// there go last, in their order.
fn sort_by_rank(items: &mut [(Value, Value)], ids: &[Value]) {
    items.sort_by_key(|(id, _)| rank(ids, id).unwrap_or(usize::MAX));
}

/// Merges two ordered lists of `(identity, item)` into one, keeping each list's own
/// order: an item of `kept` (the object's items the patch does not order) goes before
/// the next item of `placed` when it stood before it in the object (`server_ids`, its
/// items' identities in order). So kept items stay where they were relative to the
/// placed ones, and a placed item the object did not have goes first.
fn interleave(
    kept: Vec<(Value, Value)>,
    placed: Vec<(Value, Value)>,
    server_ids: &[Value],
) -> Vec<Value> {
    let mut out = Vec::with_capacity(kept.len() + placed.len());
    let mut kept = kept.into_iter().peekable();
    let mut placed = placed.into_iter().peekable();
    loop {
        let take_kept = match (kept.peek(), placed.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((k, _)), Some((p, _))) => match (rank(server_ids, k), rank(server_ids, p)) {
                (Some(ki), Some(pi)) => ki < pi,
                _ => false,
            },
        };
        let next = if take_kept {
            kept.next()
        } else {
            placed.next()
        };
        out.extend(next.map(|(_, item)| item));
    }
    out
}
