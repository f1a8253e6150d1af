//! Cluster mode (D11, C-AFF-*): several worker processes share a Postgres store and a Redis
//! session registry. (Skeleton: the registry and forwarding land next.)

use std::net::SocketAddr;

use crate::state::AppState;

/// This worker's place in a cluster.
#[derive(Debug)]
pub struct Cluster {
    worker_id: String,
}

impl Cluster {
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }
}

/// Join the cluster the settings name (`REDIS_URL`), or return `state` unchanged without one.
pub async fn attach(state: AppState, _addr: SocketAddr) -> Result<AppState, String> {
    if state.settings.redis_url.is_some() {
        return Err("REDIS_URL (cluster mode) is not supported by this build yet".to_owned());
    }
    Ok(state)
}
