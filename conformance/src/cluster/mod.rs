//! A cluster of reference workers for the `--cluster N` target, fault steps and tests: Redis and
//! Postgres from [`crate::services`], then N worker processes (`serve-reference`, each on its own
//! loopback port) that share the JWT secret, a random cluster secret and the database.
//!
//! Workers are separate processes because the behaviour under test (forwarding to the owner,
//! taking over a dead owner's sessions) only exists between processes. A worker can be killed
//! (SIGKILL, no goodbye: its heartbeat just stops) and restarted on the same port; Redis can be
//! paused. Each worker's stderr is kept so that a failure can show what the worker said, and
//! written whole to a log file of the cluster's ([`Cluster::log_files`]), where the lines of
//! forwarded requests are counted.
//! Everything started here stops when the [`Cluster`] is dropped (`kill_on_drop`).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::services::{PostgresService, RedisService, ServiceError};

/// Set by the cluster fixture on its workers: stdin is a pipe from the harness, and its end
/// (the harness exited, however it exited) ends the worker, so no worker outlives its harness
/// even when the harness could not drop its cluster (a `process::exit`, a static, a SIGKILL).
pub const EXIT_WITH_PARENT_ENV: &str = "MCPGW_EXIT_WITH_PARENT";

/// How much of a worker's stderr is kept (the tail).
const STDERR_KEEP: usize = 64 * 1024;

/// How long a worker may take to print its `URL=` line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub workers: usize,
    /// The binary whose hidden `serve-reference` command runs a worker. Default: the
    /// `MCPGW_WORKER_EXE` environment variable, else this process's own executable (right for
    /// the CLI; a cargo integration test passes `env!("CARGO_BIN_EXE_mcpgw-conformance")`).
    pub exe: Option<PathBuf>,
    /// Defects injected into every worker (`serve-reference --inject-defect`).
    pub defects: Vec<String>,
    pub jwt_secret: String,
    pub admin_email: String,
    /// Cluster mode (Redis owner registry). Without it the workers share only Postgres.
    pub redis: bool,
    /// The shared Postgres store. Without it each worker has its own in-memory store (a
    /// deliberately broken cluster).
    pub postgres: bool,
    /// `MCPGW_WORKER_HEARTBEAT_TTL` (seconds): how soon a killed worker counts as dead.
    pub heartbeat_ttl_secs: u64,
    /// `MCPGW_REDIS_TIMEOUT_MS`: how soon a paused Redis turns into a 503.
    pub redis_timeout_ms: u64,
    /// More environment for every worker (`KEY=VALUE`), applied last, so it can override the
    /// settings above (e.g. a long heartbeat TTL to show a takeover check can fail).
    pub extra_env: Vec<(String, String)>,
}

impl ClusterOptions {
    /// `workers` stateful workers with the test-friendly timings (2 s heartbeat TTL).
    pub fn new(workers: usize) -> ClusterOptions {
        ClusterOptions {
            workers,
            exe: None,
            defects: Vec::new(),
            jwt_secret: random_hex(32),
            admin_email: "admin@example.com".to_owned(),
            redis: true,
            postgres: true,
            heartbeat_ttl_secs: 2,
            redis_timeout_ms: 800,
            extra_env: Vec::new(),
        }
    }
}

/// Why a cluster could not be started or driven.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("failed to start worker {index}: {reason}")]
    Worker { index: usize, reason: String },
    #[error("the cluster has no worker {0}")]
    NoWorker(usize),
    #[error("failed to {0}")]
    Other(String),
}

/// What a worker printed on start.
#[derive(Debug, Clone)]
struct Started {
    url: String,
    token: String,
    worker_id: Option<String>,
}

/// One worker process.
#[derive(Debug)]
struct Worker {
    /// `None` after a kill.
    child: Option<Child>,
    /// The port it listens on (kept for a restart).
    port: u16,
    started: Started,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Held open for the worker's life: when the harness process ends, however it ends, the
    /// pipe closes and the worker exits (`MCPGW_EXIT_WITH_PARENT`).
    _stdin: Option<tokio::process::ChildStdin>,
}

/// A running cluster.
#[derive(Debug)]
pub struct Cluster {
    opts: ClusterOptions,
    exe: PathBuf,
    cluster_secret: String,
    redis: Option<RedisService>,
    postgres: Option<PostgresService>,
    workers: Vec<Worker>,
    /// How long [`Cluster::start`] took (services and workers).
    pub startup: Duration,
    /// Redis is paused by a fault step.
    redis_paused: bool,
    /// Where each worker's stderr is written (`worker-<i>.log`, appended across restarts).
    logs: tempfile::TempDir,
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut s = String::new();
    while s.len() < bytes * 2 {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(bytes * 2);
    s
}

impl Cluster {
    /// Start services and workers; fails with the stderr of a worker that did not come up.
    pub async fn start(opts: ClusterOptions) -> Result<Cluster, ClusterError> {
        let started = Instant::now();
        if opts.workers == 0 {
            return Err(ClusterError::Other(
                "start a cluster: it needs at least one worker".to_owned(),
            ));
        }
        let exe = match &opts.exe {
            Some(p) => p.clone(),
            None => match std::env::var_os("MCPGW_WORKER_EXE") {
                Some(p) => PathBuf::from(p),
                None => std::env::current_exe()
                    .map_err(|e| ClusterError::Other(format!("find this executable: {e}")))?,
            },
        };
        let (redis, postgres) = tokio::join!(
            async {
                match opts.redis {
                    true => RedisService::start().await.map(Some),
                    false => Ok(None),
                }
            },
            async {
                match opts.postgres {
                    true => PostgresService::start().await.map(Some),
                    false => Ok(None),
                }
            }
        );
        let (redis, postgres) = (redis?, postgres?);
        let mut cluster = Cluster {
            exe,
            cluster_secret: random_hex(32),
            redis,
            postgres,
            workers: Vec::new(),
            startup: Duration::ZERO,
            redis_paused: false,
            logs: tempfile::Builder::new()
                .prefix("mcpgw-cluster-logs-")
                .tempdir()
                .map_err(|e| ClusterError::Other(format!("a directory for the logs: {e}")))?,
            opts,
        };
        // The first worker applies the store's migrations; the others start after it so that
        // they do not race to create the same tables.
        let first = cluster.spawn(0, 0).await?;
        cluster.workers.push(first);
        let rest =
            futures_util::future::join_all((1..cluster.opts.workers).map(|i| cluster.spawn(i, 0)))
                .await;
        for w in rest {
            cluster.workers.push(w?);
        }
        cluster.startup = started.elapsed();
        Ok(cluster)
    }

    /// Worker base URLs, worker 0 first.
    pub fn urls(&self) -> Vec<String> {
        self.workers.iter().map(|w| w.started.url.clone()).collect()
    }

    /// The admin token worker 0 printed.
    pub fn admin_token(&self) -> &str {
        &self.workers[0].started.token
    }

    pub fn jwt_secret(&self) -> &str {
        &self.opts.jwt_secret
    }

    pub fn options(&self) -> &ClusterOptions {
        &self.opts
    }

    /// The worker ids the workers printed (`WORKER=`), in cluster mode.
    pub fn worker_ids(&self) -> Vec<Option<String>> {
        self.workers
            .iter()
            .map(|w| w.started.worker_id.clone())
            .collect()
    }

    /// Redis's URL, in cluster mode.
    pub fn redis_url(&self) -> Option<&str> {
        self.redis.as_ref().map(|r| r.url.as_str())
    }

    pub fn database_url(&self) -> Option<&str> {
        self.postgres.as_ref().map(|p| p.url.as_str())
    }

    /// The tail of what worker `i` wrote to stderr (all its lives).
    pub fn stderr(&self, i: usize) -> String {
        self.workers
            .get(i)
            .map(|w| String::from_utf8_lossy(&w.stderr.lock().expect("stderr lock")).into_owned())
            .unwrap_or_default()
    }

    /// Each worker's log file: everything it wrote to stderr, in all its lives.
    pub fn log_files(&self) -> Vec<PathBuf> {
        (0..self.workers.len().max(self.opts.workers))
            .map(|i| self.log_file(i))
            .collect()
    }

    fn log_file(&self, i: usize) -> PathBuf {
        self.logs.path().join(format!("worker-{i}.log"))
    }

    /// Every worker's stderr tail, labelled, for a failure message.
    pub fn all_stderr(&self) -> String {
        let mut out = String::new();
        for i in 0..self.workers.len() {
            out.push_str(&format!("--- worker {i} stderr ---\n{}\n", self.stderr(i)));
        }
        out
    }

    /// Whether worker `i` is running (not killed, not exited).
    pub fn is_running(&mut self, i: usize) -> bool {
        self.workers
            .get_mut(i)
            .and_then(|w| w.child.as_mut())
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL worker `i` and wait until it is gone: it gets no chance to hand anything over.
    pub async fn kill(&mut self, i: usize) -> Result<(), ClusterError> {
        let w = self.workers.get_mut(i).ok_or(ClusterError::NoWorker(i))?;
        if let Some(mut child) = w.child.take() {
            // tokio's kill is SIGKILL on Unix.
            child
                .kill()
                .await
                .map_err(|e| ClusterError::Other(format!("kill worker {i}: {e}")))?;
        }
        Ok(())
    }

    /// Start worker `i` again on its port (killing it first if it still runs).
    pub async fn restart(&mut self, i: usize) -> Result<(), ClusterError> {
        self.kill(i).await?;
        let port = self.workers[i].port;
        // The port was just released; another process may grab it in between, so a few tries.
        let mut last = None;
        for _ in 0..5 {
            match self.spawn(i, port).await {
                Ok(mut w) => {
                    w.stderr = Arc::clone(&self.workers[i].stderr);
                    self.workers[i] = w;
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// Freeze Redis (connections hang, as on a network partition).
    pub async fn pause_redis(&mut self) -> Result<(), ClusterError> {
        let r = self.redis.as_ref().ok_or_else(|| {
            ClusterError::Other("pause Redis: the cluster runs without Redis".to_owned())
        })?;
        r.pause().await?;
        self.redis_paused = true;
        Ok(())
    }

    /// Thaw a paused Redis.
    pub async fn unpause_redis(&mut self) -> Result<(), ClusterError> {
        let r = self.redis.as_ref().ok_or_else(|| {
            ClusterError::Other("unpause Redis: the cluster runs without Redis".to_owned())
        })?;
        r.unpause().await?;
        self.redis_paused = false;
        Ok(())
    }

    /// Undo every fault: unpause Redis, restart workers that are not running. Run after each
    /// scenario with fault steps, so the next scenario finds the cluster whole.
    pub async fn heal(&mut self) -> Result<(), ClusterError> {
        if self.redis_paused {
            self.unpause_redis().await?;
        }
        for i in 0..self.workers.len() {
            if !self.is_running(i) {
                self.restart(i).await?;
            }
        }
        Ok(())
    }

    /// Start worker `index` on `port` (0: any) and wait for its startup lines.
    async fn spawn(&self, index: usize, port: u16) -> Result<Worker, ClusterError> {
        let fail = |reason: String| ClusterError::Worker { index, reason };
        let mut cmd = Command::new(&self.exe);
        cmd.arg("serve-reference");
        // The harness's own environment (MCPGW_TARGET_*, REDIS_URL for the services module,
        // JWT_* of a URL target) must not configure the workers by accident.
        cmd.env_clear();
        for keep in ["PATH", "HOME", "TMPDIR", "RUST_BACKTRACE", "LANG"] {
            if let Some(v) = std::env::var_os(keep) {
                cmd.env(keep, v);
            }
        }
        // Whatever else is logged, the line of each forwarded request is: it is how the suite
        // sees that a scenario exercised forwarding.
        let log = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
        cmd.env(
            "RUST_LOG",
            format!("{log},mcpgw_reference::cluster::forward=info"),
        );
        let o = &self.opts;
        cmd.env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("JWT_SECRET_KEY", &o.jwt_secret)
            .env("PLATFORM_ADMIN_EMAIL", &o.admin_email)
            .env("USE_STATEFUL_SESSIONS", "true")
            .env("WORKER_ID", format!("w{index}"))
            .env(
                "MCPGW_WORKER_HEARTBEAT_TTL",
                o.heartbeat_ttl_secs.to_string(),
            )
            .env("MCPGW_REDIS_TIMEOUT_MS", o.redis_timeout_ms.to_string());
        if let Some(p) = &self.postgres {
            cmd.env("DATABASE_URL", &p.url);
        }
        if let Some(r) = &self.redis {
            cmd.env("REDIS_URL", &r.url)
                .env("CLUSTER_SECRET", &self.cluster_secret);
        }
        if !o.defects.is_empty() {
            cmd.arg("--inject-defect").arg(o.defects.join(","));
        }
        for (k, v) in &o.extra_env {
            cmd.env(k, v);
        }
        cmd.env(EXIT_WITH_PARENT_ENV, "1");
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(format!("{}: {e}", self.exe.display())))?;
        let stdin = child.stdin.take();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut err) = child.stderr.take() {
            let keep = Arc::clone(&stderr);
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log_file(index))
                .await
                .map_err(|e| fail(format!("open its log file: {e}")))?;
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    // A full disk loses log lines, not the worker.
                    let _ = file.write_all(&buf[..n]).await;
                    let mut k = keep.lock().expect("stderr lock");
                    k.extend_from_slice(&buf[..n]);
                    let excess = k.len().saturating_sub(STDERR_KEEP);
                    k.drain(..excess);
                }
            });
        }
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| fail("no stdout".into()))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let (mut url, mut token, mut worker_id) = (None, None, None);
            let mut tx = Some(tx);
            // Keep reading after the startup lines so the worker never blocks on a full pipe.
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(v) = line.strip_prefix("URL=") {
                    url = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("TOKEN=") {
                    token = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("WORKER=") {
                    worker_id = Some(v.trim().to_owned());
                }
                if let (Some(u), Some(t)) = (&url, &token)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(Started {
                        url: u.clone(),
                        token: t.clone(),
                        worker_id: worker_id.clone(),
                    });
                }
            }
        });
        let started = match tokio::time::timeout(START_TIMEOUT, rx).await {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => {
                // stdout closed before the lines: the worker exited. Give stderr a moment.
                let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                let text =
                    String::from_utf8_lossy(&stderr.lock().expect("stderr lock")).into_owned();
                return Err(fail(format!(
                    "it exited ({}) before printing URL=; stderr:\n{text}",
                    match status {
                        Ok(Ok(s)) => s.to_string(),
                        _ => "unknown status".to_owned(),
                    }
                )));
            }
            Err(_) => {
                let text =
                    String::from_utf8_lossy(&stderr.lock().expect("stderr lock")).into_owned();
                return Err(fail(format!(
                    "no URL= line within {} s; stderr:\n{text}",
                    START_TIMEOUT.as_secs()
                )));
            }
        };
        let port = started
            .url
            .strip_prefix("http://")
            .and_then(|r| r.split('/').next())
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| fail(format!("unreadable URL= line: {}", started.url)))?;
        Ok(Worker {
            child: Some(child),
            port,
            started,
            stderr,
            _stdin: stdin,
        })
    }
}
