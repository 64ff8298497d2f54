//! `orchestra up`: the in-process cluster plus the API server, until SIGINT or
//! SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use orchestra::apiserver::ApiServer;
use orchestra::cluster::{Cluster, NodeSpec, StoreSpec};
use orchestra::core::Api;
use orchestra::core::api::{DeleteParams, ListParams};
use orchestra::core::kinds::{Deployment, Pod, ReplicaSet};
use orchestra::kubeconfig::Kubeconfig;
use tokio_util::sync::CancellationToken;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a process cluster waits, on the way down, for its pods to stop.
const PROCESS_STOP_WAIT: Duration = Duration::from_secs(45);

#[derive(Args, Debug)]
pub struct UpArgs {
    /// How many nodes.
    #[arg(long, default_value_t = 10)]
    nodes: usize,
    /// Pods each node takes: by default room for 2,000 replicas on 10 nodes with one
    /// of them drained.
    #[arg(long, default_value_t = 250)]
    pods_per_node: u32,
    /// What runs the containers: simulated ones, or real processes on this machine.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Sim)]
    runtime: RuntimeKind,
    /// Where the cluster's state lives: `memory`, `durable:PATH` or `etcd:URL[,URL…]`.
    #[arg(long, default_value = "memory")]
    store: StoreSpec,
    /// The API server's address; plain HTTP, so a loopback address only.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Where to write the kubeconfig.
    #[arg(long, default_value = "orchestra.kubeconfig")]
    kubeconfig: PathBuf,
    /// Where process nodes keep their state and logs (default: a new temporary
    /// directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum RuntimeKind {
    Sim,
    Process,
}

pub async fn run(args: UpArgs) -> Result<(), BoxError> {
    if !args.listen.ip().is_loopback() {
        return Err(format!(
            "--listen {}: the API server speaks plain HTTP without authentication, so it \
             listens only on a loopback address (such as 127.0.0.1)",
            args.listen
        )
        .into());
    }
    if args.nodes == 0 {
        return Err("--nodes must be at least 1".into());
    }
    // Bind first: a port in use is the likeliest failure, and the quickest to report.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("--listen {}: {e}", args.listen))?;
    let address = listener.local_addr()?;
    let store = args
        .store
        .open()
        .await
        .map_err(|e| format!("--store {}: {e}", args.store))?;
    let pods = args.pods_per_node.to_string();
    let mut temporary = None;
    let nodes = match args.runtime {
        RuntimeKind::Sim => NodeSpec::sim(args.nodes),
        RuntimeKind::Process => {
            let dir = match &args.data_dir {
                Some(dir) => dir.clone(),
                None => {
                    let dir = tempfile::tempdir()?;
                    let path = dir.path().to_owned();
                    temporary = Some(dir);
                    path
                }
            };
            NodeSpec::process(args.nodes).dir(dir)
        }
    }
    .configure(move |agent| agent.capacity("pods", pods.parse().expect("a count")));
    eprintln!(
        "starting {} {} nodes over the {} store…",
        args.nodes,
        match args.runtime {
            RuntimeKind::Sim => "simulated",
            RuntimeKind::Process => "process",
        },
        args.store
    );
    let cluster = Cluster::builder().store(store).nodes(nodes).build().await?;
    cluster.wait_ready().await?;

    let stop = CancellationToken::new();
    let server = ApiServer::builder(cluster.registry().clone()).build();
    let serving = tokio::spawn(server.serve(listener, stop.clone()));
    let url = format!("http://{address}");
    Kubeconfig::new(&url)
        .write(&args.kubeconfig)
        .map_err(|e| format!("writing {}: {e}", args.kubeconfig.display()))?;
    let kubeconfig = std::fs::canonicalize(&args.kubeconfig)?;
    println!("Orchestra is up: the API server is at {url}.");
    println!("export KUBECONFIG={}", kubeconfig.display());

    signalled().await?;
    eprintln!("stopping…");
    if args.runtime == RuntimeKind::Process {
        stop_process_pods(&cluster).await;
    }
    stop.cancel();
    serving.await??;
    cluster.shutdown().await;
    drop(temporary);
    Ok(())
}

/// Waits for SIGINT or SIGTERM.
async fn signalled() -> Result<(), BoxError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

/// Processes outlive their agents, as containers outlive a kubelet; a cluster whose
/// state goes with this process would leave them running with nobody to adopt them.
/// So the workloads are deleted, and the agents stop every process within its grace
/// period, before the nodes go.
async fn stop_process_pods(cluster: &Cluster) {
    let client = cluster.client().clone();
    let everything = ListParams::default();
    let delete = DeleteParams::background();
    let deployments: Api<Deployment> = Api::all(client.clone());
    let replica_sets: Api<ReplicaSet> = Api::all(client.clone());
    let pods: Api<Pod> = Api::all(client);
    macro_rules! delete_all {
        ($api:expr, $kind:ty) => {
            if let Ok(list) = $api.list(&everything).await {
                for item in list.items {
                    let ns = item.metadata.namespace.clone().unwrap_or_default();
                    let name = item.metadata.name.clone().unwrap_or_default();
                    let api: Api<$kind> = Api::namespaced(cluster.client().clone(), &ns);
                    if let Err(error) = api.delete(&name, &delete).await {
                        tracing::warn!(%error, %ns, %name, "could not delete on the way down");
                    }
                }
            }
        };
    }
    delete_all!(deployments, Deployment);
    delete_all!(replica_sets, ReplicaSet);
    delete_all!(pods, Pod);
    let deadline = tokio::time::Instant::now() + PROCESS_STOP_WAIT;
    while tokio::time::Instant::now() < deadline {
        match pods.list(&everything).await {
            Ok(list) if list.items.is_empty() => return,
            Ok(list) => eprintln!("waiting for {} pods to stop…", list.items.len()),
            Err(error) => tracing::warn!(%error, "listing pods on the way down"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!(
        "some pods did not stop within {} s",
        PROCESS_STOP_WAIT.as_secs()
    );
}
