//! Label selectors: the structured form (`matchLabels`, `matchExpressions`) and the
//! string form (`app=web,tier!=db,env in (a,b)`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Selects objects by their labels. An empty selector selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Each key must have exactly this value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Each expression must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One requirement of a [`LabelSelector`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// How the key relates to the values.
    pub operator: SelectorOperator,
    /// The values for `In` and `NotIn`; empty for `Exists` and `DoesNotExist`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The operator of a [`LabelSelectorRequirement`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SelectorOperator {
    /// The label's value is one of the values.
    In,
    /// The label is absent or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}
// TEMP-MERGE: replaced by the labels branch
impl LabelSelector {
    /// temp
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    }
    /// temp
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }
}
// TEMP-MERGE
impl std::str::FromStr for LabelSelector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut sel = LabelSelector::default();
        if let Some((k, rest)) = s.split_once(" in (") {
            sel.match_labels
                .insert(k.trim().into(), rest.trim_end_matches(')').into());
        } else if let Some((k, v)) = s.split_once('=') {
            sel.match_labels.insert(k.into(), v.into());
        }
        Ok(sel)
    }
}
