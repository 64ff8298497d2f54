//! The query parameters of a request, decoded into the registry's parameters.
//!
//! Parameters the server does not use (`timeout`, `fieldManager`, `pretty`, …) are
//! ignored, as kube-apiserver ignores what it does not know; a parameter it uses with
//! a value it cannot read is a 400 that names the parameter.

use std::collections::HashMap;
use std::time::Duration;

use orchestra_core::api::{
    ApiError, DeleteParams, FieldSelector, ListParams, PropagationPolicy, VersionMatch, WatchParams,
};
use orchestra_core::{LabelSelector, Revision};
use percent_encoding::percent_decode_str;

/// The decoded query of one request: the last value of each name.
#[derive(Debug, Default)]
pub(crate) struct Query {
    values: HashMap<String, String>,
}

impl Query {
    /// Decodes `raw` (`a=1&b=x%3Dy`); `+` is a space, as in a form.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut values = HashMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            values.insert(decode(name)?, decode(value)?);
        }
        Ok(Query { values })
    }

    /// The value of `name`, if given.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.get(name)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A boolean parameter: `true`/`1` or `false`/`0`, absent is false.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("" | "false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => Err(invalid(name, other, "must be true or false")),
        }
    }

    /// Whether the request is a watch (`watch=true`).
    pub(crate) fn is_watch(&self) -> Result<bool, ApiError> {
        self.flag("watch")
    }

    fn labels(&self) -> Result<Option<LabelSelector>, ApiError> {
        match self.get("labelSelector").filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}"))),
        }
    }

    fn fields(&self) -> Result<Option<FieldSelector>, ApiError> {
        match self.get("fieldSelector").filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|e: orchestra_core::api::FieldSelectorError| {
                    ApiError::bad_request(e.to_string())
                }),
        }
    }

    /// `resourceVersion`: `None` when absent or empty.
    pub(crate) fn resource_version(&self) -> Result<Option<Revision>, ApiError> {
        match self.get("resourceVersion").filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(rv) => rv
                .parse()
                .map(Some)
                .map_err(|_| invalid("resourceVersion", rv, "must be a resource version")),
        }
    }

    /// The parameters of a list.
    pub(crate) fn list_params(&self) -> Result<ListParams, ApiError> {
        let mut params = ListParams::default();
        params.label_selector = self.labels()?;
        params.field_selector = self.fields()?;
        params.limit = match self.get("limit").filter(|s| !s.is_empty()) {
            None => None,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                // Kubernetes reads zero and below as no limit.
                Ok(_) => None,
                Err(_) => return Err(invalid("limit", l, "must be an integer")),
            },
        };
        params.continue_token = self
            .get("continue")
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        params.resource_version = self.resource_version()?;
        params.version_match = match self.get("resourceVersionMatch") {
            None | Some("") | Some("NotOlderThan") => VersionMatch::NotOlderThan,
            Some("Exact") => VersionMatch::Exact,
            Some(other) => {
                return Err(invalid(
                    "resourceVersionMatch",
                    other,
                    "supported values: \"Exact\", \"NotOlderThan\"",
                ));
            }
        };
        if params.version_match == VersionMatch::Exact && params.resource_version.is_none() {
            return Err(ApiError::bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if params.continue_token.is_some() && params.resource_version.is_some() {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        Ok(params)
    }

    /// The parameters of a watch, and whether the current objects are to be sent
    /// first (`sendInitialEvents=true`, or no resourceVersion as Kubernetes reads
    /// it: `""` or `"0"`).
    pub(crate) fn watch_params(&self) -> Result<(WatchParams, InitialEvents), ApiError> {
        let mut params = WatchParams::default();
        params.label_selector = self.labels()?;
        params.field_selector = self.fields()?;
        params.bookmarks = self.flag("allowWatchBookmarks")?;
        params.timeout = match self.get("timeoutSeconds").filter(|s| !s.is_empty()) {
            None => None,
            Some(t) => match t.parse::<u64>() {
                Ok(secs) => Some(Duration::from_secs(secs)),
                Err(_) => return Err(invalid("timeoutSeconds", t, "must be a whole number")),
            },
        };
        let rv = self.resource_version()?.filter(|rv| *rv != 0);
        let initial = match self.get("sendInitialEvents") {
            None | Some("") => {
                if rv.is_none() {
                    InitialEvents::Added
                } else {
                    InitialEvents::None
                }
            }
            Some("true") => {
                if !params.bookmarks {
                    return Err(ApiError::bad_request(
                        "sendInitialEvents requires allowWatchBookmarks=true",
                    ));
                }
                if self.get("resourceVersionMatch") != Some("NotOlderThan") {
                    return Err(ApiError::bad_request(
                        "sendInitialEvents requires resourceVersionMatch=NotOlderThan",
                    ));
                }
                InitialEvents::AddedThenBookmark
            }
            Some("false") => InitialEvents::None,
            Some(other) => {
                return Err(invalid("sendInitialEvents", other, "must be true or false"));
            }
        };
        params.resource_version = rv;
        Ok((params, initial))
    }

    /// The parameters of a delete given in the query (a body may add to them).
    pub(crate) fn delete_params(&self) -> Result<DeleteParams, ApiError> {
        let mut params = DeleteParams::default();
        if let Some(policy) = self.get("propagationPolicy").filter(|s| !s.is_empty()) {
            params.propagation_policy = Some(propagation(policy)?);
        }
        if let Some(grace) = self.get("gracePeriodSeconds").filter(|s| !s.is_empty()) {
            params.grace_period_seconds = Some(
                grace
                    .parse()
                    .map_err(|_| invalid("gracePeriodSeconds", grace, "must be an integer"))?,
            );
        }
        Ok(params)
    }

    /// Whether the request asks for a dry run, which this server does not do.
    pub(crate) fn dry_run(&self) -> bool {
        self.get("dryRun").is_some_and(|v| !v.is_empty())
    }
}

/// What a watch sends before the changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InitialEvents {
    /// Nothing: the changes after the given resourceVersion.
    None,
    /// An ADDED event for each current object.
    Added,
    /// The ADDED events, then a bookmark saying they are complete.
    AddedThenBookmark,
}

/// A propagation policy by its Kubernetes name.
pub(crate) fn propagation(policy: &str) -> Result<PropagationPolicy, ApiError> {
    match policy {
        "Background" => Ok(PropagationPolicy::Background),
        "Foreground" => Ok(PropagationPolicy::Foreground),
        "Orphan" => Ok(PropagationPolicy::Orphan),
        other => Err(invalid(
            "propagationPolicy",
            other,
            "supported values: \"Background\", \"Foreground\", \"Orphan\"",
        )),
    }
}

fn decode(s: &str) -> Result<String, ApiError> {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| ApiError::bad_request(format!("query parameter {s:?} is not UTF-8")))
}

fn invalid(name: &str, value: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("invalid value {value:?} for {name}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_and_paging_decode() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb%2Ctier+in+(a%2Cb)&fieldSelector=spec.nodeName%3Dn1&limit=500&timeout=32s",
        ))
        .unwrap();
        let p = q.list_params().unwrap();
        assert_eq!(
            p.label_selector.unwrap().to_string(),
            "app=web,tier in (a,b)"
        );
        assert_eq!(p.field_selector.unwrap().to_string(), "spec.nodeName=n1");
        assert_eq!(p.limit, Some(500));
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (query, names) in [
            ("limit=ten", "limit"),
            ("resourceVersion=abc", "resourceVersion"),
            (
                "resourceVersionMatch=Newest&resourceVersion=1",
                "resourceVersionMatch",
            ),
            ("watch=maybe", "watch"),
            ("propagationPolicy=Sometimes", "propagationPolicy"),
        ] {
            let q = Query::parse(Some(query)).unwrap();
            let err = q
                .list_params()
                .and(q.is_watch().map(|_| ListParams::default()))
                .and(q.delete_params().map(|_| ListParams::default()))
                .unwrap_err();
            assert_eq!(err.code(), 400, "{query}");
            assert!(err.message().contains(names), "{query}: {}", err.message());
        }
        let q = Query::parse(Some("labelSelector=a%20in%20(b")).unwrap();
        assert_eq!(q.list_params().unwrap_err().code(), 400);
    }

    #[test]
    fn a_watch_without_a_version_starts_with_the_current_objects() {
        let q = Query::parse(Some("watch=1&resourceVersion=0")).unwrap();
        assert_eq!(q.watch_params().unwrap().1, InitialEvents::Added);
        let q = Query::parse(Some("watch=1&resourceVersion=12")).unwrap();
        let (params, initial) = q.watch_params().unwrap();
        assert_eq!(
            (params.resource_version, initial),
            (Some(12), InitialEvents::None)
        );
        let q = Query::parse(Some(
            "watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan",
        ))
        .unwrap();
        assert_eq!(
            q.watch_params().unwrap().1,
            InitialEvents::AddedThenBookmark
        );
        let q = Query::parse(Some("watch=1&sendInitialEvents=true")).unwrap();
        assert_eq!(q.watch_params().unwrap_err().code(), 400);
    }
}
