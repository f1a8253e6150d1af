//! Settings shared by the command line and the `cargo test` entry: the clap argument types that
//! select scenarios and a target and say how to run them, and their conversion into engine
//! values. The libtest entry parses the same types from the environment alone, so both read
//! `MCPGW_*` variables the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::runner::RunOptions;
use crate::scenario::{self, Capability, Loaded};
use crate::snapshot::SnapshotStore;
use crate::target::{PROFILES, Profile, TargetConfig, TargetSpec};

/// Which scenarios.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// Directory of scenario files [default: ./scenarios, else the repository's].
    #[arg(long, env = "MCPGW_SCENARIOS", value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    /// Run only this scenario id (repeatable); an id ending in `/` selects a prefix.
    #[arg(long = "scenario", value_name = "ID")]
    pub only: Vec<String>,
    /// Run only scenarios of this area (repeatable).
    #[arg(long, value_name = "AREA")]
    pub area: Vec<String>,
}

/// Where to send requests.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Base URL of a running gateway (comma-separated for cluster workers). Default: start the
    /// reference gateway in this process.
    #[arg(
        long,
        env = "MCPGW_TARGET_URL",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub target: Vec<String>,
    /// Admin bearer token of the target (an admin-bypass token: `teams: null`, `is_admin`).
    #[arg(
        long,
        env = "MCPGW_TARGET_TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub token: Option<String>,
    /// The target's JWT secret: tokens are then signed locally (and the admin token too, if
    /// --token is absent).
    #[arg(
        long,
        env = "MCPGW_TARGET_JWT_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub jwt_secret: Option<String>,
    /// What kind of gateway the target is, by a built-in manifest: reference | contextforge
    /// [default: reference].
    #[arg(long, env = "MCPGW_TARGET_PROFILE",
          value_parser = clap::builder::PossibleValuesParser::new(PROFILES))]
    pub profile: Option<String>,
    /// What kind of gateway the target is, by a target manifest (YAML; schema:
    /// gateways/schema.json): its URLs, credentials, principals, endpoint templates,
    /// capabilities and how fixtures come to exist. Replaces --profile.
    #[arg(
        long,
        env = "MCPGW_TARGET_FILE",
        value_name = "FILE",
        conflicts_with = "profile"
    )]
    pub target_file: Option<PathBuf>,
    /// Add a capability to the profile's (repeatable), e.g. `--with stateful`.
    #[arg(long = "with", value_name = "CAPABILITY", value_parser = parse_capability)]
    pub with: Vec<Capability>,
    /// Remove a capability from the profile's (repeatable).
    #[arg(long = "without", value_name = "CAPABILITY", value_parser = parse_capability)]
    pub without: Vec<Capability>,
    /// Email of the target's platform administrator.
    #[arg(
        long,
        env = "PLATFORM_ADMIN_EMAIL",
        default_value = "admin@example.com"
    )]
    pub admin_email: String,
    /// `aud` of locally signed tokens.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "mcpgateway-api")]
    pub jwt_audience: String,
    /// `iss` of locally signed tokens.
    #[arg(long, env = "JWT_ISSUER", default_value = "mcpgateway")]
    pub jwt_issuer: String,
    /// Address the harness's upstream MCP servers listen on; the gateway must reach it.
    #[arg(long, env = "MCPGW_UPSTREAM_HOST", default_value = "127.0.0.1")]
    pub upstream_host: String,
    /// Reference only (in-process or --cluster): re-create a known defect (comma-separated
    /// names).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub inject_defect: Vec<String>,
    /// Start N reference workers as separate processes on Redis and Postgres (testcontainers,
    /// else native; see docs/cluster.md) instead of the in-process reference. Gives the
    /// capabilities `cluster` (N > 1), `stateful` and `cluster-faults`.
    #[arg(long, env = "MCPGW_CLUSTER", value_name = "N", conflicts_with = "target",
          value_parser = clap::value_parser!(u16).range(1..=16))]
    pub cluster: Option<u16>,
    /// --cluster only: more environment for every worker (repeatable), e.g.
    /// `--worker-env MCPGW_WORKER_HEARTBEAT_TTL=300`.
    #[arg(long, value_name = "KEY=VALUE", requires = "cluster", value_parser = parse_env_pair)]
    pub worker_env: Vec<(String, String)>,
    /// --cluster only: give each worker its own in-memory store instead of the shared Postgres
    /// (a deliberately broken cluster, to show the restart scenarios can fail).
    #[arg(long, hide = true, requires = "cluster")]
    pub cluster_memory_store: bool,
}

fn parse_env_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// How to execute.
#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Scenarios run at once.
    #[arg(long, env = "MCPGW_JOBS", default_value_t = 8)]
    pub jobs: usize,
    /// Seconds to wait for each response.
    #[arg(long, default_value_t = 15)]
    pub timeout: u64,
    /// Snapshot directory [default: ./snapshots, else the repository's].
    #[arg(long, env = "MCPGW_SNAPSHOTS", value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// Skip `expect.snapshot` comparisons.
    #[arg(long)]
    pub no_snapshots: bool,
}

pub fn parse_capability(s: &str) -> Result<Capability, String> {
    Capability::parse(s).ok_or_else(|| {
        let known: Vec<_> = Capability::ALL.iter().map(|c| c.name()).collect();
        format!("unknown capability {s:?}; known: {}", known.join(", "))
    })
}

/// `dir` if given, else `./name` if it exists, else the repository's `name`.
pub fn default_dir(given: Option<&Path>, name: &str) -> PathBuf {
    if let Some(d) = given {
        return d.to_path_buf();
    }
    let local = PathBuf::from(name);
    if local.is_dir() {
        return std::fs::canonicalize(&local).unwrap_or(local);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::canonicalize(&repo).unwrap_or(repo)
}

/// Load and select scenarios.
pub fn select(args: &SelectArgs) -> Result<Vec<Loaded>, String> {
    let dir = default_dir(args.scenarios.as_deref(), "scenarios");
    let all = scenario::load_dir(&dir).map_err(|e| e.to_string())?;
    if all.is_empty() {
        return Err(format!("no scenario found under {}", dir.display()));
    }
    let chosen: Vec<Loaded> = all
        .into_iter()
        .filter(|l| {
            let id = &l.scenario.id;
            let area = id.split('/').next().unwrap_or_default();
            (args.only.is_empty()
                || args.only.iter().any(|o| {
                    let o = o.split(':').next().unwrap_or(o);
                    o == id || (o.ends_with('/') && id.starts_with(o))
                }))
                && (args.area.is_empty() || args.area.iter().any(|a| a == area))
        })
        .collect();
    if chosen.is_empty() {
        return Err("no scenario matched --scenario / --area".to_owned());
    }
    Ok(chosen)
}

pub fn target_config(t: &TargetArgs) -> Result<TargetConfig, String> {
    let (manifest, manifest_file) = match &t.target_file {
        Some(f) => (
            crate::manifest::load_file(f).map_err(|e| e.to_string())?,
            Some(f.clone()),
        ),
        None => {
            let name = t.profile.as_deref().unwrap_or("reference");
            let m = crate::manifest::builtin(name).ok_or_else(|| {
                format!("unknown profile {name:?}; known: {}", PROFILES.join(", "))
            })?;
            (m, None)
        }
    };
    let configured_from_file = manifest.static_world().is_some();
    let urls = if t.target.is_empty() {
        manifest
            .urls
            .iter()
            .map(|u| crate::manifest::expand_env(&u.value))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        t.target.clone()
    };
    let spec = if let Some(n) = t.cluster {
        if configured_from_file {
            return Err(
                "--cluster starts reference workers; the manifest describes another gateway"
                    .to_owned(),
            );
        }
        TargetSpec::Cluster {
            workers: usize::from(n),
            defects: t.inject_defect.clone(),
            worker_env: t.worker_env.clone(),
            exe: None,
            memory_store: t.cluster_memory_store,
        }
    } else if urls.is_empty() {
        if configured_from_file {
            return Err(format!(
                "the gateway of manifest `{}` has no URL: give --target URL or `urls:` in the manifest",
                manifest.name.value
            ));
        }
        TargetSpec::Reference {
            defects: t.inject_defect.clone(),
        }
    } else {
        if !t.inject_defect.is_empty() {
            return Err("--inject-defect applies to the reference only (drop --target)".to_owned());
        }
        TargetSpec::Url {
            urls,
            token: t.token.clone(),
            jwt_secret: t.jwt_secret.clone(),
        }
    };
    Ok(TargetConfig {
        spec,
        profile: Profile::of(&manifest),
        manifest: Arc::new(manifest),
        manifest_file,
        with: t.with.clone(),
        without: t.without.clone(),
        admin_email: t.admin_email.clone(),
        jwt_audience: t.jwt_audience.clone(),
        jwt_issuer: t.jwt_issuer.clone(),
        upstream_host: t.upstream_host.clone(),
    })
}

/// The target the environment describes (`MCPGW_TARGET_URL`, `MCPGW_TARGET_FILE`,
/// `MCPGW_TARGET_PROFILE`, `MCPGW_TARGET_TOKEN`, ...), read by the same parser as the command
/// line's flags; nothing set: the in-process reference.
pub fn target_config_from_env() -> Result<TargetConfig, String> {
    #[derive(Debug, clap::Parser)]
    struct EnvOnly {
        #[command(flatten)]
        target: TargetArgs,
    }
    let parsed = <EnvOnly as clap::Parser>::try_parse_from(["mcpgw-conformance"])
        .map_err(|e| e.to_string())?;
    target_config(&parsed.target)
}

pub fn run_options(e: &ExecArgs, profile: &str) -> RunOptions {
    RunOptions {
        timeout: Duration::from_secs(e.timeout.max(1)),
        jobs: e.jobs.max(1),
        snapshots: (!e.no_snapshots).then(|| SnapshotStore {
            dir: default_dir(e.snapshots.as_deref(), "snapshots"),
            profile: profile.to_owned(),
        }),
    }
}
