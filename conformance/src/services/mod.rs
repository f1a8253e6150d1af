//! Redis and Postgres for the cluster target and for tests, from one place, in this order:
//! an explicit `REDIS_URL` / `DATABASE_URL`; else testcontainers when a Docker engine answers
//! (on machines without a registry, `ci/images/build.sh` builds the images it asks for); else
//! native `redis-server` / `postgres` processes in a temporary directory.
//!
//! With `MCPGW_REQUIRE_SERVICES=1` (CI), a missing service is an error, never a skip, and the
//! native fallback is not used: CI must exercise the containers.

mod native;

use std::time::{Duration, Instant};

use testcontainers_modules::postgres::Postgres;
use testcontainers_modules::redis::Redis;
use testcontainers_modules::testcontainers::runners::AsyncRunner;
use testcontainers_modules::testcontainers::{ContainerAsync, ImageExt};

/// Why a service could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("failed to start {service}: {reason}")]
    Start {
        service: &'static str,
        reason: String,
    },
    #[error("{service} cannot be {action} when it was given by URL")]
    NotControllable {
        service: &'static str,
        action: &'static str,
    },
    #[error("failed to {action} {service}: {reason}")]
    Control {
        service: &'static str,
        action: &'static str,
        reason: String,
    },
}

/// Where a service came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Url,
    Container,
    Native,
}

/// Whether CI demands real services (`MCPGW_REQUIRE_SERVICES=1`).
pub fn services_required() -> bool {
    std::env::var("MCPGW_REQUIRE_SERVICES")
        .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

async fn docker_answers() -> bool {
    tokio::process::Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

// One handle per running service: variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum RedisHandle {
    Url,
    Container(ContainerAsync<Redis>),
    Native(native::Process),
}

/// A Redis server for one test or cluster.
pub struct RedisService {
    pub url: String,
    pub provider: Provider,
    handle: RedisHandle,
}

impl std::fmt::Debug for RedisService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisService")
            .field("url", &self.url)
            .field("provider", &self.provider)
            .finish()
    }
}

impl RedisService {
    /// Start a fresh Redis (or use `REDIS_URL`).
    pub async fn start() -> Result<Self, ServiceError> {
        if let Ok(url) = std::env::var("REDIS_URL") {
            return Ok(RedisService {
                url,
                provider: Provider::Url,
                handle: RedisHandle::Url,
            });
        }
        let err = |reason: String| ServiceError::Start {
            service: "redis",
            reason,
        };
        if docker_answers().await {
            let c = Redis::default().start().await.map_err(|e| {
                err(format!(
                    "testcontainers: {e} (on a machine without a registry run ci/images/build.sh)"
                ))
            })?;
            let port = c
                .get_host_port_ipv4(6379)
                .await
                .map_err(|e| err(e.to_string()))?;
            let url = format!("redis://127.0.0.1:{port}/0");
            wait_redis(&url).await.map_err(err)?;
            return Ok(RedisService {
                url,
                provider: Provider::Container,
                handle: RedisHandle::Container(c),
            });
        }
        if services_required() {
            return Err(err(
                "MCPGW_REQUIRE_SERVICES=1 and no Docker engine answers".to_owned()
            ));
        }
        let p = native::redis().await.map_err(err)?;
        let url = format!("redis://127.0.0.1:{}/0", p.port);
        wait_redis(&url).await.map_err(err)?;
        Ok(RedisService {
            url,
            provider: Provider::Native,
            handle: RedisHandle::Native(p),
        })
    }

    /// Freeze the server (connections hang, as on a network partition).
    pub async fn pause(&self) -> Result<(), ServiceError> {
        let ctl = |reason: String| ServiceError::Control {
            service: "redis",
            action: "pause",
            reason,
        };
        match &self.handle {
            RedisHandle::Url => Err(ServiceError::NotControllable {
                service: "redis",
                action: "paused",
            }),
            RedisHandle::Container(c) => c.pause().await.map_err(|e| ctl(e.to_string())),
            RedisHandle::Native(p) => p.signal("STOP").map_err(ctl),
        }
    }

    /// Thaw a paused server.
    pub async fn unpause(&self) -> Result<(), ServiceError> {
        let ctl = |reason: String| ServiceError::Control {
            service: "redis",
            action: "unpause",
            reason,
        };
        match &self.handle {
            RedisHandle::Url => Err(ServiceError::NotControllable {
                service: "redis",
                action: "unpaused",
            }),
            RedisHandle::Container(c) => c.unpause().await.map_err(|e| ctl(e.to_string())),
            RedisHandle::Native(p) => p.signal("CONT").map_err(ctl),
        }
    }
}

async fn wait_redis(url: &str) -> Result<(), String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let attempt = async {
            let mut c = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut c).await
        };
        match tokio::time::timeout(Duration::from_secs(2), attempt).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) if Instant::now() > deadline => {
                return Err(format!("redis at {url} never answered: {e}"));
            }
            Err(_) if Instant::now() > deadline => {
                return Err(format!("redis at {url} never answered"));
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Held only so that dropping the service stops what it started.
#[allow(dead_code, clippy::large_enum_variant)]
enum PgHandle {
    Url,
    Container(ContainerAsync<Postgres>),
    Native(native::Process),
}

/// A Postgres database for one test or cluster.
pub struct PostgresService {
    /// URL of a database no one else uses.
    pub url: String,
    pub provider: Provider,
    _handle: PgHandle,
}

impl std::fmt::Debug for PostgresService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresService")
            .field("url", &self.url)
            .field("provider", &self.provider)
            .finish()
    }
}

impl PostgresService {
    /// Start a fresh Postgres (or, with `DATABASE_URL`, create a fresh database on that server).
    pub async fn start() -> Result<Self, ServiceError> {
        let err = |reason: String| ServiceError::Start {
            service: "postgres",
            reason,
        };
        if let Ok(url) = std::env::var("DATABASE_URL") {
            let url = fresh_database(&url).await.map_err(err)?;
            return Ok(PostgresService {
                url,
                provider: Provider::Url,
                _handle: PgHandle::Url,
            });
        }
        if docker_answers().await {
            let c = Postgres::default()
                .with_cmd(["-c", "fsync=off", "-c", "max_connections=200"])
                .start()
                .await
                .map_err(|e| err(format!("testcontainers: {e} (on a machine without a registry run ci/images/build.sh)")))?;
            let port = c
                .get_host_port_ipv4(5432)
                .await
                .map_err(|e| err(e.to_string()))?;
            let url = format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres");
            wait_postgres(&url).await.map_err(err)?;
            return Ok(PostgresService {
                url,
                provider: Provider::Container,
                _handle: PgHandle::Container(c),
            });
        }
        if services_required() {
            return Err(err(
                "MCPGW_REQUIRE_SERVICES=1 and no Docker engine answers".to_owned()
            ));
        }
        let p = native::postgres().await.map_err(err)?;
        let url = format!("postgres://postgres@127.0.0.1:{}/postgres", p.port);
        wait_postgres(&url).await.map_err(err)?;
        Ok(PostgresService {
            url,
            provider: Provider::Native,
            _handle: PgHandle::Native(p),
        })
    }
}

async fn wait_postgres(url: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
            Ok((client, conn)) => {
                tokio::spawn(conn);
                if client.simple_query("SELECT 1").await.is_ok() {
                    return Ok(());
                }
            }
            Err(e) if Instant::now() > deadline => {
                return Err(format!("postgres at {url} never answered: {e}"));
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Create a uniquely named database on the server behind `url`; return its URL.
async fn fresh_database(url: &str) -> Result<String, String> {
    wait_postgres(url).await?;
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let name = format!("mcpgw_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .map_err(|e| e.to_string())?;
    let mut cfg: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| e.to_string())?;
    cfg.dbname(&name);
    let base = url.split('?').next().unwrap_or(url);
    let without_db = base.rsplit_once('/').map_or(base, |(b, _)| b);
    Ok(format!("{without_db}/{name}"))
}
