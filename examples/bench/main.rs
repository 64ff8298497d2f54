//! Orchestra's benchmark program: each scenario prints a readable table and, as its
//! last line, `RESULT {json}` with the figures recorded in BENCHMARKS.md.
//!
//! ```text
//! cargo run --release --example bench -- store --backend memory
//! ```
//!
//! Figures are measured, never asserted: this machine is shared and noisy, so speed
//! targets are checked by reading these numbers, not by tests.

mod apiserver;
mod args;
mod cluster;
mod node;
mod reconcile;
mod report;
mod scheduler;
mod store;

use args::Args;
use cap::Cap;
use mimalloc::MiMalloc;

/// mimalloc, with a count of the bytes live on the heap so memory figures are exact
/// rather than read off the RSS (`Cap` counts; its limit is never reached).
#[global_allocator]
static GLOBAL: Cap<MiMalloc> = Cap::new(MiMalloc, usize::MAX);

fn main() {
    let mut args = Args::from_env();
    let Some(scenario) = args.positional() else {
        eprintln!("{}", usage());
        std::process::exit(2);
    };
    // The scenario's driver runs on the main thread (`block_on`); the runtime's workers
    // take the remaining cores, so the driver and the tasks it measures do not fight
    // over one core.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    // The scheduler, e2e and rollout drivers do a small share of the work (create pods,
    // count events, poll a status), so there the runtime gets every core: the
    // components measured are the ones that need them.
    let workers = match scenario.as_str() {
        "scheduler" | "e2e" | "rollout" => cores,
        _ => cores.saturating_sub(1).max(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let outcome = match scenario.as_str() {
        "store" => runtime.block_on(store::run(&mut args)),
        "reconcile" => runtime.block_on(reconcile::run(&mut args)),
        "scheduler" => runtime.block_on(scheduler::run(&mut args)),
        "e2e" => runtime.block_on(cluster::e2e(&mut args)),
        "rollout" => runtime.block_on(cluster::rollout(&mut args)),
        "process" => runtime.block_on(node::run(&mut args, node::Kind::Process)),
        "sim-node" => runtime.block_on(node::run(&mut args, node::Kind::Sim)),
        "apiserver" => runtime.block_on(apiserver::run(&mut args)),
        "apiserver-client" => runtime.block_on(apiserver::client(&mut args)),
        other => Err(format!("unknown scenario {other:?}\n{}", usage())),
    };
    let outcome = outcome.and_then(|()| args.finish());
    if let Err(message) = outcome {
        eprintln!("bench: {message}");
        std::process::exit(2);
    }
}

fn usage() -> &'static str {
    "usage: bench <scenario> [options]\n\
     scenarios:\n  \
       store --backend memory|durable|etcd|all    get, guarded writes, 64 writers, list of 10k, writes with 100 watchers, watch p99 (etcd needs --features etcd; all = durable vs etcd)\n  \
       reconcile --objects N     N pods through one controller: reconciles/s, cache bytes per object\n  \
       scheduler --nodes N --pods M    M pods placed on N nodes by the reference scheduler: pods/s\n  \
       process --pods N          N real processes (sleep) bound to one node agent: time to all Running\n  \
       sim-node --pods N         N simulated containers bound to one node agent: time to all Running\n  \
       e2e --nodes N --replicas R      a Deployment of R replicas on N simulated nodes: pods/s, startup p50/p99, RSS\n  \
       rollout --replicas R      rolling update of R replicas at 25%/25%: seconds\n  \
       apiserver [--connections C] [--seconds S] [--list-pods N]   the API server over loopback, load from another process: GET and create rates and p99, LIST of N pods\n  \
       (e2e and rollout also take --history REVISIONS and --compression true|false for the MemoryStore)"
}
