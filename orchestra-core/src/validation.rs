//! Validation of names, label keys and values, and the error type that reports every
//! problem by the field it is in.
//!
//! The typed API validates every object's metadata with these functions before it
//! writes, so an invalid name (`../x`, `a/b`, `UPPER`) is rejected and never turned into
//! a store key.

use std::fmt;

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The path of the field, e.g. `metadata.name` or `spec.replicas`.
    pub field: String,
    /// What is wrong with it, in lowercase words, quoting the bad value.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem found in one object. Never empty when returned as an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        FieldErrors(Vec::new())
    }

    /// Records that `field` is invalid because of `message`.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Appends every error of `other`.
    pub fn extend(&mut self, other: FieldErrors) {
        self.0.extend(other.0);
    }

    /// Whether no problem was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when empty, else `Err(self)`.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

/// `value` quoted for a message: whole when short, else its start and its length, so
/// that an overlong value the message is about is not printed in full again beside the
/// object's name.
pub fn shown(value: &str) -> String {
    const WHOLE_UP_TO: usize = 64;
    if value.chars().count() <= WHOLE_UP_TO {
        return format!("{value:?}");
    }
    let start: String = value.chars().take(24).collect();
    format!("{start:?}… ({} characters)", value.chars().count())
}

/// Longest DNS-1123 label (a namespace, a container name, a label-key name part).
pub const DNS1123_LABEL_MAX: usize = 63;
/// Longest DNS-1123 subdomain (most object names).
pub const DNS1123_SUBDOMAIN_MAX: usize = 253;
/// Longest label value.
pub const LABEL_VALUE_MAX: usize = 63;

/// Checks a DNS-1123 label: 1–63 lowercase alphanumerics or `-`, starting and ending
/// with an alphanumeric. Returns what is wrong, quoting the value.
pub fn validate_dns1123_label(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if value.len() > DNS1123_LABEL_MAX {
        return Err(format!(
            "{} is longer than {DNS1123_LABEL_MAX} characters",
            shown(value)
        ));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !value.chars().all(ok_char) || !value.starts_with(alnum) || !value.ends_with(alnum) {
        return Err(format!(
            "{} is not a DNS-1123 label: use lowercase letters, digits and '-', \
             starting and ending with a letter or digit",
            shown(value)
        ));
    }
    Ok(())
}

/// Checks a DNS-1123 subdomain: at most 253 characters, dot-separated DNS-1123 labels
/// (`web`, `web.example.com`). This is the rule for most object names, so it rejects
/// anything with `/`, `..`, upper case or whitespace.
pub fn validate_dns1123_subdomain(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        return Err(format!(
            "{} is longer than {DNS1123_SUBDOMAIN_MAX} characters",
            shown(value)
        ));
    }
    if value
        .split('.')
        .any(|part| validate_dns1123_label(part).is_err())
    {
        return Err(format!(
            "{} is not a DNS-1123 subdomain: use lowercase letters, digits, '-' \
             and '.', each dot-separated part starting and ending with a letter or digit",
            shown(value)
        ));
    }
    Ok(())
}

/// Checks a label (or annotation) key: an optional DNS-1123 subdomain prefix and `/`,
/// then a name of 1–63 alphanumerics, `-`, `_` or `.`, starting and ending with an
/// alphanumeric (`app`, `app.kubernetes.io/name`).
pub fn validate_qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        validate_dns1123_subdomain(prefix).map_err(|e| format!("prefix of {}: {e}", shown(key)))?;
    }
    if name.is_empty() {
        return Err(format!("{} has an empty name part", shown(key)));
    }
    if name.len() > DNS1123_LABEL_MAX {
        return Err(format!(
            "name part of {} is longer than {DNS1123_LABEL_MAX} characters",
            shown(key)
        ));
    }
    if !is_label_value_shape(name) {
        return Err(format!(
            "{} is not a qualified name: use letters, digits, '-', '_' and '.', \
             starting and ending with a letter or digit, with an optional DNS prefix and '/'",
            shown(key)
        ));
    }
    Ok(())
}

/// Checks a label value: empty, or 1–63 alphanumerics, `-`, `_` or `.`, starting and
/// ending with an alphanumeric.
pub fn validate_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > LABEL_VALUE_MAX {
        return Err(format!(
            "{} is longer than {LABEL_VALUE_MAX} characters",
            shown(value)
        ));
    }
    if !is_label_value_shape(value) {
        return Err(format!(
            "{} is not a valid label value: use letters, digits, '-', '_' and '.', \
             starting and ending with a letter or digit",
            shown(value)
        ));
    }
    Ok(())
}

fn is_label_value_shape(value: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    value.chars().all(ok_char)
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_a_key_are_rejected() {
        for bad in [
            "../x", "a/b", "..", ".", "", "A", "web ", "-web", "web-", "a..b", "a_b",
        ] {
            assert!(validate_dns1123_subdomain(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["web", "web-1", "a.b.c", "0abc"] {
            validate_dns1123_subdomain(good).unwrap();
        }
        assert!(validate_dns1123_subdomain(&"a".repeat(254)).is_err());
        assert!(validate_dns1123_label("a.b").is_err());
        assert!(validate_dns1123_label(&"a".repeat(64)).is_err());
    }

    #[test]
    fn label_keys_and_values() {
        for good in [
            "app",
            "app.kubernetes.io/name",
            "A_b.c-D",
            "pod-template-hash",
        ] {
            validate_qualified_name(good).unwrap();
        }
        for bad in ["", "/app", "a/", "Example.com/x", "a/b/c", "-x", "x y"] {
            assert!(validate_qualified_name(bad).is_err(), "{bad:?} accepted");
        }
        validate_label_value("").unwrap();
        validate_label_value("web-1.Prod_2").unwrap();
        assert!(validate_label_value("bad value").is_err());
        assert!(validate_label_value(&"v".repeat(64)).is_err());
        let msg = validate_label_value("-x").unwrap_err();
        assert!(msg.contains("\"-x\""), "{msg}");
    }

    #[test]
    fn an_overlong_value_is_not_printed_whole() {
        let long = "x".repeat(300);
        let msg = validate_dns1123_subdomain(&long).unwrap_err();
        assert!(!msg.contains(&long), "{msg}");
        assert!(msg.contains("(300 characters)"), "{msg}");
        assert_eq!(shown("web"), "\"web\"");
    }
}
