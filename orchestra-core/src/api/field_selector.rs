//! Field selectors (`spec.nodeName=node-1,status.phase!=Running`): select objects by
//! the values of fields, which the server reads through the kind's
//! [`Strategy::field_value`](crate::registry::Strategy::field_value).

use std::fmt;
use std::str::FromStr;

/// One `field=value` or `field!=value` requirement.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    /// The dotted field path, e.g. `spec.nodeName`.
    pub field: String,
    /// Whether the field must equal (`true`) or differ from (`false`) the value.
    pub equals: bool,
    /// The value; an absent field reads as `""`.
    pub value: String,
}

/// A conjunction of field requirements. The empty selector selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector that selects everything.
    pub fn everything() -> Self {
        FieldSelector::default()
    }

    /// Adds the requirement `field == value`.
    #[must_use]
    pub fn equals(mut self, field: impl Into<String>, value: impl Into<String>) -> Self {
        self.requirements.push(FieldRequirement {
            field: field.into(),
            equals: true,
            value: value.into(),
        });
        self
    }

    /// Adds the requirement `field != value`.
    #[must_use]
    pub fn not_equals(mut self, field: impl Into<String>, value: impl Into<String>) -> Self {
        self.requirements.push(FieldRequirement {
            field: field.into(),
            equals: false,
            value: value.into(),
        });
        self
    }

    /// The requirements, in order.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether the selector has no requirement.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value required by an `=` requirement on `field`, if any: lets a caller use an
    /// index (e.g. pods by node) instead of scanning.
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.equals && r.field == field)
            .map(|r| r.value.as_str())
    }

    /// Whether an object whose fields `value_of` reads satisfies every requirement (a
    /// field without a value reads as `""`).
    pub fn matches_with(&self, value_of: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let actual = value_of(&r.field).unwrap_or_default();
            (actual == r.value) == r.equals
        })
    }
}

/// A field selector string that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid field selector {input:?}: {reason}")]
pub struct FieldSelectorError {
    /// The whole selector string.
    pub input: String,
    /// What is wrong.
    pub reason: String,
}

impl FromStr for FieldSelector {
    type Err = FieldSelectorError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| FieldSelectorError {
            input: input.to_owned(),
            reason,
        };
        let mut selector = FieldSelector::default();
        if input.trim().is_empty() {
            return Ok(selector);
        }
        for term in input.split(',') {
            let term = term.trim();
            let (field, equals, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(err(format!("term {term:?} has no '=', '==' or '!='")));
            };
            let field = field.trim();
            if field.is_empty()
                || !field
                    .split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
            {
                return Err(err(format!("{field:?} is not a dotted field path")));
            }
            selector.requirements.push(FieldRequirement {
                field: field.to_owned(),
                equals,
                value: value.trim().to_owned(),
            });
        }
        Ok(selector)
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if r.equals { "=" } else { "!=" };
            write!(f, "{}{op}{}", r.field, r.value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        let s: FieldSelector = "spec.nodeName=node-1, status.phase!=Running"
            .parse()
            .unwrap();
        assert_eq!(s.requirements().len(), 2);
        assert_eq!(s.required_value("spec.nodeName"), Some("node-1"));
        assert_eq!(s.to_string(), "spec.nodeName=node-1,status.phase!=Running");
        assert_eq!(s.to_string().parse::<FieldSelector>().unwrap(), s);
        assert!("".parse::<FieldSelector>().unwrap().is_empty());
        // An empty value selects objects without the field (unscheduled pods).
        let s: FieldSelector = "spec.nodeName=".parse().unwrap();
        assert_eq!(s.required_value("spec.nodeName"), Some(""));
    }

    #[test]
    fn rejects_malformed_terms_naming_them() {
        let e = "spec.nodeName".parse::<FieldSelector>().unwrap_err();
        assert!(e.to_string().contains("spec.nodeName"), "{e}");
        assert!("=x".parse::<FieldSelector>().is_err());
        assert!("spec..x=1".parse::<FieldSelector>().is_err());
    }
}
