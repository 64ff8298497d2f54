//! A simulated cluster's worth of containers in one process: 100,000 containers over
//! 5,000 `SimRuntime`s (one per simulated node), with the memory it takes printed.
//!
//! Its own test binary, because it counts allocations with a global allocator.

use std::alloc::System;
use std::time::Duration;

use orchestra_core::kinds::Container;
use orchestra_core::runtime::{ContainerConfig, PodSandbox, Runtime};
use orchestra_runtime::runtimes::{SimProfile, SimRuntime, SimSelector, SimUsage};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const NODES: usize = 5_000;
const CONTAINERS: usize = 100_000;

#[tokio::test(start_paused = true)]
async fn a_hundred_thousand_containers_over_five_thousand_nodes() {
    let region = Region::new(GLOBAL);
    let profile = SimProfile::new();
    let nodes: Vec<SimRuntime> = (0..NODES)
        .map(|_| SimRuntime::builder().profile(profile.clone()).build())
        .collect();
    let mut ids = Vec::with_capacity(CONTAINERS);
    for i in 0..CONTAINERS {
        let node = &nodes[i % NODES];
        // Pod names and uids as a ReplicaSet makes them: unique per pod.
        let config = ContainerConfig {
            sandbox: PodSandbox {
                uid: format!("6f1c2a4e-8d1b-4c3e-9a7f-{i:012x}"),
                namespace: "default".to_owned(),
                name: format!("web-7d9f8c6b5-{i:05x}"),
            },
            container: Container {
                name: "web".to_owned(),
                image: if i % 2 == 0 { "web:1" } else { "web:2" }.to_owned(),
                ..Container::default()
            },
            attempt: 0,
        };
        ids.push(node.start_container(config).await.unwrap());
    }
    let stats = region.change();
    let live = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
    // The ids are the caller's, not the runtimes'.
    let ids_bytes: usize = ids.iter().map(|id| id.0.capacity() + 24).sum();
    let per_container = (live - ids_bytes as i64) / CONTAINERS as i64;
    println!(
        "{CONTAINERS} sim containers over {NODES} runtimes: {:.1} MiB live ({per_container} bytes per container, runtimes included)",
        (live - ids_bytes as i64) as f64 / (1 << 20) as f64
    );
    // Counted, not timed, so it repeats: about 245 bytes per container are measured
    // (a container's record with the strings of its pod shared, and the B-tree and
    // pod map slots over it); the bound leaves room without letting it double.
    assert!(
        per_container < 512,
        "{per_container} bytes per container ({live} for {CONTAINERS})"
    );

    // Every container runs and answers, an hour of virtual time later.
    profile.set_usage(SimSelector::image("web:2"), SimUsage::new(500, 64 << 20));
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let mut running = 0;
    for node in &nodes {
        for status in node.list_containers().await.unwrap() {
            assert!(status.state.is_running());
            running += 1;
        }
    }
    assert_eq!(running, CONTAINERS);
    let stats = nodes[1].stats(&ids[1]).await.unwrap();
    assert_eq!(stats.cpu_millicores, 500);
}
