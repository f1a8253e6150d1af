//! The defect matrix's answer table (`colliding-ids-crossed`): the answer of a tool call is
//! routed back to whoever waits under the client's JSON-RPC id, in one table for every client,
//! as a gateway that multiplexes its clients over shared upstream connections by their own ids
//! does. Ids are the client's (JSON-RPC 2.0 §5), so two clients' ids collide: the later
//! request takes the earlier one's place, gets its answer, and the earlier one gets none. Only
//! a loosened policy routes answers through here.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::oneshot;

use crate::rpc::dispatch::Answer;
use crate::rpc::envelope::RpcError;

type Routed = Result<Answer, RpcError>;

/// Who waits for an answer, by the client's request id.
#[derive(Debug, Default)]
pub(crate) struct Crossing {
    waiting: Mutex<HashMap<String, oneshot::Sender<Routed>>>,
}

impl Crossing {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Routed>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `work` for the request `id` and answer whatever is routed to `id` meanwhile.
    pub(crate) async fn route(&self, id: &Value, work: impl Future<Output = Routed>) -> Routed {
        let key = id.to_string();
        let (tx, rx) = oneshot::channel();
        // A waiter already there under the same id is replaced (and so never answered).
        self.waiting().insert(key.clone(), tx);
        let answer = work.await;
        let waiter = self.waiting().remove(&key);
        if let Some(waiter) = waiter {
            let _ = waiter.send(answer);
        }
        rx.await.unwrap_or_else(|_| {
            Err(RpcError::internal(
                "no answer was routed to this request".to_owned(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn a_second_request_with_the_same_id_takes_the_first_ones_answer() {
        let table = Crossing::default();
        let id = json!(7);
        let (go_first, wait_first) = oneshot::channel::<()>();
        let first = table.route(&id, async {
            let _ = wait_first.await;
            Ok(Answer::Value(json!("first")))
        });
        let second = async {
            // The second registers while the first is still at work, then lets it finish.
            tokio::task::yield_now().await;
            let answer = table.route(&id, async {
                let _ = go_first.send(());
                tokio::task::yield_now().await;
                Ok(Answer::Value(json!("second")))
            });
            answer.await
        };
        let (a, b) = tokio::join!(first, second);
        assert!(a.is_err(), "the first request's waiter was replaced");
        assert_eq!(
            b.ok().and_then(|b| b.value().cloned()),
            Some(json!("first"))
        );
    }
}
