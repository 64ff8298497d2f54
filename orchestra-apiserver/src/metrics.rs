//! `/metrics`: the server's own figures in the Prometheus text format, under
//! kube-apiserver's metric names, so the dashboards and alerts written for it read
//! these too.
//!
//! - `apiserver_request_total{verb,resource,subresource,code}`: requests answered;
//! - `apiserver_request_duration_seconds{verb,resource,subresource}`: time to the
//!   response's head (a watch's lifetime is not its latency), as a histogram;
//! - `apiserver_current_inflight_requests{request_kind}`: requests being served,
//!   `readOnly` and `mutating` apart;
//! - `apiserver_longrunning_requests{verb="WATCH",resource}`: open watches.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

/// The upper bounds of the latency histogram's buckets, in seconds (kube-apiserver's
/// lower ones: a server on one machine answers well under a minute).
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 10.0,
    15.0, 30.0, 60.0,
];

/// What a request is, for its labels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RequestLabels {
    /// kube-apiserver's verb: `get`, `list`, `watch`, `create`, `update`, `patch`,
    /// `delete`, `deletecollection`; or the lower-cased method elsewhere.
    pub verb: String,
    /// The plural, or empty for discovery and other documents.
    pub resource: String,
    pub subresource: String,
}

impl RequestLabels {
    fn is_read_only(&self) -> bool {
        matches!(self.verb.as_str(), "get" | "list" | "watch")
    }
}

#[derive(Default)]
struct Histogram {
    /// One count per bucket of [`BUCKETS`], then the count above the last.
    counts: Vec<u64>,
    sum: f64,
    total: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len() + 1];
        }
        let bucket = BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(BUCKETS.len());
        self.counts[bucket] += 1;
        self.sum += seconds;
        self.total += 1;
    }
}

/// The server's counters; shared by every request.
#[derive(Default)]
pub(crate) struct ServerMetrics {
    requests: Mutex<BTreeMap<(RequestLabels, u16), u64>>,
    durations: Mutex<BTreeMap<RequestLabels, Histogram>>,
    inflight_read_only: AtomicI64,
    inflight_mutating: AtomicI64,
    watches: Mutex<BTreeMap<String, i64>>,
}

/// A request being served: counted in flight until dropped.
pub(crate) struct InFlight {
    metrics: Arc<ServerMetrics>,
    read_only: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics
            .inflight(self.read_only)
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// An open watch: counted until dropped.
pub(crate) struct OpenWatch {
    metrics: Arc<ServerMetrics>,
    resource: String,
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        if let Some(open) = self.metrics.watches.lock().get_mut(&self.resource) {
            *open -= 1;
        }
    }
}

impl ServerMetrics {
    fn inflight(&self, read_only: bool) -> &AtomicI64 {
        if read_only {
            &self.inflight_read_only
        } else {
            &self.inflight_mutating
        }
    }

    /// Counts a request in flight until the guard drops.
    pub(crate) fn start(self: &Arc<Self>, labels: &RequestLabels) -> InFlight {
        let read_only = labels.is_read_only();
        self.inflight(read_only).fetch_add(1, Ordering::Relaxed);
        InFlight {
            metrics: self.clone(),
            read_only,
        }
    }

    /// Records an answered request.
    pub(crate) fn record(&self, labels: RequestLabels, code: u16, took: Duration) {
        self.durations
            .lock()
            .entry(labels.clone())
            .or_default()
            .observe(took.as_secs_f64());
        *self.requests.lock().entry((labels, code)).or_insert(0) += 1;
    }

    /// Counts an open watch of `resource` until the guard drops.
    pub(crate) fn watch_opened(self: &Arc<Self>, resource: &str) -> OpenWatch {
        *self.watches.lock().entry(resource.to_owned()).or_insert(0) += 1;
        OpenWatch {
            metrics: self.clone(),
            resource: resource.to_owned(),
        }
    }

    /// The Prometheus text exposition of everything.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Requests answered, by verb, resource, subresource and HTTP code.\n");
        out.push_str("# TYPE apiserver_request_total counter\n");
        for ((labels, code), count) in self.requests.lock().iter() {
            let _ = writeln!(
                out,
                "apiserver_request_total{{{},code=\"{code}\"}} {count}",
                label_text(labels)
            );
        }
        out.push_str("# HELP apiserver_request_duration_seconds Time to the response's head.\n");
        out.push_str("# TYPE apiserver_request_duration_seconds histogram\n");
        for (labels, histogram) in self.durations.lock().iter() {
            let labels = label_text(labels);
            let mut cumulative = 0;
            for (le, count) in BUCKETS.iter().zip(&histogram.counts) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "apiserver_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                histogram.total
            );
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_sum{{{labels}}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_count{{{labels}}} {}",
                histogram.total
            );
        }
        out.push_str("# HELP apiserver_current_inflight_requests Requests being served.\n");
        out.push_str("# TYPE apiserver_current_inflight_requests gauge\n");
        for (kind, gauge) in [
            ("readOnly", &self.inflight_read_only),
            ("mutating", &self.inflight_mutating),
        ] {
            let _ = writeln!(
                out,
                "apiserver_current_inflight_requests{{request_kind=\"{kind}\"}} {}",
                gauge.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP apiserver_longrunning_requests Open watches, by resource.\n");
        out.push_str("# TYPE apiserver_longrunning_requests gauge\n");
        for (resource, open) in self.watches.lock().iter() {
            let _ = writeln!(
                out,
                "apiserver_longrunning_requests{{verb=\"WATCH\",resource=\"{}\"}} {open}",
                escape(resource)
            );
        }
        out
    }
}

fn label_text(labels: &RequestLabels) -> String {
    format!(
        "verb=\"{}\",resource=\"{}\",subresource=\"{}\"",
        escape(&labels.verb),
        escape(&labels.resource),
        escape(&labels.subresource)
    )
}

/// A label value as the text format needs it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(verb: &str) -> RequestLabels {
        RequestLabels {
            verb: verb.into(),
            resource: "pods".into(),
            subresource: String::new(),
        }
    }

    #[test]
    fn requests_in_flight_and_watches_are_counted_while_they_last() {
        let metrics = Arc::new(ServerMetrics::default());
        let get = metrics.start(&labels("get"));
        let create = metrics.start(&labels("create"));
        let watch = metrics.watch_opened("pods");
        let text = metrics.render();
        assert!(text.contains("apiserver_current_inflight_requests{request_kind=\"readOnly\"} 1"));
        assert!(text.contains("apiserver_current_inflight_requests{request_kind=\"mutating\"} 1"));
        assert!(
            text.contains("apiserver_longrunning_requests{verb=\"WATCH\",resource=\"pods\"} 1")
        );
        drop((get, create, watch));
        let text = metrics.render();
        assert!(text.contains("apiserver_current_inflight_requests{request_kind=\"readOnly\"} 0"));
        assert!(
            text.contains("apiserver_longrunning_requests{verb=\"WATCH\",resource=\"pods\"} 0")
        );
    }

    #[test]
    fn answered_requests_count_by_code_with_a_cumulative_histogram() {
        let metrics = ServerMetrics::default();
        metrics.record(labels("get"), 200, Duration::from_millis(3));
        metrics.record(labels("get"), 200, Duration::from_millis(30));
        metrics.record(labels("get"), 404, Duration::from_millis(3));
        let text = metrics.render();
        assert!(text.contains(
            "apiserver_request_total{verb=\"get\",resource=\"pods\",subresource=\"\",code=\"200\"} 2"
        ));
        assert!(text.contains(
            "apiserver_request_total{verb=\"get\",resource=\"pods\",subresource=\"\",code=\"404\"} 1"
        ));
        assert!(text.contains(
            "apiserver_request_duration_seconds_bucket{verb=\"get\",resource=\"pods\",subresource=\"\",le=\"0.005\"} 2"
        ));
        assert!(text.contains(
            "apiserver_request_duration_seconds_bucket{verb=\"get\",resource=\"pods\",subresource=\"\",le=\"0.05\"} 3"
        ));
        assert!(text.contains(
            "apiserver_request_duration_seconds_count{verb=\"get\",resource=\"pods\",subresource=\"\"} 3"
        ));
    }
}
