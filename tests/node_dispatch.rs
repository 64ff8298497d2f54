//! Many agents in one process over one pod informer: each runs exactly its own node's
//! pods, including pods that existed before it joined.

mod common;

use std::sync::Arc;
use std::time::Duration;

use orchestra::core::kinds::{Container, Pod, PodPhase, PodSpec};
use orchestra::core::{Api, ListParams, ObjectMeta};
use orchestra::runtime::node::{NodeAgent, NodeAgentConfig, PodDispatcher};
use orchestra::runtime::reconcile::Informer;
use orchestra::runtime::runtimes::SimRuntime;
use tokio_util::sync::CancellationToken;

fn pod(name: &str, node: &str) -> Pod {
    Pod {
        metadata: ObjectMeta::namespaced("default", name),
        spec: PodSpec {
            node_name: Some(node.into()),
            containers: vec![Container {
                name: "main".into(),
                image: "web:1".into(),
                ..Default::default()
            }],
            ..Default::default()
        },
        status: None,
    }
}

#[tokio::test(start_paused = true)]
async fn each_agent_gets_only_its_nodes_pods() {
    let (client, _) = common::memory_client();
    let informer = Arc::new(Informer::new(
        Api::<Pod>::all(client.clone()),
        ListParams::default(),
    ));
    let stop = CancellationToken::new();
    {
        let (informer, token) = (informer.clone(), stop.clone());
        tokio::spawn(async move { informer.run(token).await });
    }
    let dispatcher = PodDispatcher::new(informer.clone());
    {
        let (dispatcher, token) = (dispatcher.clone(), stop.clone());
        tokio::spawn(async move { dispatcher.run(token).await });
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // Pods of node-3 exist before its agent joins.
    for i in 0..4 {
        pods.create(&pod(&format!("early-{i}"), "node-3"))
            .await
            .unwrap();
    }
    informer.cache().wait_until_synced().await;

    let mut runtimes = Vec::new();
    for n in 1..=3 {
        let runtime = SimRuntime::new();
        let agent = NodeAgent::new(
            client.clone(),
            Arc::new(runtime.clone()),
            NodeAgentConfig::new(format!("node-{n}")).workers(2),
        );
        let feed = dispatcher.feed(agent.node_name());
        let token = stop.clone();
        tokio::spawn(async move { agent.run_with_feed(feed, token).await.unwrap() });
        runtimes.push(runtime);
    }
    for i in 0..6 {
        pods.create(&pod(&format!("one-{i}"), "node-1"))
            .await
            .unwrap();
    }
    for i in 0..2 {
        pods.create(&pod(&format!("two-{i}"), "node-2"))
            .await
            .unwrap();
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let list = pods.list(&ListParams::default()).await.unwrap().items;
        if list
            .iter()
            .all(|p| p.phase() == PodPhase::Running && p.is_ready())
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not all pods ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let counts: Vec<usize> = runtimes.iter().map(SimRuntime::container_count).collect();
    assert_eq!(counts, [6, 2, 4]);
    stop.cancel();
}
