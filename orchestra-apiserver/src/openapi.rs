//! The OpenAPI v3 documents `kubectl apply` and `create -f` read before they write:
//! an index of group-versions, and for each a document whose `patch` operations name
//! their kind and take `fieldValidation`, which tells kubectl that the server checks
//! what it is sent, so kubectl needs no schemas of its own.
//!
//! There are no schemas: nothing in this server reads them, and kubectl asks for them
//! only where a document offers them.

use serde_json::{Map, Value, json};

use crate::discovery::ServedKind;

/// The path of a group-version's document under `/openapi/v3/`.
fn document_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `GET /openapi/v3`: where each group-version's document is. The hash changes with
/// the kinds served, so a client's cache of a document never outlives them.
pub(crate) fn index(kinds: &[ServedKind]) -> Value {
    let mut paths = Map::new();
    for kind in kinds {
        let (group, version) = (kind.resource.group(), kind.resource.version());
        let path = document_path(group, version);
        if paths.contains_key(&path) {
            continue;
        }
        let hash = hash_of(
            kinds
                .iter()
                .filter(|k| k.resource.group() == group && k.resource.version() == version),
        );
        paths.insert(
            path.clone(),
            json!({ "serverRelativeURL": format!("/openapi/v3/{path}?hash={hash:016X}") }),
        );
    }
    json!({ "paths": paths })
}

fn hash_of<'a>(kinds: impl Iterator<Item = &'a ServedKind>) -> u64 {
    // FNV-1a: stable across processes and builds, which a cache key must be.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for kind in kinds {
        for byte in kind.resource.plural().bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// `GET /openapi/v3/{api/v1 | apis/G/V}`, or `None` for a group-version not served.
pub(crate) fn document(kinds: &[ServedKind], path: &str) -> Option<Value> {
    let mut paths = Map::new();
    for kind in kinds {
        let r = &kind.resource;
        if document_path(r.group(), r.version()) != path {
            continue;
        }
        let prefix = if r.group().is_empty() {
            format!("/api/{}", r.version())
        } else {
            format!("/apis/{}/{}", r.group(), r.version())
        };
        let object = if r.is_namespaced() {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural())
        } else {
            format!("{prefix}/{}/{{name}}", r.plural())
        };
        paths.insert(
            object,
            json!({
                "patch": {
                    "x-kubernetes-group-version-kind": {
                        "group": r.group(), "version": r.version(), "kind": r.kind()
                    },
                    "parameters": [
                        {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "OK"}}
                }
            }),
        );
    }
    (!paths.is_empty()).then(|| {
        json!({
            "openapi": "3.0.0",
            "info": {"title": "Orchestra", "version": env!("CARGO_PKG_VERSION")},
            "paths": paths,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_core::ApiResource;
    use orchestra_core::kinds::{Deployment, Node};

    fn kinds() -> Vec<ServedKind> {
        [ApiResource::of::<Deployment>(), ApiResource::of::<Node>()]
            .into_iter()
            .map(|resource| ServedKind {
                resource,
                subresources: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn the_index_points_at_one_document_per_group_version() {
        let index = index(&kinds());
        let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
        assert!(index["paths"]["api/v1"].is_object());
    }

    #[test]
    fn documents_offer_server_side_field_validation() {
        let doc = document(&kinds(), "apis/apps/v1").unwrap();
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        assert_eq!(patch["parameters"][0]["name"], "fieldValidation");
        let nodes = document(&kinds(), "api/v1").unwrap();
        assert!(nodes["paths"]["/api/v1/nodes/{name}"].is_object());
        assert!(document(&kinds(), "apis/batch/v1").is_none());
    }
}
