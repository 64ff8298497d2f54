//! Discovery: which groups, versions, kinds and subresources the server has, in the
//! aggregated form (`apidiscovery.k8s.io/v2`, one request for everything) and the
//! legacy one (`/api`, `/apis`, one `APIResourceList` per group-version), both built
//! from the kinds registered at the time of the request.

use orchestra_core::registry::Subresource;
use orchestra_core::{ApiResource, Scope};
use serde_json::{Value, json};

/// The Content-Type of an aggregated discovery document; clients recognise the form
/// by it alone, so a plain `application/json` would be read as the legacy form.
pub(crate) const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
/// The same, in the beta version older clients ask for.
pub(crate) const AGGREGATED_V2BETA1: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// The verbs of every kind's collection and objects.
const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// A served kind with its subresources.
#[derive(Clone, Debug)]
pub(crate) struct ServedKind {
    pub resource: ApiResource,
    pub subresources: Vec<Subresource>,
}

/// Which aggregated version an `Accept` header asks for, if any.
pub(crate) fn aggregated_version(accept: &str) -> Option<&'static str> {
    let asks = |version: &str| {
        accept.split(',').any(|part| {
            let params: Vec<&str> = part.split(';').map(str::trim).collect();
            params.contains(&"g=apidiscovery.k8s.io")
                && params.contains(&"as=APIGroupDiscoveryList")
                && params.contains(&version)
        })
    };
    if asks("v=v2") {
        Some("v2")
    } else if asks("v=v2beta1") {
        Some("v2beta1")
    } else {
        None
    }
}

/// The groups in the order their first kind was registered, each with its versions
/// in the same order (the first is the preferred one).
fn groups(kinds: &[ServedKind], core: bool) -> Vec<(&str, Vec<&str>)> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for kind in kinds
        .iter()
        .filter(|k| k.resource.group().is_empty() == core)
    {
        let (group, version) = (kind.resource.group(), kind.resource.version());
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, versions)) if !versions.contains(&version) => versions.push(version),
            Some(_) => {}
            None => groups.push((group, vec![version])),
        }
    }
    groups
}

fn in_group_version<'a>(
    kinds: &'a [ServedKind],
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'a ServedKind> {
    kinds
        .iter()
        .filter(move |k| k.resource.group() == group && k.resource.version() == version)
}

/// The aggregated document of the core group (`core`) or of the others.
pub(crate) fn aggregated(kinds: &[ServedKind], core: bool, api_version: &str) -> Value {
    let items: Vec<Value> = groups(kinds, core)
        .into_iter()
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .into_iter()
                .map(|version| {
                    let resources: Vec<Value> = in_group_version(kinds, group, version)
                        .map(aggregated_resource)
                        .collect();
                    json!({"version": version, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let metadata = if group.is_empty() {
                json!({})
            } else {
                json!({ "name": group })
            };
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{api_version}"),
        "metadata": {},
        "items": items,
    })
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Namespaced => "Namespaced",
        Scope::Cluster => "Cluster",
    }
}

fn aggregated_resource(kind: &ServedKind) -> Value {
    let r = &kind.resource;
    let subresources: Vec<Value> = kind
        .subresources
        .iter()
        .map(|sub| {
            let (group, version, response_kind, verbs) = subresource_shape(r, *sub);
            json!({
                "subresource": sub.name(),
                "responseKind": {"group": group, "version": version, "kind": response_kind},
                "verbs": verbs,
            })
        })
        .collect();
    let mut resource = json!({
        "resource": r.plural(),
        "responseKind": {"group": r.group(), "version": r.version(), "kind": r.kind()},
        "scope": scope_name(r.scope()),
        "singularResource": r.singular(),
        "verbs": VERBS,
    });
    if !r.short_names().is_empty() {
        resource["shortNames"] = json!(r.short_names());
    }
    if !subresources.is_empty() {
        resource["subresources"] = Value::Array(subresources);
    }
    resource
}

/// The group, version and kind a subresource answers with, and its verbs.
fn subresource_shape(
    r: &ApiResource,
    sub: Subresource,
) -> (String, String, String, &'static [&'static str]) {
    match sub {
        Subresource::Scale => (
            "autoscaling".into(),
            "v1".into(),
            "Scale".into(),
            &["get", "patch", "update"],
        ),
        Subresource::Binding => ("".into(), "v1".into(), "Binding".into(), &["create"]),
        // The status subresource, and any the registry adds later, answer with the
        // object itself.
        _ => (
            r.group().into(),
            r.version().into(),
            r.kind().into(),
            &["get", "patch", "update"],
        ),
    }
}

/// `GET /api` in the legacy form.
pub(crate) fn core_versions(kinds: &[ServedKind]) -> Value {
    let versions: Vec<&str> = groups(kinds, true)
        .into_iter()
        .flat_map(|(_, versions)| versions)
        .collect();
    json!({
        "kind": "APIVersions",
        "versions": versions,
        "serverAddressByClientCIDRs": [],
    })
}

fn group_document(group: &str, versions: &[&str]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({
        "name": group,
        "versions": versions,
        "preferredVersion": versions.first().cloned().unwrap_or(Value::Null),
    })
}

/// `GET /apis` in the legacy form.
pub(crate) fn group_list(kinds: &[ServedKind]) -> Value {
    let groups: Vec<Value> = groups(kinds, false)
        .iter()
        .map(|(group, versions)| group_document(group, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}`, or `None` for a group the server does not have.
pub(crate) fn group(kinds: &[ServedKind], name: &str) -> Option<Value> {
    let groups = groups(kinds, false);
    let (group, versions) = groups.iter().find(|(g, _)| *g == name)?;
    let mut doc = group_document(group, versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// `GET /api/v1` or `/apis/{group}/{version}`, or `None` for a group-version the
/// server does not have.
pub(crate) fn resource_list(kinds: &[ServedKind], group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for kind in in_group_version(kinds, group, version) {
        let r = &kind.resource;
        let mut entry = json!({
            "name": r.plural(),
            "singularName": r.singular(),
            "namespaced": r.is_namespaced(),
            "kind": r.kind(),
            "verbs": VERBS,
        });
        if !r.short_names().is_empty() {
            entry["shortNames"] = json!(r.short_names());
        }
        resources.push(entry);
        for sub in &kind.subresources {
            let (sub_group, sub_version, sub_kind, verbs) = subresource_shape(r, *sub);
            let mut entry = json!({
                "name": format!("{}/{}", r.plural(), sub.name()),
                "singularName": "",
                "namespaced": r.is_namespaced(),
                "kind": sub_kind,
                "verbs": verbs,
            });
            if sub_group != r.group() || sub_version != r.version() {
                entry["group"] = json!(sub_group);
                entry["version"] = json!(sub_version);
            }
            resources.push(entry);
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_core::kinds::{Deployment, HorizontalPodAutoscaler, Node, Pod};

    fn kinds() -> Vec<ServedKind> {
        vec![
            ServedKind {
                resource: ApiResource::of::<Pod>(),
                subresources: vec![Subresource::Status, Subresource::Binding],
            },
            ServedKind {
                resource: ApiResource::of::<Node>(),
                subresources: vec![Subresource::Status],
            },
            ServedKind {
                resource: ApiResource::of::<Deployment>(),
                subresources: vec![Subresource::Status, Subresource::Scale],
            },
            ServedKind {
                resource: ApiResource::of::<HorizontalPodAutoscaler>(),
                subresources: vec![Subresource::Status],
            },
        ]
    }

    #[test]
    fn the_accept_header_picks_the_form() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(kubectl), Some("v2"));
        assert_eq!(
            aggregated_version(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            ),
            Some("v2beta1")
        );
        assert_eq!(aggregated_version("application/json, */*"), None);
    }

    #[test]
    fn aggregated_documents_name_every_kind_and_subresource() {
        let kinds = kinds();
        let core = aggregated(&kinds, true, "v2");
        let resources = &core["items"][0]["versions"][0]["resources"];
        assert_eq!(resources[0]["resource"], "pods");
        assert_eq!(resources[0]["shortNames"], json!(["po"]));
        assert_eq!(resources[1]["scope"], "Cluster");
        let apps = aggregated(&kinds, false, "v2");
        assert_eq!(apps["items"][0]["metadata"]["name"], "apps");
        let deployments = &apps["items"][0]["versions"][0]["resources"][0];
        assert_eq!(deployments["subresources"][1]["subresource"], "scale");
        assert_eq!(
            deployments["subresources"][1]["responseKind"],
            json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
        );
    }

    #[test]
    fn legacy_documents() {
        let kinds = kinds();
        assert_eq!(core_versions(&kinds)["versions"], json!(["v1"]));
        let groups = group_list(&kinds);
        assert_eq!(
            groups["groups"][0]["preferredVersion"]["groupVersion"],
            "apps/v1"
        );
        let apps = resource_list(&kinds, "apps", "v1").unwrap();
        assert_eq!(apps["resources"][2]["name"], "deployments/scale");
        assert_eq!(apps["resources"][2]["group"], "autoscaling");
        assert!(resource_list(&kinds, "apps", "v9").is_none());
        assert!(group(&kinds, "batch").is_none());
    }
}
