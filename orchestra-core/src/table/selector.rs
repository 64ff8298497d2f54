//! A label selector as the Selector column writes it: Kubernetes' canonical string,
//! with the requirements sorted by key and the values of each sorted, which is not
//! the order [`LabelSelector`]'s own `Display` keeps.

use crate::labels::{LabelSelector, SelectorOperator};

/// The selector's canonical string (`app=web,tier in (a,b)`); `None` when the selector
/// is invalid, and empty when it selects everything.
pub(super) fn canonical(selector: &LabelSelector) -> Option<String> {
    selector.validate("selector").ok()?;
    let mut requirements: Vec<(&str, String)> = selector
        .match_labels
        .iter()
        .map(|(key, value)| (key.as_str(), format!("{key}={value}")))
        .collect();
    for r in &selector.match_expressions {
        let mut values: Vec<&str> = r.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        let text = match r.operator {
            SelectorOperator::In => format!("{} in ({})", r.key, values.join(",")),
            SelectorOperator::NotIn => format!("{} notin ({})", r.key, values.join(",")),
            SelectorOperator::Exists => r.key.clone(),
            SelectorOperator::DoesNotExist => format!("!{}", r.key),
        };
        requirements.push((r.key.as_str(), text));
    }
    requirements.sort_by(|a, b| a.0.cmp(b.0));
    let texts: Vec<String> = requirements.into_iter().map(|(_, text)| text).collect();
    Some(texts.join(","))
}

/// The Selector cell of a Deployment: the canonical string, empty for an empty
/// selector, `<invalid>` for one that does not parse.
pub(super) fn deployment_cell(selector: &LabelSelector) -> String {
    canonical(selector).unwrap_or_else(|| "<invalid>".to_owned())
}

/// The Selector cell of a ReplicaSet: the canonical string, `<none>` for an empty
/// selector, `<error>` for one that does not parse.
pub(super) fn replica_set_cell(selector: &LabelSelector) -> String {
    match canonical(selector) {
        Some(text) if text.is_empty() => "<none>".to_owned(),
        Some(text) => text,
        None => "<error>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_are_sorted_by_key_with_sorted_values() {
        let selector: LabelSelector = "zone in (b,a),app=web,!spot,env notin (prod)"
            .parse()
            .unwrap();
        assert_eq!(
            canonical(&selector).unwrap(),
            "app=web,env notin (prod),!spot,zone in (a,b)"
        );
    }

    #[test]
    fn an_empty_selector_is_empty_for_deployments_and_none_for_replica_sets() {
        let empty = LabelSelector::default();
        assert_eq!(deployment_cell(&empty), "");
        assert_eq!(replica_set_cell(&empty), "<none>");
    }
}
