//! What a request's path names, by the Kubernetes API's path rules: a discovery
//! document, or a collection, an object or a subresource of one kind.
//!
//! Parsing is pure and knows no kinds; [`crate::rest`] then looks the plural up among
//! the registered kinds.

/// What a path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// `/api`: the core group's versions.
    CoreVersions,
    /// `/apis`: every other group.
    Groups,
    /// `/apis/{group}`: one group's versions.
    Group(&'a str),
    /// `/api/v1` or `/apis/{group}/{version}`: the resources of one group-version.
    GroupVersion { group: &'a str, version: &'a str },
    /// A collection, object or subresource.
    Resource(ResourcePath<'a>),
}

/// A path under a group-version that names resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResourcePath<'a> {
    pub group: &'a str,
    pub version: &'a str,
    /// The namespace of `/namespaces/{ns}/{plural}…`; `None` for a cluster-scoped
    /// kind, or for a namespaced kind across all namespaces.
    pub namespace: Option<&'a str>,
    pub plural: &'a str,
    pub name: Option<&'a str>,
    pub subresource: Option<&'a str>,
}

/// The subresources of a Namespace object, which sit where another kind's
/// collection would: `/api/v1/namespaces/{name}/status`.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// The route of `path` (without its query), or `None` for a path the API does not
/// have.
pub(crate) fn parse(path: &str) -> Option<Route<'_>> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let mut segments = path.strip_prefix('/')?.split('/');
    match segments.next()? {
        "api" => match segments.next() {
            None => Some(Route::CoreVersions),
            Some(version) => under_group_version("", version, segments),
        },
        "apis" => match (segments.next(), segments.next()) {
            (None, _) => Some(Route::Groups),
            (Some(group), None) => non_empty(group).map(Route::Group),
            (Some(group), Some(version)) => {
                under_group_version(non_empty(group)?, version, segments)
            }
        },
        _ => None,
    }
}

fn non_empty(segment: &str) -> Option<&str> {
    (!segment.is_empty()).then_some(segment)
}

fn under_group_version<'a>(
    group: &'a str,
    version: &'a str,
    rest: impl Iterator<Item = &'a str>,
) -> Option<Route<'a>> {
    let version = non_empty(version)?;
    let rest: Vec<&str> = rest.collect();
    if rest.iter().any(|s| s.is_empty()) {
        return None;
    }
    let (namespace, rest) = match rest.as_slice() {
        ["namespaces", ns, next, tail @ ..] if !NAMESPACE_SUBRESOURCES.contains(next) => {
            (Some(*ns), [&[*next][..], tail].concat())
        }
        _ => (None, rest),
    };
    let path = |plural, name, subresource| ResourcePath {
        group,
        version,
        namespace,
        plural,
        name,
        subresource,
    };
    match rest.as_slice() {
        [] => Some(Route::GroupVersion { group, version }),
        [plural] => Some(Route::Resource(path(plural, None, None))),
        [plural, name] => Some(Route::Resource(path(plural, Some(*name), None))),
        [plural, name, sub] => Some(Route::Resource(path(plural, Some(*name), Some(*sub)))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(path: &str) -> ResourcePath<'_> {
        match parse(path) {
            Some(Route::Resource(r)) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn discovery_paths() {
        assert_eq!(parse("/api"), Some(Route::CoreVersions));
        assert_eq!(parse("/api/"), Some(Route::CoreVersions));
        assert_eq!(parse("/apis"), Some(Route::Groups));
        assert_eq!(parse("/apis/apps"), Some(Route::Group("apps")));
        assert_eq!(
            parse("/api/v1"),
            Some(Route::GroupVersion {
                group: "",
                version: "v1"
            })
        );
        assert_eq!(
            parse("/apis/apps/v1"),
            Some(Route::GroupVersion {
                group: "apps",
                version: "v1"
            })
        );
    }

    #[test]
    fn namespaced_paths() {
        let r = resource("/apis/apps/v1/namespaces/default/deployments/web/scale");
        assert_eq!(
            (
                r.group,
                r.version,
                r.namespace,
                r.plural,
                r.name,
                r.subresource
            ),
            (
                "apps",
                "v1",
                Some("default"),
                "deployments",
                Some("web"),
                Some("scale")
            )
        );
        let r = resource("/api/v1/namespaces/default/pods");
        assert_eq!(
            (r.namespace, r.plural, r.name),
            (Some("default"), "pods", None)
        );
    }

    #[test]
    fn cluster_scoped_and_all_namespaces_paths() {
        let r = resource("/api/v1/nodes/node-1");
        assert_eq!(
            (r.namespace, r.plural, r.name),
            (None, "nodes", Some("node-1"))
        );
        let r = resource("/api/v1/pods");
        assert_eq!((r.namespace, r.plural, r.name), (None, "pods", None));
    }

    #[test]
    fn namespaces_are_objects_too() {
        let r = resource("/api/v1/namespaces/default");
        assert_eq!(
            (r.plural, r.name, r.subresource),
            ("namespaces", Some("default"), None)
        );
        let r = resource("/api/v1/namespaces/default/status");
        assert_eq!(
            (r.namespace, r.plural, r.name, r.subresource),
            (None, "namespaces", Some("default"), Some("status"))
        );
    }

    #[test]
    fn paths_the_api_does_not_have() {
        for path in [
            "",
            "/",
            "/version/x",
            "/apis//v1",
            "/api/v1/namespaces/default/pods/web/status/extra",
            "/api/v1/pods//x",
            "/healthz",
        ] {
            assert_eq!(parse(path), None, "{path}");
        }
    }
}
