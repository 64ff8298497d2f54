//! The quickstart: a whole cluster in this process, and the user's commands played
//! against it as SDK calls.
//!
//! ```sh
//! cargo run --release --example quickstart                      # memory store, 10 simulated nodes
//! cargo run --release --example quickstart -- --runtime process # replicas are real processes
//! cargo run --release --example quickstart -- --store durable:/tmp/orchestra
//! ```
//!
//! Seven steps, each with a progress bar and its time in the closing table: run 1,000
//! replicas of `my-web-server`; scale to 2,000 and back; autoscale under a synthetic
//! load; roll out `web-server:2`; roll back; stop a node; show the cluster. It runs in
//! real time, so node failure detection is shortened (2 s lease grace, 1 s toleration
//! instead of Kubernetes' 40 s and 300 s) and the autoscaler re-evaluates every second.

mod args;
mod narrate;
mod scenario;
mod serve;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use args::{Command, DemoArgs, RuntimeKind};
use async_trait::async_trait;
use orchestra::cluster::{Cluster, NodeSpec};
use orchestra::core::ResourceExt;
use orchestra::core::kinds::{
    Container, Deployment, Pod, ResourceRequirements, TAINT_NODE_NOT_READY, TAINT_NODE_UNREACHABLE,
    TaintEffect, Toleration, TolerationOperator,
};
use orchestra::runtime::controllers::hpa::MetricsError;
use orchestra::runtime::controllers::{MetricsSource, NodeLifecycleConfig};
use orchestra::runtime::runtimes::SimProfile;

/// The application's name (Deployment name and `app` label).
pub const APP: &str = "my-web-server";
/// How long a node may go silent before it is unreachable (Kubernetes: 40 s).
pub const NODE_GRACE: Duration = Duration::from_secs(2);
/// How long pods stay on an unreachable node (Kubernetes: 300 s).
pub const TOLERATION_SECONDS: i64 = 1;
/// Each replica's CPU request; the autoscaler's utilization is usage over this.
pub const CPU_REQUEST_MILLI: i64 = 10;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let command = match args::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("quickstart: {message}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Serve { port, image } => match serve::serve(port, &image) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("quickstart --serve {port}: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Demo(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            match runtime.block_on(run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("quickstart: {e}");
                    let mut source = e.source();
                    while let Some(cause) = source {
                        eprintln!("  caused by: {cause}");
                        source = cause.source();
                    }
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The load the autoscaler sees: simulated containers' usage, or (process replicas,
/// whose real usage is idle) a synthetic source that plays the same role.
#[derive(Clone)]
pub enum Load {
    /// Through the simulated containers' profile.
    Sim(SimProfile),
    /// Through a metrics source of our own.
    Synthetic(Arc<SyntheticLoad>),
}

impl Load {
    /// Every replica of `image` uses `cpu_milli` millicores from now on.
    pub fn set(&self, image: &str, cpu_milli: u64) {
        match self {
            Load::Sim(profile) => {
                use orchestra::runtime::runtimes::{SimSelector, SimUsage};
                profile.set_usage(
                    SimSelector::image(image),
                    SimUsage::new(cpu_milli, 64 << 20),
                );
            }
            Load::Synthetic(load) => load.0.store(cpu_milli as i64, Ordering::SeqCst),
        }
    }
}

/// Every pod uses the same CPU: the demo's stand-in for real traffic on processes.
#[derive(Default)]
pub struct SyntheticLoad(AtomicI64);

#[async_trait]
impl MetricsSource for SyntheticLoad {
    async fn pod_resource_usage(
        &self,
        pods: &[Arc<Pod>],
        resource: &str,
    ) -> Result<std::collections::HashMap<String, i64>, MetricsError> {
        if resource != "cpu" {
            return Err(MetricsError::Unavailable(format!(
                "no synthetic {resource}"
            )));
        }
        let cpu = self.0.load(Ordering::SeqCst);
        Ok(pods
            .iter()
            .map(|p| (p.name_any().to_owned(), cpu))
            .collect())
    }

    async fn pod_metric(
        &self,
        _pods: &[Arc<Pod>],
        metric: &str,
    ) -> Result<std::collections::HashMap<String, i64>, MetricsError> {
        Err(MetricsError::Unavailable(format!("no synthetic {metric}")))
    }
}

/// What the scenario works with.
pub struct Demo {
    /// The cluster under demonstration.
    pub cluster: Cluster,
    /// The command line's settings.
    pub args: DemoArgs,
    /// The autoscaler's load, to turn up and down.
    pub load: Load,
    /// This binary: process replicas run it with `--serve`.
    pub exe: PathBuf,
    /// Keeps the process nodes' directories until the end.
    _dir: Option<tempfile::TempDir>,
}

async fn run(args: DemoArgs) -> Result<(), BoxError> {
    let store = args
        .store
        .open()
        .await
        .map_err(|e| format!("--store {}: {e}", args.store))?;
    println!(
        "Orchestra quickstart: {} replicas on {} {} nodes, store {}.",
        args.replicas,
        args.nodes,
        match args.runtime {
            RuntimeKind::Sim => "simulated",
            RuntimeKind::Process => "process",
        },
        args.store
    );
    println!(
        "Real time, so node failure detection is shortened for the demo: lease grace {} s, \
         pod toleration {} s (Kubernetes: 40 s and 300 s); the autoscaler looks every second.",
        NODE_GRACE.as_secs(),
        TOLERATION_SECONDS
    );
    if args.runtime == RuntimeKind::Process {
        println!(
            "Each replica is a real process of this binary serving HTTP on 127.0.0.1; they \
             share the host network, hence {} replicas rather than 1,000.",
            args.replicas
        );
    }
    let per_node_pods = (args.replicas as usize * 3 / args.nodes).max(110);
    let configure = move |agent: orchestra::runtime::node::NodeAgentConfig| {
        agent
            .capacity("pods", per_node_pods.to_string().parse().expect("a count"))
            .capacity("cpu", "16".parse().expect("a quantity"))
            .lease_renew_interval(Duration::from_millis(500))
            .relist_period(Duration::from_millis(500))
    };
    let mut dir = None;
    let (nodes, load) = match args.runtime {
        RuntimeKind::Sim => {
            let profile = SimProfile::new();
            (
                NodeSpec::sim(args.nodes).profile(profile.clone()),
                Load::Sim(profile),
            )
        }
        RuntimeKind::Process => {
            let d = tempfile::tempdir()?;
            let spec = NodeSpec::process(args.nodes).dir(d.path());
            dir = Some(d);
            (spec, Load::Synthetic(Arc::default()))
        }
    };
    let mut builder = Cluster::builder()
        .store(store)
        .nodes(nodes.configure(configure))
        .node_lifecycle(
            NodeLifecycleConfig::default()
                .grace_period(NODE_GRACE)
                .eviction_rate(1.0),
        )
        .autoscaler_sync_period(Duration::from_secs(1));
    if let Load::Synthetic(source) = &load {
        builder = builder.autoscaler_metrics(source.clone());
    }
    let cluster = builder.build().await?;
    tokio::time::timeout(Duration::from_secs(60), cluster.wait_ready())
        .await
        .map_err(|_| "the cluster did not become ready within 60 s")??;
    let demo = Demo {
        cluster,
        args,
        load,
        exe: std::env::current_exe()?,
        _dir: dir,
    };
    let result = scenario::run(&demo).await;
    if demo.args.runtime == RuntimeKind::Process {
        // Processes outlive their agents by design: delete the application so the
        // agents stop them before they go.
        scenario::remove_app(&demo).await?;
    }
    demo.cluster.shutdown().await;
    result
}

/// The Deployment the scenario runs: `image`, a small CPU request (the autoscaler
/// measures utilization against it) and a short toleration of unreachable nodes.
pub fn web_server(demo: &Demo, replicas: i32, image: &str) -> Deployment {
    let mut d = Deployment::new(APP, replicas, image);
    let pod = &mut d.spec.template.spec;
    let container = &mut pod.containers[0];
    container.resources = ResourceRequirements {
        requests: [(
            "cpu".to_owned(),
            format!("{CPU_REQUEST_MILLI}m").parse().expect("a quantity"),
        )]
        .into(),
        ..Default::default()
    };
    if demo.args.runtime == RuntimeKind::Process {
        set_process_image(container, &demo.exe, image);
    }
    pod.tolerations = [TAINT_NODE_UNREACHABLE, TAINT_NODE_NOT_READY]
        .into_iter()
        .map(|key| Toleration {
            key: Some(key.into()),
            operator: Some(TolerationOperator::Exists),
            value: None,
            effect: Some(TaintEffect::NoExecute),
            toleration_seconds: Some(TOLERATION_SECONDS),
        })
        .collect();
    pod.termination_grace_period_seconds = Some(2);
    d
}

/// Points a process container at this binary serving `image` on a free port (the
/// image name is then only a label; see `serve.rs` for why not a fixed port).
pub fn set_process_image(container: &mut Container, exe: &std::path::Path, image: &str) {
    container.image = image.into();
    container.command = vec![exe.display().to_string(), "--serve".into(), "0".into()];
    container.args = vec!["--image".into(), image.into()];
}
