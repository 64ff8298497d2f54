//! A user-defined kind and its controller, run by the manager over a MemoryStore.
//!
//! `Echo { spec.message }` → the controller writes `status.echoed`. Run it with
//! `cargo run --example custom_controller`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orchestra::core::{Api, ApiError, Client, ObjectMeta, Registry, Resource, Scope};
use orchestra::runtime::reconcile::{Action, Context, Controller, Manager};
use orchestra::store::MemoryStore;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// The kind: a message to echo back.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Echo {
    metadata: ObjectMeta,
    spec: EchoSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<EchoStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct EchoSpec {
    message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct EchoStatus {
    echoed: String,
}

impl Resource for Echo {
    const KIND: &'static str = "Echo";
    const API_VERSION: &'static str = "example.dev/v1";
    const PLURAL: &'static str = "echoes";
    const SCOPE: Scope = Scope::Namespaced;
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// The controller: copy the message into the status.
struct EchoController;

#[async_trait]
impl Controller for EchoController {
    type Object = Echo;
    type Error = ApiError;

    fn name(&self) -> &str {
        "echo"
    }

    async fn reconcile(&self, echo: Arc<Echo>, ctx: &Context<Echo>) -> Result<Action, ApiError> {
        if echo.status.as_ref().map(|s| &s.echoed) != Some(&echo.spec.message) {
            let mut updated = (*echo).clone();
            updated.status = Some(EchoStatus {
                echoed: echo.spec.message.clone(),
            });
            Api::<Echo>::all(ctx.client.clone())
                .update_status(&updated)
                .await?;
        }
        Ok(Action::await_change())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The server side: a registry over a store, serving the built-in kinds and Echo.
    let registry = Registry::builder(Arc::new(MemoryStore::new()))
        .kind::<Echo>()
        .build();
    let client = Client::new(registry);
    let mut manager = Manager::new(client.clone());
    manager = manager.controller(EchoController);
    let stop = CancellationToken::new();
    let running = tokio::spawn({
        let stop = stop.clone();
        async move { manager.run(stop).await }
    });

    let echoes: Api<Echo> = Api::namespaced(client, "default");
    let spec = EchoSpec {
        message: "hello, orchestra".into(),
    };
    echoes
        .create(&Echo {
            metadata: ObjectMeta::named("greeting"),
            spec,
            status: None,
        })
        .await?;
    loop {
        let echo = echoes.get("greeting").await?;
        if let Some(status) = echo.status {
            println!("echoed: {}", status.echoed);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    running.await?;
    Ok(())
}
