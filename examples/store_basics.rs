//! The typed object API over an in-process registry and store: create, optimistic
//! concurrency, watch. Run it with `cargo run --example store_basics`.

use std::sync::Arc;

use futures::StreamExt;
use orchestra::core::kinds::Deployment;
use orchestra::core::{Api, Client, ListParams, ObjectEvent, Registry, ResourceExt};
use orchestra::store::MemoryStore;

fn web_server(image: &str) -> Deployment {
    Deployment::new("my-web-server", 3, image)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The registry is the server side (every object rule, over the store); the client
    // is what a controller or a tool holds.
    let client = Client::new(Registry::new(Arc::new(MemoryStore::new())));
    let deployments: Api<Deployment> = Api::namespaced(client, "default");

    // Create: the API assigns uid, creationTimestamp, generation and defaults.
    let created = deployments.create(&web_server("web-server:1")).await?;
    println!(
        "created {} uid={} resourceVersion={} generation={:?} strategy={:?}",
        created.object_key(),
        created.uid(),
        created.resource_version(),
        created.metadata.generation,
        created.strategy_type(),
    );

    // Watch from the version we created, in the background.
    let mut watch = deployments
        .watch(&ListParams::default(), created.resource_version())
        .await?;

    // Update with the version we read: accepted, generation moves.
    let mut scaled = created.clone();
    scaled.spec.replicas = Some(5);
    let scaled = deployments.update(&scaled).await?;
    println!(
        "scaled to {} at resourceVersion {} (generation {:?})",
        scaled.replicas(),
        scaled.resource_version(),
        scaled.metadata.generation
    );

    // Update with the stale version: refused with Conflict, nothing written.
    let mut stale = created.clone();
    stale.spec.replicas = Some(100);
    match deployments.update(&stale).await {
        Err(e) if e.is_conflict() => println!("stale update refused: {e}"),
        other => return Err(format!("expected a conflict, got {other:?}").into()),
    }

    // Bad input is refused with an error naming the field; the store is unchanged.
    let mut bad = web_server("");
    bad.metadata.name = Some("../etc/passwd".into());
    let err = deployments.create(&bad).await.unwrap_err();
    println!("invalid object refused: {err}");

    // The watch saw exactly the accepted change.
    match watch.next().await {
        Some(Ok(ObjectEvent::Modified(d))) => println!(
            "watch: Modified {} replicas={}",
            d.object_key(),
            d.replicas()
        ),
        other => return Err(format!("unexpected watch item {other:?}").into()),
    }
    let list = deployments.list(&ListParams::default()).await?;
    println!(
        "{} deployment(s) at resourceVersion {}",
        list.items.len(),
        list.resource_version
    );
    Ok(())
}
