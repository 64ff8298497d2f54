//! The finalizer helper inside a running controller: the finalizer is added, cleanup
//! runs when the object is deleted, and only then does the object go — without
//! trampling a concurrent writer's finalizer.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{Widget, memory_client};
use orchestra::core::{Api, ApiError, DeleteParams, ResourceExt};
use orchestra::runtime::reconcile::{
    Action, Context, Controller, FinalizerError, FinalizerEvent, Manager, finalizer,
};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

const FINALIZER: &str = "example.dev/cleanup";

struct WithCleanup {
    cleaned: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Controller for WithCleanup {
    type Object = Widget;
    type Error = FinalizerError<ApiError>;

    fn name(&self) -> &str {
        "with-cleanup"
    }

    async fn reconcile(
        &self,
        obj: Arc<Widget>,
        ctx: &Context<Widget>,
    ) -> Result<Action, Self::Error> {
        let api: Api<Widget> =
            Api::namespaced(ctx.client.clone(), obj.namespace().unwrap_or("default"));
        let cleaned = self.cleaned.clone();
        finalizer(&api, FINALIZER, obj, |event| async move {
            if let FinalizerEvent::Cleanup(w) = event {
                cleaned.lock().push(w.name_any().to_owned());
            }
            Ok(Action::await_change())
        })
        .await
    }
}

#[tokio::test(start_paused = true)]
async fn cleanup_runs_once_before_the_object_goes() {
    let (client, _) = memory_client();
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let cleaned = Arc::new(Mutex::new(Vec::new()));
    let mut manager = Manager::new(client.clone());
    manager = manager.controller(WithCleanup {
        cleaned: cleaned.clone(),
    });
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move { manager.run(token).await });

    widgets.create(&Widget::new("w", 1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let w = widgets.get("w").await.unwrap();
    assert_eq!(
        w.metadata.finalizers,
        [FINALIZER],
        "the finalizer was added"
    );

    // Another writer adds its own finalizer meanwhile; it must survive our removal.
    widgets
        .update_with("w", |w| w.metadata.finalizers.push("other.dev/hold".into()))
        .await
        .unwrap();
    let outcome = widgets.delete("w", &DeleteParams::default()).await.unwrap();
    assert!(!outcome.is_deleted(), "finalizers hold the object");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(*cleaned.lock(), ["w"]);
    let w = widgets.get("w").await.unwrap();
    assert_eq!(
        w.metadata.finalizers,
        ["other.dev/hold"],
        "only our finalizer was removed"
    );

    widgets
        .update_with("w", |w| w.metadata.finalizers.clear())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(widgets.get("w").await.unwrap_err().is_not_found());
    assert_eq!(*cleaned.lock(), ["w"], "cleanup ran exactly once");
    stop.cancel();
}
