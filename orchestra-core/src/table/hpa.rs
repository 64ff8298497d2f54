//! The HorizontalPodAutoscaler table: Name, Reference, Targets, MinPods, MaxPods,
//! Replicas, Age. Targets pairs each metric's current value with its target
//! (`cpu: 40%/80%`), as kube-apiserver writes it.

use serde_json::Value;

use super::{Columns, TableColumnDefinition, age, name_cell};
use crate::kinds::{HorizontalPodAutoscaler, MetricSourceType, MetricSpec, MetricStatus};
use crate::quantity::Quantity;
use crate::time::Time;

/// How many metrics the Targets cell shows before `+ N more...`.
const SHOWN_METRICS: usize = 2;

impl Columns for HorizontalPodAutoscaler {
    fn columns() -> Vec<TableColumnDefinition> {
        vec![
            TableColumnDefinition::name_column(),
            TableColumnDefinition::string("Reference", "The workload it scales, as Kind/name."),
            TableColumnDefinition::string("Targets", "Each metric's current value and its target."),
            TableColumnDefinition::string("MinPods", "The fewest replicas it scales down to."),
            TableColumnDefinition::integer("MaxPods", "The most replicas it scales up to."),
            TableColumnDefinition::integer("Replicas", "How many replicas the workload has now."),
            TableColumnDefinition::age_column(),
        ]
    }

    fn cells(&self, now: Time) -> Vec<Value> {
        let spec = &self.spec;
        let target = &spec.scale_target_ref;
        let current = self.status.as_ref();
        let statuses = current.map_or(&[][..], |s| &s.current_metrics);
        vec![
            name_cell(&self.metadata),
            Value::from(format!("{}/{}", target.kind, target.name)),
            Value::from(targets(&spec.metrics, statuses)),
            Value::from(
                spec.min_replicas
                    .map_or_else(|| "<unset>".to_owned(), |m| m.to_string()),
            ),
            Value::from(spec.max_replicas),
            Value::from(current.map_or(0, |s| s.current_replicas)),
            Value::from(age(self.metadata.creation_timestamp, now)),
        ]
    }
}

/// The Targets cell. Like Kubernetes, it pairs the i-th metric with the i-th current
/// metric, which the autoscaler reports in the spec's order.
fn targets(specs: &[MetricSpec], statuses: &[MetricStatus]) -> String {
    if specs.is_empty() {
        return "<none>".to_owned();
    }
    let texts: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let status = statuses.get(i).filter(|s| s.type_ == spec.type_);
            metric_text(spec, status)
        })
        .collect();
    if texts.len() > SHOWN_METRICS {
        format!(
            "{} + {} more...",
            texts[..SHOWN_METRICS].join(", "),
            texts.len() - SHOWN_METRICS
        )
    } else {
        texts.join(", ")
    }
}

fn metric_text(spec: &MetricSpec, status: Option<&MetricStatus>) -> String {
    let current = status.map(|s| &s.current);
    match (spec.type_, &spec.resource, &spec.pods) {
        (MetricSourceType::Resource, Some(resource), _) => {
            let target = &resource.target;
            if let Some(value) = &target.average_value {
                let now = current.map_or_else(
                    || "<unknown>".to_owned(),
                    |c| quantity(c.average_value.as_ref()),
                );
                format!("{}: {now}/{value}", resource.name)
            } else {
                let now = current
                    .and_then(|c| c.average_utilization)
                    .map_or_else(|| "<unknown>".to_owned(), |u| format!("{u}%"));
                let goal = target
                    .average_utilization
                    .map_or_else(|| "<auto>".to_owned(), |u| format!("{u}%"));
                format!("{}: {now}/{goal}", resource.name)
            }
        }
        (MetricSourceType::Pods, _, Some(pods)) => {
            let now = current.map_or_else(
                || "<unknown>".to_owned(),
                |c| quantity(c.average_value.as_ref()),
            );
            format!("{now}/{}", quantity(pods.target.average_value.as_ref()))
        }
        // Object and External metrics have no fields in this model (validation
        // rejects them), and a metric without its source names nothing to show.
        _ => "<unknown type>".to_owned(),
    }
}

/// A quantity as Kubernetes prints an unset one: `<nil>`.
fn quantity(q: Option<&Quantity>) -> String {
    q.map_or_else(|| "<nil>".to_owned(), Quantity::to_string)
}
