//! Label selectors: the structured form (`matchLabels`, `matchExpressions`) and the
//! string form (`app=web,tier!=db,env in (a,b),gpu,!spot`), with Kubernetes' matching
//! rules.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::string_map::StringMap;
use crate::validation::{FieldErrors, validate_label_value, validate_qualified_name};

/// Selects objects by their labels. An empty selector selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Each key must have exactly this value.
    #[serde(default, skip_serializing_if = "StringMap::is_empty")]
    pub match_labels: StringMap,
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

impl LabelSelectorRequirement {
    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &StringMap) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            SelectorOperator::In => value.is_some_and(|v| self.values.contains(v)),
            SelectorOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            SelectorOperator::Exists => value.is_some(),
            SelectorOperator::DoesNotExist => value.is_none(),
        }
    }
}

impl LabelSelector {
    /// The empty selector.
    pub fn new() -> Self {
        LabelSelector::default()
    }

    /// The selector that selects everything (the empty one).
    pub fn everything() -> Self {
        LabelSelector::default()
    }

    /// Adds the requirement `key == value`.
    #[must_use]
    pub fn match_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.match_labels.insert(key.into(), value.into());
        self
    }

    /// Adds a requirement.
    #[must_use]
    pub fn match_expression(
        mut self,
        key: impl Into<String>,
        operator: SelectorOperator,
        values: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.match_expressions.push(LabelSelectorRequirement {
            key: key.into(),
            operator,
            values: values.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Whether the selector has no requirement (and so selects everything).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &StringMap) -> bool {
        self.match_labels.is_subset_of(labels)
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// Checks keys, values and operator/value consistency, naming each bad field under
    /// `field_path` (e.g. `spec.selector`).
    pub fn validate(&self, field_path: &str) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        for (k, v) in &self.match_labels {
            let field = format!("{field_path}.matchLabels[{k:?}]");
            if let Err(e) = validate_qualified_name(k) {
                errors.push(field.clone(), e);
            }
            if let Err(e) = validate_label_value(v) {
                errors.push(field, e);
            }
        }
        for (i, r) in self.match_expressions.iter().enumerate() {
            let field = format!("{field_path}.matchExpressions[{i}]");
            if let Err(e) = validate_qualified_name(&r.key) {
                errors.push(format!("{field}.key"), e);
            }
            match r.operator {
                SelectorOperator::In | SelectorOperator::NotIn if r.values.is_empty() => {
                    errors.push(
                        format!("{field}.values"),
                        format!("must not be empty for {:?}", r.operator),
                    );
                }
                SelectorOperator::Exists | SelectorOperator::DoesNotExist
                    if !r.values.is_empty() =>
                {
                    errors.push(
                        format!("{field}.values"),
                        format!("must be empty for {:?}", r.operator),
                    );
                }
                _ => {}
            }
            for v in &r.values {
                if let Err(e) = validate_label_value(v) {
                    errors.push(format!("{field}.values"), e);
                }
            }
        }
        errors.into_result()
    }
}

/// A selector string that does not parse: a bad token, or a key or value that breaks
/// the label rules of [`crate::validation`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("invalid label selector {input:?}: {reason} at position {position}")]
pub struct SelectorParseError {
    /// The whole selector string.
    pub input: String,
    /// What was wrong.
    pub reason: String,
    /// The byte offset where it went wrong.
    pub position: usize,
}

/// Parses the string form: comma-separated `key=value` (or `==`), `key!=value`,
/// `key in (a,b)`, `key notin (a,b)`, `key` (exists) and `!key` (does not exist), with
/// whitespace anywhere between tokens. `key=value` goes to `matchLabels` (unless the
/// key is already there with another value: then it becomes `In [value]`, so
/// `a=1,a=2` selects nothing, as in Kubernetes); everything else goes to
/// `matchExpressions`, with `key!=value` as `NotIn [value]`. Keys and values are checked
/// with [`validate_qualified_name`] and [`validate_label_value`].
///
/// ```
/// use orchestra_core::{LabelSelector, StringMap};
///
/// let selector: LabelSelector = "app=web, tier!=db, !spot".parse().unwrap();
/// let labels = StringMap::from([("app", "web")]);
/// assert!(selector.matches(&labels));
/// assert_eq!(selector.to_string(), "app=web,tier notin (db),!spot");
///
/// let err = "env in (a,".parse::<LabelSelector>().unwrap_err();
/// assert_eq!(err.to_string(), r#"invalid label selector "env in (a,": expected ',' or ')' at position 10"#);
/// ```
impl FromStr for LabelSelector {
    type Err = SelectorParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Parser { input, pos: 0 }.selector()
    }
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, reason: impl Into<String>) -> SelectorParseError {
        SelectorParseError {
            input: self.input.to_owned(),
            reason: reason.into(),
            position: self.pos,
        }
    }

    /// Skips spaces, tabs and newlines, as Kubernetes' lexer does.
    fn skip_spaces(&mut self) {
        let rest = self.rest();
        self.pos += rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_whitespace())
                .len();
    }

    /// Consumes the operator word `keyword` (`in`, `notin`) when it stands alone, that
    /// is, when whitespace or `(` follows it.
    fn keyword(&mut self, keyword: &str) -> bool {
        let standalone = self
            .rest()
            .strip_prefix(keyword)
            .and_then(|after| after.chars().next())
            .is_some_and(|c| c == '(' || c.is_ascii_whitespace());
        if standalone {
            self.pos += keyword.len();
        }
        standalone
    }

    fn rest(&self) -> &str {
        &self.input[self.pos..]
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_spaces();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// A key or value: letters, digits, `-`, `_`, `.`, `/`.
    fn word(&mut self) -> &str {
        self.skip_spaces();
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
            .unwrap_or(self.rest().len());
        self.pos += len;
        &self.input[start..self.pos]
    }

    fn selector(mut self) -> Result<LabelSelector, SelectorParseError> {
        let mut selector = LabelSelector::default();
        self.skip_spaces();
        if self.rest().is_empty() {
            return Ok(selector);
        }
        loop {
            self.requirement(&mut selector)?;
            self.skip_spaces();
            if self.rest().is_empty() {
                return Ok(selector);
            }
            if !self.eat(",") {
                return Err(self.error("expected ','"));
            }
        }
    }

    fn key(&mut self) -> Result<String, SelectorParseError> {
        let start = self.pos;
        let key = self.word().to_owned();
        if key.is_empty() {
            return Err(self.error("expected a label key"));
        }
        validate_qualified_name(&key).map_err(|e| SelectorParseError {
            position: start,
            ..self.error(e)
        })?;
        Ok(key)
    }

    fn value(&mut self) -> Result<String, SelectorParseError> {
        self.skip_spaces();
        let start = self.pos;
        let value = self.word().to_owned();
        validate_label_value(&value).map_err(|e| SelectorParseError {
            position: start,
            ..self.error(e)
        })?;
        Ok(value)
    }

    fn requirement(&mut self, selector: &mut LabelSelector) -> Result<(), SelectorParseError> {
        let push = |s: &mut LabelSelector, key, operator, values| {
            s.match_expressions.push(LabelSelectorRequirement {
                key,
                operator,
                values,
            });
        };
        if self.eat("!") {
            let key = self.key()?;
            push(selector, key, SelectorOperator::DoesNotExist, vec![]);
            return Ok(());
        }
        let key = self.key()?;
        self.skip_spaces();
        if self.eat("!=") {
            let value = self.value()?;
            push(selector, key, SelectorOperator::NotIn, vec![value]);
        } else if self.eat("==") || self.eat("=") {
            let value = self.value()?;
            if selector.match_labels.get(&key).is_some_and(|v| *v != value) {
                push(selector, key, SelectorOperator::In, vec![value]);
            } else {
                selector.match_labels.insert(key, value);
            }
        } else if self.keyword("in") {
            let values = self.value_set()?;
            push(selector, key, SelectorOperator::In, values);
        } else if self.keyword("notin") {
            let values = self.value_set()?;
            push(selector, key, SelectorOperator::NotIn, values);
        } else if self.rest().is_empty() || self.rest().starts_with(',') {
            push(selector, key, SelectorOperator::Exists, vec![]);
        } else {
            return Err(self.error("expected '=', '==', '!=', 'in', 'notin', ',' or the end"));
        }
        Ok(())
    }

    fn value_set(&mut self) -> Result<Vec<String>, SelectorParseError> {
        if !self.eat("(") {
            return Err(self.error("expected '('"));
        }
        let mut values = Vec::new();
        loop {
            values.push(self.value()?);
            if self.eat(")") {
                return Ok(values);
            }
            if !self.eat(",") {
                return Err(self.error("expected ',' or ')'"));
            }
        }
    }
}

/// The string form, `matchLabels` first (`app=web,env in (a,b),!spot`), which parses
/// back to a selector that selects the same label sets. An `In` or `NotIn` without
/// values, which [`LabelSelector::validate`] rejects, has no string form: it prints as
/// `key in ()`, which Kubernetes (and this parser) read as the set of the empty value.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for r in &self.match_expressions {
            parts.push(match r.operator {
                SelectorOperator::In => format!("{} in ({})", r.key, r.values.join(",")),
                SelectorOperator::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
                SelectorOperator::Exists => r.key.clone(),
                SelectorOperator::DoesNotExist => format!("!{}", r.key),
            });
        }
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests;
