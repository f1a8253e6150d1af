//! Targets (where requests go) and profiles (what a kind of gateway can do).
//!
//! A target is the in-process reference (spawned on an ephemeral loopback port, optionally with
//! injected defects), a cluster of reference workers, or any running gateway at a URL. What kind
//! of gateway it is comes from its target manifest (`crate::manifest`: a file, or a built-in one
//! named by `--profile`): its capabilities (scenarios requiring one it lacks are
//! NOT-APPLICABLE), its credentials and endpoint templates, and the provisioning adapter that
//! makes fixtures on it (`crate::provision`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use crate::fault_command;
use crate::manifest::Manifest;
use crate::provision::Provisioner;
use crate::provision::admin_api::AdminApiProvisioner;
use crate::provision::static_world::StaticProvisioner;
use crate::scenario::Capability;
use crate::settings;
use crate::tokens::{JwtKeys, admin_claims, sign_claims};
use crate::variants;

/// What a kind of gateway can do.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: String,
    /// What every gateway of this kind can do.
    pub capabilities: BTreeSet<Capability>,
    /// What it can do depending on how it was started: found out by [`probe`]ing the target.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub detected: BTreeSet<Capability>,
    /// `source: auto` tokens come from `POST /tokens` wherever the API can make them (the way
    /// the gateway's users mint tokens), and are signed locally only when it cannot.
    pub api_tokens_first: bool,
}

/// The built-in manifests (`--profile NAME`).
pub const PROFILES: &[&str] = crate::manifest::BUILTIN_NAMES;

impl Profile {
    /// The profile of a built-in manifest by name.
    pub fn named(name: &str) -> Option<Profile> {
        crate::manifest::builtin(name).map(|m| Profile::of(&m))
    }

    /// What a manifest says the gateway can do.
    pub fn of(m: &Manifest) -> Profile {
        Profile {
            name: m.name.value.clone(),
            capabilities: m.capability_set(),
            detected: m.detect.iter().map(|d| d.value).collect(),
            api_tokens_first: m.admin_api().is_some_and(|a| a.api_tokens_first),
        }
    }
}

/// What an MCP `initialize` on the target's global `/mcp` showed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// `serverInfo.name` and `serverInfo.version`.
    pub product: Option<String>,
    pub version: Option<String>,
    /// The answer carried an `mcp-session-id` (stateful sessions).
    pub session: bool,
    /// The answer was an SSE stream.
    pub sse: bool,
}

impl Probe {
    /// Read a probe from the `initialize` response.
    pub fn from_response(resp: &crate::client::WireResponse) -> Probe {
        let info = crate::runner::body_json(resp)
            .and_then(|v| v.pointer("/result/serverInfo").cloned())
            .unwrap_or_default();
        let text = |k: &str| info.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        Probe {
            product: text("name"),
            version: text("version"),
            session: resp.header("mcp-session-id").is_some(),
            sse: resp.is_event_stream(),
        }
    }

    /// Which of `candidates` the probe showed.
    pub fn capabilities(&self, candidates: &BTreeSet<Capability>) -> BTreeSet<Capability> {
        candidates
            .iter()
            .copied()
            .filter(|c| match c {
                Capability::Stateful => self.session,
                Capability::SseResponse => self.sse,
                _ => false,
            })
            .collect()
    }
}

/// Where forwarded requests show on this target, if anywhere: on a cluster the harness started,
/// its workers' logs; on another, the files of the manifest's `cluster.forwards`.
async fn forward_logs(
    m: &Manifest,
    cluster: Option<&tokio::sync::Mutex<crate::cluster::Cluster>>,
) -> Result<Option<crate::forwards::ForwardLogs>, TargetError> {
    let Some(spec) = &m.cluster.forwards else {
        return Ok(None);
    };
    // The manifest's loader checked that it compiles.
    let pattern = regex::Regex::new(&spec.pattern.value)
        .map_err(|e| TargetError::Config(format!("cluster.forwards.pattern: {e}")))?;
    let files = match cluster {
        Some(c) => c.lock().await.log_files(),
        None => spec
            .logs
            .iter()
            .map(|f| crate::manifest::expand_env(&f.value).map(std::path::PathBuf::from))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TargetError::Config(format!("cluster.forwards.logs: {e}")))?,
    };
    Ok((!files.is_empty()).then(|| crate::forwards::ForwardLogs::new(files, pattern)))
}

/// Faults caused on a cluster the harness did not start, that no later step undid.
#[derive(Debug, Default)]
struct ExternalFaults {
    killed: BTreeSet<usize>,
    redis_paused: bool,
}

impl ExternalFaults {
    /// `f` was caused.
    fn record(&mut self, f: crate::scenario::Fault) {
        use crate::scenario::Fault;
        match f {
            Fault::KillWorker(i) => {
                self.killed.insert(i);
            }
            Fault::RestartWorker(i) => {
                self.killed.remove(&i);
            }
            Fault::PauseRedis => self.redis_paused = true,
            Fault::UnpauseRedis => self.redis_paused = false,
        }
    }

    /// The faults that undo what is recorded: Redis first, then each dead worker.
    fn undo(&self) -> Vec<crate::scenario::Fault> {
        use crate::scenario::Fault;
        let redis = self.redis_paused.then_some(Fault::UnpauseRedis);
        redis
            .into_iter()
            .chain(self.killed.iter().map(|&i| Fault::RestartWorker(i)))
            .collect()
    }
}

/// What the harness runs for a target itself; held for its `Drop`, which stops it.
#[derive(Debug)]
#[allow(dead_code)]
enum Running {
    /// Nothing: a gateway someone else runs, or a cluster (kept in [`Target::cluster`]).
    Nothing,
    InProcess(mcpgw_reference::Embedded),
    Process(crate::reference_process::ReferenceProcess),
}

impl Running {
    /// A single reference the harness started, which can be started again as a variant.
    fn reference(&self) -> bool {
        matches!(self, Running::InProcess(_) | Running::Process(_))
    }
}

/// One address of a target (a cluster has several).
#[derive(Debug, Clone, Serialize)]
pub struct Base {
    /// `http://host:port/root` without a trailing slash.
    pub url: String,
    /// `host:port` to connect to and to send as `Host`.
    pub authority: String,
    /// The path prefix (`APP_ROOT_PATH`), empty or `/x`.
    pub root: String,
}

impl Base {
    /// Parse `http://host:port[/root]`.
    pub fn parse(url: &str) -> Result<Base, TargetError> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            TargetError::Config(format!("{url:?}: only http:// targets are supported"))
        })?;
        let (authority, root) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(TargetError::Config(format!("{url:?} has no host")));
        }
        let authority = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Base {
            url: format!("http://{authority}{root}"),
            authority,
            root: root.to_owned(),
        })
    }
}

/// Where to run the suite.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// The reference gateway in this process, with these defects injected.
    Reference { defects: Vec<String> },
    /// A `mcpgw-reference` binary built elsewhere, started as a process (once per variant,
    /// like the in-process reference): [`crate::reference_process`].
    ReferenceExe { exe: std::path::PathBuf },
    /// N reference workers as separate processes on Redis and Postgres, started (and broken
    /// on purpose by `fault` steps) by the harness; see [`crate::cluster`].
    Cluster {
        workers: usize,
        defects: Vec<String>,
        /// More environment for every worker (`KEY=VALUE`), e.g. a longer heartbeat TTL.
        worker_env: Vec<(String, String)>,
        /// The binary that runs a worker (`serve-reference`); default as in
        /// [`crate::cluster::ClusterOptions::exe`].
        exe: Option<std::path::PathBuf>,
        /// Give each worker its own in-memory store instead of the shared Postgres: a broken
        /// cluster, to show that the restart scenarios can fail.
        memory_store: bool,
    },
    /// A running gateway.
    Url {
        /// One URL per worker; the first is worker 0.
        urls: Vec<String>,
        token: Option<String>,
        jwt_secret: Option<String>,
    },
}

/// Everything needed to start a target.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    pub spec: TargetSpec,
    /// What kind of gateway it is.
    pub manifest: Arc<Manifest>,
    /// The file the manifest came from (`None`: a built-in one, named by `profile`).
    pub manifest_file: Option<std::path::PathBuf>,
    /// The manifest's capabilities and detection list.
    pub profile: Profile,
    /// Capabilities added to / removed from the profile's.
    pub with: Vec<Capability>,
    pub without: Vec<Capability>,
    pub admin_email: String,
    pub jwt_audience: String,
    pub jwt_issuer: String,
    /// Address the harness's upstream servers listen on (and the gateway connects to).
    pub upstream_host: String,
}

impl TargetConfig {
    /// The in-process reference with its defaults.
    pub fn reference() -> TargetConfig {
        let manifest = crate::manifest::builtin("reference").expect("built-in manifest");
        TargetConfig {
            spec: TargetSpec::Reference {
                defects: Vec::new(),
            },
            profile: Profile::of(&manifest),
            manifest: Arc::new(manifest),
            manifest_file: None,
            with: Vec::new(),
            without: Vec::new(),
            admin_email: settings::DEFAULT_ADMIN_EMAIL.to_owned(),
            jwt_audience: settings::DEFAULT_JWT_AUDIENCE.to_owned(),
            jwt_issuer: settings::DEFAULT_JWT_ISSUER.to_owned(),
            upstream_host: settings::DEFAULT_UPSTREAM_HOST.to_owned(),
        }
    }
}

/// Why a target could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Config(String),
    #[error("failed to start the in-process reference: {0}")]
    Spawn(String),
    #[error("failed to start the cluster: {0}")]
    Cluster(String),
}

/// Who was tested, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct TargetIdentity {
    /// `reference (in-process)` or `url`.
    pub kind: String,
    pub urls: Vec<String>,
    pub profile: String,
    pub capabilities: Vec<String>,
    /// What the target calls itself (`serverInfo` of MCP `initialize`), when it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Defects injected into the in-process reference.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub defects: Vec<String>,
}

/// A running target.
#[derive(Debug)]
pub struct Target {
    pub bases: Vec<Base>,
    /// An admin-bypass token for the platform administrator.
    pub admin_token: String,
    pub admin_email: String,
    /// Present when tokens can be signed locally.
    pub jwt: Option<JwtKeys>,
    pub profile: Profile,
    /// What kind of gateway it is: credentials, endpoint templates, provisioning.
    pub manifest: Arc<Manifest>,
    /// Makes fixtures on it.
    pub provisioner: Box<dyn Provisioner>,
    pub capabilities: BTreeSet<Capability>,
    pub upstream_host: String,
    pub identity: TargetIdentity,
    /// Arguments that select this target again on the command line (for replay commands),
    /// each after a space: [`settings::replay_args`].
    pub replay_args: String,
    /// The reference this harness runs for the target (in this process, or as a process),
    /// kept alive as long as the target.
    _running: Running,
    /// Harness-managed cluster only: the workers and services, for `fault` steps.
    cluster: Option<tokio::sync::Mutex<crate::cluster::Cluster>>,
    /// Where forwarded requests show, on a cluster: the harness's own workers' logs, or the
    /// files the manifest's `cluster.forwards` names.
    pub forward_logs: Option<crate::forwards::ForwardLogs>,
    /// A cluster the harness did not start: the faults its manifest's commands caused and no
    /// step undid yet, for [`Target::heal`].
    external_faults: std::sync::Mutex<ExternalFaults>,
    /// Scenarios with `fault` steps run alone: they hold this for writing, others for reading.
    fault_gate: tokio::sync::RwLock<()>,
    /// In-process reference only: how it was started, to start variants of it.
    config: Option<TargetConfig>,
    /// Variants started so far, by the capabilities they add.
    variants: tokio::sync::Mutex<BTreeMap<Vec<Capability>, Arc<Target>>>,
}

impl Target {
    /// Start (or connect to) the target.
    pub async fn start(cfg: &TargetConfig) -> Result<Target, TargetError> {
        // A configured world has no admin: probes use the secret of a principal that reaches
        // every server (read once, by the provisioner), or none.
        let (provisioner, static_secret): (Box<dyn Provisioner>, Option<String>) =
            match &cfg.manifest.provisioning {
                crate::manifest::Provisioning::AdminApi(_) => (Box::new(AdminApiProvisioner), None),
                crate::manifest::Provisioning::Static(world) => {
                    let principals = cfg
                        .manifest
                        .principals
                        .iter()
                        .map(|(k, p)| (k.clone(), p.value.clone()))
                        .collect();
                    let record_dir = cfg.manifest.record_dir().map_err(TargetError::Config)?;
                    let sp = StaticProvisioner::new(
                        (**world).clone(),
                        principals,
                        record_dir,
                        cfg.upstream_host.clone(),
                    )
                    .map_err(TargetError::Config)?;
                    let secret = sp.unrestricted_secret().unwrap_or_default().to_owned();
                    (Box::new(sp), Some(secret))
                }
            };
        let mut cluster = None;
        let (bases, admin_token, jwt, running, kind, defects) = match &cfg.spec {
            TargetSpec::Cluster {
                workers,
                defects,
                worker_env,
                exe,
                memory_store,
            } => {
                let mut o = crate::cluster::ClusterOptions::new(*workers);
                o.postgres = !memory_store;
                o.exe = exe.clone();
                o.defects = defects.clone();
                o.admin_email = cfg.admin_email.clone();
                o.extra_env = vec![
                    ("JWT_AUDIENCE".to_owned(), cfg.jwt_audience.clone()),
                    ("JWT_ISSUER".to_owned(), cfg.jwt_issuer.clone()),
                ];
                o.extra_env.extend(worker_env.iter().cloned());
                let c = crate::cluster::Cluster::start(o)
                    .await
                    .map_err(|e| TargetError::Cluster(e.to_string()))?;
                let jwt = JwtKeys {
                    secret: c.jwt_secret().to_owned(),
                    audience: cfg.jwt_audience.clone(),
                    issuer: cfg.jwt_issuer.clone(),
                };
                let bases = c
                    .urls()
                    .iter()
                    .map(|u| Base::parse(u))
                    .collect::<Result<Vec<_>, _>>()?;
                let token = c.admin_token().to_owned();
                cluster = Some(tokio::sync::Mutex::new(c));
                (
                    bases,
                    token,
                    Some(jwt),
                    Running::Nothing,
                    format!("reference cluster ({workers} workers)"),
                    defects.clone(),
                )
            }
            TargetSpec::ReferenceExe { exe } => {
                let mut settings = mcpgw_reference::Settings::default_for_tests();
                let wanted = |c: Capability| {
                    (cfg.profile.capabilities.contains(&c) || cfg.with.contains(&c))
                        && !cfg.without.contains(&c)
                };
                let secret = crate::cluster::random_hex(32);
                settings.jwt_secret_key = Some(secret.clone());
                settings.platform_admin_email = cfg.admin_email.clone();
                variants::configure(&mut settings, wanted);
                let p = crate::reference_process::start(exe, &settings)
                    .await
                    .map_err(TargetError::Spawn)?;
                let jwt = JwtKeys {
                    secret,
                    audience: settings.jwt_audience.clone(),
                    issuer: settings.jwt_issuer.clone(),
                };
                (
                    vec![Base::parse(&p.url)?],
                    p.admin_token.clone(),
                    Some(jwt),
                    Running::Process(p),
                    format!("reference ({})", exe.display()),
                    Vec::new(),
                )
            }
            TargetSpec::Reference { defects } => {
                let mut settings = mcpgw_reference::Settings::default_for_tests();
                // The embedded reference runs in the modes the capabilities claim, so switching
                // `stateful` / `sse-response` on (in the profile or with --with) tests them.
                let wanted = |c: Capability| {
                    (cfg.profile.capabilities.contains(&c) || cfg.with.contains(&c))
                        && !cfg.without.contains(&c)
                };
                settings.jwt_secret_key = None;
                settings.platform_admin_email = cfg.admin_email.clone();
                settings.policy =
                    mcpgw_reference::defects::policy_with(defects).map_err(TargetError::Spawn)?;
                variants::configure(&mut settings, wanted);
                let e = mcpgw_reference::spawn_embedded(settings)
                    .await
                    .map_err(TargetError::Spawn)?;
                let secret = e.state.settings.jwt_secret_key.clone().unwrap_or_default();
                let jwt = JwtKeys {
                    secret,
                    audience: e.state.settings.jwt_audience.clone(),
                    issuer: e.state.settings.jwt_issuer.clone(),
                };
                let url = format!("{}{}", e.url(), e.state.settings.root_path());
                (
                    vec![Base::parse(&url)?],
                    e.admin_token.clone(),
                    Some(jwt),
                    Running::InProcess(e),
                    "reference (in-process)".to_owned(),
                    defects.clone(),
                )
            }
            TargetSpec::Url {
                urls,
                token,
                jwt_secret,
            } => {
                if urls.is_empty() {
                    return Err(TargetError::Config("no target URL given".to_owned()));
                }
                let bases = urls
                    .iter()
                    .map(|u| Base::parse(u))
                    .collect::<Result<Vec<_>, _>>()?;
                let jwt = jwt_secret.as_ref().map(|s| JwtKeys {
                    secret: s.clone(),
                    audience: cfg.jwt_audience.clone(),
                    issuer: cfg.jwt_issuer.clone(),
                });
                let admin_token = match (token, &jwt) {
                    (Some(t), _) => t.clone(),
                    (None, Some(keys)) => sign_claims(
                        &admin_claims(&cfg.admin_email, keys),
                        keys.secret.as_bytes(),
                        crate::scenario::Algorithm::HS256,
                    ),
                    (None, None) if static_secret.is_some() => {
                        static_secret.clone().unwrap_or_default()
                    }
                    (None, None) => {
                        return Err(TargetError::Config(
                            "a URL target needs admin credentials: --token (MCPGW_TARGET_TOKEN) or \
                             --jwt-secret (MCPGW_TARGET_JWT_SECRET)"
                                .to_owned(),
                        ));
                    }
                };
                (
                    bases,
                    admin_token,
                    jwt,
                    Running::Nothing,
                    "url".to_owned(),
                    Vec::new(),
                )
            }
        };
        let forward_logs = forward_logs(&cfg.manifest, cluster.as_ref()).await?;
        let mut capabilities = cfg.profile.capabilities.clone();
        if jwt.is_some() {
            capabilities.insert(Capability::JwtSecret);
        }
        if bases.len() > 1 || cfg.manifest.cluster.behind_one_url() {
            capabilities.insert(Capability::Cluster);
        }
        if cluster.is_some() {
            // The workers run with stateful sessions (what cluster affinity is about).
            capabilities.insert(Capability::Stateful);
            capabilities.insert(Capability::ClusterFaults);
        }
        if cluster.is_none() && !cfg.manifest.cluster.faults.is_unset() {
            // Someone else's cluster, with the commands that break it declared.
            capabilities.insert(Capability::ClusterFaults);
        }
        capabilities.extend(cfg.with.iter().copied());
        for c in &cfg.without {
            capabilities.remove(c);
        }
        let identity = TargetIdentity {
            kind,
            product: None,
            version: None,
            urls: bases.iter().map(|b| b.url.clone()).collect(),
            profile: cfg.profile.name.clone(),
            capabilities: capabilities.iter().map(|c| c.name().to_owned()).collect(),
            defects,
        };
        let config = running.reference().then(|| cfg.clone());
        let target = Target {
            bases,
            admin_token,
            admin_email: cfg.admin_email.clone(),
            jwt,
            profile: cfg.profile.clone(),
            manifest: Arc::clone(&cfg.manifest),
            provisioner,
            capabilities,
            upstream_host: cfg.upstream_host.clone(),
            identity,
            replay_args: settings::replay_args(cfg),
            _running: running,
            cluster,
            forward_logs,
            external_faults: std::sync::Mutex::new(ExternalFaults::default()),
            fault_gate: tokio::sync::RwLock::new(()),
            config,
            variants: tokio::sync::Mutex::new(BTreeMap::new()),
        };
        target.check_reachable().await?;
        let target = target.detected(&cfg.without).await;
        Ok(target)
    }

    /// The header a request carrying `secret` sends, as the manifest says credentials travel.
    pub fn credential_header(&self, secret: &str) -> (String, String) {
        self.manifest.credentials.header_for(secret)
    }

    /// The path `initialize` probes: the global MCP endpoint, else the first declared server's.
    fn probe_path(&self) -> Option<String> {
        if let Some(mcp) = self.manifest.endpoints.template("mcp") {
            return Some(mcp.to_owned());
        }
        let template = self.manifest.endpoints.template("server_mcp")?;
        let world = self.manifest.static_world()?;
        let (key, s) = world.servers.iter().next()?;
        let name = s.value.name.clone().unwrap_or_else(|| key.clone());
        let id = s.value.id.clone().unwrap_or_else(|| name.clone());
        Some(crate::manifest::fill(template, &id, &name))
    }

    /// Fail early, with a clear message, when the target does not answer or refuses the admin.
    async fn check_reachable(&self) -> Result<(), TargetError> {
        if self.manifest.admin_api().is_none() {
            // Configured from a file: no admin API to ask; any HTTP answer to the probe will do.
            let base = &self.bases[0];
            let path = self.probe_path().unwrap_or_else(|| "/".to_owned());
            let (_, ex) =
                probe_exchange(base, &path, &self.credential_header(&self.admin_token)).await;
            return match ex.response {
                Some(_) => Ok(()),
                None => Err(TargetError::Config(format!(
                    "cannot reach the target at {}: {}",
                    base.url,
                    ex.error.unwrap_or_default()
                ))),
            };
        }
        let base = &self.bases[0];
        let req = crate::client::WireRequest {
            method: "GET".to_owned(),
            target: format!("{}/servers", base.root),
            headers: vec![
                ("host".to_owned(), base.authority.clone()),
                (
                    "authorization".to_owned(),
                    format!("Bearer {}", self.admin_token),
                ),
            ],
            body: bytes::Bytes::new(),
        };
        let ex =
            crate::client::send(&base.authority, req, std::time::Duration::from_secs(10)).await;
        match ex.response {
            None => Err(TargetError::Config(format!(
                "cannot reach the target at {}: {}",
                base.url,
                ex.error.unwrap_or_default()
            ))),
            Some(r) if r.status == 401 || r.status == 403 => Err(TargetError::Config(format!(
                "the target refused the admin credentials (GET /servers -> {}: {}); check --token / --jwt-secret",
                r.status,
                r.text().chars().take(200).collect::<String>()
            ))),
            Some(_) => Ok(()),
        }
    }

    /// Cause a fault: on a cluster the harness started, itself; on another, by the manifest's
    /// command for it. Says what was done.
    pub async fn fault(&self, f: crate::scenario::Fault) -> Result<String, String> {
        use crate::scenario::Fault;
        let Some(c) = &self.cluster else {
            let done = fault_command::cause(&self.manifest.cluster.faults, f).await?;
            self.external_faults
                .lock()
                .expect("fault record lock")
                .record(f);
            return Ok(done);
        };
        let mut c = c.lock().await;
        let started = std::time::Instant::now();
        let r = match f {
            Fault::KillWorker(i) => c.kill(i).await.map(|()| format!("killed worker {i}")),
            Fault::RestartWorker(i) => c.restart(i).await.map(|()| format!("restarted worker {i}")),
            Fault::PauseRedis => c.pause_redis().await.map(|()| "paused Redis".to_owned()),
            Fault::UnpauseRedis => c
                .unpause_redis()
                .await
                .map(|()| "unpaused Redis".to_owned()),
        };
        r.map(|done| format!("{done} in {} ms", started.elapsed().as_millis()))
            .map_err(|e| format!("{e}\n{}", c.all_stderr()))
    }

    /// Undo every fault: restart dead workers, unpause Redis (on another's cluster, with the
    /// manifest's commands, for the faults its commands caused).
    pub async fn heal(&self) -> Result<(), String> {
        match &self.cluster {
            Some(c) => {
                let mut c = c.lock().await;
                c.heal()
                    .await
                    .map_err(|e| format!("{e}\n{}", c.all_stderr()))
            }
            None => {
                let undo = self
                    .external_faults
                    .lock()
                    .expect("fault record lock")
                    .undo();
                let mut problems = Vec::new();
                for f in undo {
                    match fault_command::cause(&self.manifest.cluster.faults, f).await {
                        Ok(_) => self
                            .external_faults
                            .lock()
                            .expect("fault record lock")
                            .record(f),
                        Err(e) => problems.push(e),
                    }
                }
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(problems.join("\n"))
                }
            }
        }
    }

    /// The workers' stderr tails (harness-managed cluster only), to show next to a failure.
    pub async fn worker_logs(&self) -> Option<String> {
        match &self.cluster {
            Some(c) => Some(c.lock().await.all_stderr()),
            None => None,
        }
    }

    /// How long the harness-managed cluster took to start.
    pub async fn cluster_startup(&self) -> Option<std::time::Duration> {
        match &self.cluster {
            Some(c) => Some(c.lock().await.startup),
            None => None,
        }
    }

    /// Hold while running a scenario: shared for ordinary scenarios, exclusive for scenarios
    /// with `fault` steps (a killed worker or a paused Redis must not break the others).
    pub async fn gate(&self, exclusive: bool) -> GateGuard<'_> {
        if exclusive {
            GateGuard::Exclusive(self.fault_gate.write().await)
        } else {
            GateGuard::Shared(self.fault_gate.read().await)
        }
    }

    /// Whether this is a cluster the harness started (`--cluster N`).
    pub fn is_harness_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// Whether the target has a capability.
    pub fn has(&self, c: Capability) -> bool {
        self.capabilities.contains(&c)
    }

    /// Whether this target can start a variant of itself with every capability in `extra`: the
    /// in-process reference can, for the capabilities `variants` knows how to configure.
    pub fn can_vary(&self, extra: &BTreeSet<Capability>) -> bool {
        self.config.is_some() && !extra.is_empty() && extra.iter().all(|c| variants::is_variant(*c))
    }

    /// The in-process reference started again with `extra` capabilities as well (and the same
    /// defects); started once per set of capabilities and reused. `None` if `can_vary` is false.
    pub async fn variant(
        &self,
        extra: &BTreeSet<Capability>,
    ) -> Option<Result<Arc<Target>, TargetError>> {
        let cfg = self.config.as_ref().filter(|_| self.can_vary(extra))?;
        let key: Vec<Capability> = extra.iter().copied().collect();
        let mut started = self.variants.lock().await;
        if let Some(t) = started.get(&key) {
            return Some(Ok(Arc::clone(t)));
        }
        let mut cfg = cfg.clone();
        cfg.with.extend(key.iter().copied());
        cfg.without.retain(|c| !extra.contains(c));
        Some(Target::start(&cfg).await.map(|t| {
            let t = Arc::new(t);
            started.insert(key, Arc::clone(&t));
            t
        }))
    }

    /// The replay command for one scenario.
    pub fn replay_command(&self, scenario_id: &str) -> String {
        format!(
            "mcpgw-conformance run{} --scenario {scenario_id}",
            self.replay_args
        )
    }

    /// Probe the target ([`probe`]): record what it calls itself, and add the capabilities of
    /// the profile's `detected` list that it shows (unless the run said `--without`).
    async fn detected(mut self, without: &[Capability]) -> Target {
        let probe = match self.probe_path() {
            Some(path) => {
                probe(
                    &self.bases[0],
                    &path,
                    &self.credential_header(&self.admin_token),
                )
                .await
            }
            None => Probe::default(),
        };
        let found = probe.capabilities(&self.profile.detected);
        self.capabilities
            .extend(found.into_iter().filter(|c| !without.contains(c)));
        self.identity.capabilities = self
            .capabilities
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        self.identity.product = probe.product;
        self.identity.version = probe.version;
        self
    }

    /// Capabilities a scenario needs on this target: those it declares or implies, plus
    /// `jwt-secret` when one of its tokens can only be signed locally here.
    pub fn needed_capabilities(&self, s: &crate::scenario::Scenario) -> BTreeSet<Capability> {
        let mut needed = crate::runner::needed_capabilities(s);
        if s.fixtures
            .tokens
            .values()
            .any(|t| self.must_sign(t, &s.fixtures))
        {
            needed.insert(Capability::JwtSecret);
        }
        needed
    }

    /// How a token fixture is made on this target.
    pub fn mint(
        &self,
        t: &crate::scenario::TokenFixture,
        fixtures: &crate::scenario::Fixtures,
    ) -> crate::tokens::Mint {
        crate::tokens::choose_mint(
            t,
            fixtures,
            self.profile.api_tokens_first,
            self.jwt.is_some(),
        )
    }

    /// Whether a token fixture can only be signed locally on this target (it then needs the
    /// `jwt-secret` capability).
    pub fn must_sign(
        &self,
        t: &crate::scenario::TokenFixture,
        fixtures: &crate::scenario::Fixtures,
    ) -> bool {
        crate::tokens::choose_mint(t, fixtures, self.profile.api_tokens_first, false)
            == crate::tokens::Mint::Sign
    }
}

/// Held by [`Target::gate`].
#[derive(Debug)]
pub enum GateGuard<'a> {
    Shared(tokio::sync::RwLockReadGuard<'a, ()>),
    Exclusive(tokio::sync::RwLockWriteGuard<'a, ()>),
}

/// Send MCP `initialize` to `path` with the credential `auth` and read what the answer shows;
/// a session it opened is deleted again. A target that does not answer gives an empty probe (the
/// reachability check reports that).
pub async fn probe(base: &Base, path: &str, auth: &(String, String)) -> Probe {
    let (resp, _) = probe_exchange(base, path, auth).await;
    resp.unwrap_or_default()
}

/// The `initialize` exchange of [`probe`], and the probe it gave.
async fn probe_exchange(
    base: &Base,
    path: &str,
    auth: &(String, String),
) -> (Option<Probe>, crate::client::Exchange) {
    use crate::client::{WireRequest, send};
    let timeout = std::time::Duration::from_secs(10);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "mcpgw-conformance", "version": env!("CARGO_PKG_VERSION")},
    }})
    .to_string();
    let headers = |extra: Vec<(String, String)>| {
        let mut h = vec![("host".to_owned(), base.authority.clone()), auth.clone()];
        h.extend(extra);
        h
    };
    let req = WireRequest {
        method: "POST".to_owned(),
        target: format!("{}{path}", base.root),
        headers: headers(vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            (
                "accept".to_owned(),
                "application/json, text/event-stream".to_owned(),
            ),
            ("content-length".to_owned(), body.len().to_string()),
        ]),
        body: bytes::Bytes::from(body),
    };
    let ex = send(&base.authority, req, timeout).await;
    let Some(resp) = &ex.response else {
        return (None, ex);
    };
    let probe = Probe::from_response(resp);
    if let Some(session) = resp.header("mcp-session-id") {
        let req = WireRequest {
            method: "DELETE".to_owned(),
            target: format!("{}{path}", base.root),
            headers: headers(vec![("mcp-session-id".to_owned(), session)]),
            body: bytes::Bytes::new(),
        };
        send(&base.authority, req, timeout).await;
    }
    (Some(probe), ex)
}

/// A JSON summary of a profile, for `--help`-like listings.
pub fn describe_profiles() -> serde_json::Value {
    json!(
        PROFILES
            .iter()
            .filter_map(|p| Profile::named(p))
            .map(|p| json!({
                "name": p.name,
                "capabilities": p.capabilities.iter().map(|c| c.name()).collect::<Vec<_>>(),
                "detected": p.detected.iter().map(|c| c.name()).collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>()
    )
}
