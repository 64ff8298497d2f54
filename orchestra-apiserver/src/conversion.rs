//! Versions served by conversion: a group-version the registry does not hold, read
//! and written through one it does.
//!
//! There is one: `autoscaling/v1` HorizontalPodAutoscalers, kept by the registry
//! as `autoscaling/v2`. kubectl up to 1.32 creates every autoscaler through v1
//! (`kubectl autoscale`), and 1.33 falls back to it. A v1 body becomes v2 on the
//! way in and a v2 object v1 on the way out, with Kubernetes' rules: v1's
//! `targetCPUUtilizationPercentage` is v2's CPU `Utilization` metric. A v2 object's
//! other metrics have no v1 field and are left out of its v1 form (kube-apiserver
//! keeps them in an annotation; nothing here reads it).
//!
//! Discovery lists only the registry's version, which clients therefore prefer;
//! the converted one answers the clients that call it by name. It serves get, list,
//! create, replace and delete: a patch or a watch of the v1 form would have to be
//! converted event by event, and clients use v2 for those.

use orchestra_core::ApiResource;
use serde_json::{Map, Value, json};

use crate::discovery::ServedKind;
use crate::route::ResourcePath;

/// A conversion between a served version and the stored one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Conversion {
    /// `autoscaling/v1` HorizontalPodAutoscalers over `autoscaling/v2`.
    AutoscalingV1,
}

impl Conversion {
    /// The stored kind a path names through a converted version, if any.
    pub(crate) fn find(
        kinds: &[ServedKind],
        path: &ResourcePath<'_>,
    ) -> Option<(ServedKind, Conversion)> {
        if (path.group, path.version, path.plural)
            != ("autoscaling", "v1", "horizontalpodautoscalers")
        {
            return None;
        }
        let stored = kinds
            .iter()
            .find(|k| k.resource.is("autoscaling/v2", "HorizontalPodAutoscaler"))?;
        Some((stored.clone(), Conversion::AutoscalingV1))
    }

    /// The resource as served: the stored one in the served version.
    pub(crate) fn served(self, stored: &ApiResource) -> ApiResource {
        match self {
            Conversion::AutoscalingV1 => ApiResource::new(
                stored.group(),
                "v1",
                stored.kind(),
                stored.plural(),
                stored.scope(),
            )
            .with_singular(stored.singular())
            .with_short_names(stored.short_names()),
        }
    }

    /// A served-version object in the stored version. Its status is dropped: the
    /// registry keeps the stored status on every write but a status write.
    pub(crate) fn to_stored(self, mut value: Value) -> Value {
        match self {
            Conversion::AutoscalingV1 => {
                value["apiVersion"] = json!("autoscaling/v2");
                if let Some(object) = value.as_object_mut() {
                    object.remove("status");
                }
                if let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut)
                    && let Some(cpu) = spec.remove("targetCPUUtilizationPercentage")
                    && !cpu.is_null()
                {
                    spec.insert("metrics".into(), json!([cpu_metric(cpu)]));
                }
                value
            }
        }
    }

    /// A stored object in the served version.
    pub(crate) fn to_served(self, mut value: Value) -> Value {
        match self {
            Conversion::AutoscalingV1 => {
                value["apiVersion"] = json!("autoscaling/v1");
                if let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut) {
                    let metrics = spec.remove("metrics");
                    let cpu = metrics
                        .as_ref()
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .find_map(|m| cpu_percent(m, "target", "averageUtilization"));
                    if let Some(cpu) = cpu {
                        spec.insert("targetCPUUtilizationPercentage".into(), cpu);
                    }
                    spec.remove("behavior");
                }
                if let Some(status) = value.get_mut("status").and_then(Value::as_object_mut) {
                    let served = v1_status(status);
                    *status = served;
                }
                value
            }
        }
    }
}

/// The v2 metric v1's `targetCPUUtilizationPercentage` stands for.
fn cpu_metric(percent: Value) -> Value {
    json!({
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}},
    })
}

/// A CPU resource metric's utilization (`section` is `target` in a spec, `current`
/// in a status).
fn cpu_percent(metric: &Value, section: &str, field: &str) -> Option<Value> {
    if metric.get("type")?.as_str()? != "Resource" {
        return None;
    }
    let resource = metric.get("resource")?;
    if resource.get("name")?.as_str()? != "cpu" {
        return None;
    }
    let part = resource.get(section)?;
    if section == "target" && part.get("type")?.as_str()? != "Utilization" {
        return None;
    }
    part.get(field).cloned()
}

/// A v2 status in v1's fields.
fn v1_status(v2: &Map<String, Value>) -> Map<String, Value> {
    let mut v1 = Map::new();
    for field in [
        "observedGeneration",
        "lastScaleTime",
        "currentReplicas",
        "desiredReplicas",
    ] {
        if let Some(value) = v2.get(field) {
            v1.insert(field.into(), value.clone());
        }
    }
    let cpu = v2
        .get("currentMetrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|m| cpu_percent(m, "current", "averageUtilization"));
    if let Some(cpu) = cpu {
        v1.insert("currentCPUUtilizationPercentage".into(), cpu);
    }
    v1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_autoscalers_become_v2_and_back() {
        let v1 = json!({
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "site"},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "site", "apiVersion": "apps/v1"},
                "minReplicas": 2,
                "maxReplicas": 5,
                "targetCPUUtilizationPercentage": 80
            },
            "status": {"currentReplicas": 1, "desiredReplicas": 1}
        });
        let v2 = Conversion::AutoscalingV1.to_stored(v1.clone());
        assert_eq!(
            v2,
            json!({
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "site"},
                "spec": {
                    "scaleTargetRef": {"kind": "Deployment", "name": "site", "apiVersion": "apps/v1"},
                    "minReplicas": 2,
                    "maxReplicas": 5,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
                }
            })
        );
        let mut stored = v2;
        stored["status"] = json!({
            "currentReplicas": 3,
            "desiredReplicas": 4,
            "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 95, "averageValue": "190m"}}}],
            "conditions": [{"type": "AbleToScale", "status": "True"}]
        });
        let served = Conversion::AutoscalingV1.to_served(stored);
        let mut expected = v1;
        expected["status"] = json!({"currentReplicas": 3, "desiredReplicas": 4, "currentCPUUtilizationPercentage": 95});
        assert_eq!(served, expected);
    }

    #[test]
    fn metrics_v1_cannot_say_are_left_out() {
        let stored = json!({
            "apiVersion": "autoscaling/v2",
            "spec": {
                "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}
            }
        });
        assert_eq!(
            Conversion::AutoscalingV1.to_served(stored),
            json!({"apiVersion": "autoscaling/v1", "spec": {"maxReplicas": 5}})
        );
        // Without a CPU target, v1 means the default metric: none is written.
        let v1 = json!({"apiVersion": "autoscaling/v1", "spec": {"maxReplicas": 5}});
        assert_eq!(
            Conversion::AutoscalingV1.to_stored(v1),
            json!({"apiVersion": "autoscaling/v2", "spec": {"maxReplicas": 5}})
        );
    }
}
