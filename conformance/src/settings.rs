//! Settings shared by the command line and the `cargo test` entry: the clap argument types that
//! select scenarios and a target and say how to run them, and their conversion into engine
//! values. The libtest entry parses the same types from the environment alone, so both read
//! `MCPGW_*` variables the same way.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use crate::manifest::Limits;
use crate::runner::RunOptions;
use crate::scenario::{self, Capability, Loaded};
use crate::snapshot::SnapshotStore;
use crate::target::{PROFILES, Profile, TargetConfig, TargetSpec};

/// Defaults of [`TargetArgs`]' flags: clap's, [`TargetConfig::reference`]'s, and what
/// [`TargetArgs::to_args`] leaves out.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@example.com";
pub const DEFAULT_JWT_AUDIENCE: &str = "mcpgateway-api";
pub const DEFAULT_JWT_ISSUER: &str = "mcpgateway";
pub const DEFAULT_UPSTREAM_HOST: &str = "127.0.0.1";

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
#[derive(Debug, Clone, PartialEq, Args)]
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
    #[arg(long, env = "PLATFORM_ADMIN_EMAIL", default_value = DEFAULT_ADMIN_EMAIL)]
    pub admin_email: String,
    /// `aud` of locally signed tokens.
    #[arg(long, env = "JWT_AUDIENCE", default_value = DEFAULT_JWT_AUDIENCE)]
    pub jwt_audience: String,
    /// `iss` of locally signed tokens.
    #[arg(long, env = "JWT_ISSUER", default_value = DEFAULT_JWT_ISSUER)]
    pub jwt_issuer: String,
    /// Address the harness's upstream MCP servers listen on; the gateway must reach it.
    #[arg(long, env = "MCPGW_UPSTREAM_HOST", default_value = DEFAULT_UPSTREAM_HOST)]
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
    /// Instead of the reference linked into this harness, start this `mcpgw-reference` binary
    /// (once per variant, as the in-process reference is), e.g. one built from changed sources:
    /// how `ci/mutants.sh` runs the suite against each mutant.
    #[arg(long, env = "MCPGW_REFERENCE_EXE", value_name = "PATH",
          conflicts_with_all = ["target", "cluster", "inject_defect", "target_file"])]
    pub reference_exe: Option<PathBuf>,
}

impl TargetArgs {
    /// The arguments that select the target `cfg` describes again, for replay commands. They
    /// carry what a replay needs to reach the same target (its URLs and manifest, or the
    /// reference with its cluster shape and injected defects), read from `cfg.spec` rather
    /// than kept from the command line, because callers re-aim a config by changing its spec
    /// (one defect at a time, the reference without its defect). Secrets stay out (see
    /// [`TargetArgs::to_args`]), and so do capabilities, admin email, JWT claims and upstream
    /// host: a replay has always named only the target.
    pub fn replaying(cfg: &TargetConfig) -> TargetArgs {
        let mut args = TargetArgs {
            target: Vec::new(),
            token: None,
            jwt_secret: None,
            profile: None,
            target_file: None,
            with: Vec::new(),
            without: Vec::new(),
            admin_email: DEFAULT_ADMIN_EMAIL.to_owned(),
            jwt_audience: DEFAULT_JWT_AUDIENCE.to_owned(),
            jwt_issuer: DEFAULT_JWT_ISSUER.to_owned(),
            upstream_host: DEFAULT_UPSTREAM_HOST.to_owned(),
            inject_defect: Vec::new(),
            cluster: None,
            worker_env: Vec::new(),
            cluster_memory_store: false,
            reference_exe: None,
        };
        match &cfg.spec {
            TargetSpec::Reference { defects } => args.inject_defect.clone_from(defects),
            TargetSpec::ReferenceExe { exe } => args.reference_exe = Some(exe.clone()),
            TargetSpec::Cluster {
                workers,
                defects,
                worker_env,
                exe: _,
                memory_store,
            } => {
                // A cluster that large could not have started; clap would refuse the number.
                args.cluster = Some(u16::try_from(*workers).unwrap_or(u16::MAX));
                args.inject_defect.clone_from(defects);
                args.worker_env.clone_from(worker_env);
                args.cluster_memory_store = *memory_store;
            }
            TargetSpec::Url { urls, .. } => {
                args.target.clone_from(urls);
                match &cfg.manifest_file {
                    Some(f) => args.target_file = Some(f.clone()),
                    None => args.profile = Some(cfg.profile.name.clone()),
                }
            }
        }
        args
    }

    /// The command-line arguments that parse back into these (a unit test holds it to that),
    /// flags at their defaults left out, in the order replay commands have always had. Never
    /// `--token` or `--jwt-secret`: what this gives is printed in reports and CI logs, so a
    /// replay reads secrets from `MCPGW_TARGET_TOKEN` / `MCPGW_TARGET_JWT_SECRET` as the run did.
    pub fn to_args(&self) -> Vec<String> {
        // Taken apart field by field, so that a new flag cannot be forgotten here.
        let TargetArgs {
            target,
            token: _,
            jwt_secret: _,
            profile,
            target_file,
            with,
            without,
            admin_email,
            jwt_audience,
            jwt_issuer,
            upstream_host,
            inject_defect,
            cluster,
            worker_env,
            cluster_memory_store,
            reference_exe,
        } = self;
        let mut out = Vec::new();
        let mut flag = |name: &str, value: String| {
            out.push(format!("--{name}"));
            out.push(value);
        };
        // `--target` and `--inject-defect` split their value at commas.
        if !target.is_empty() {
            flag("target", target.join(","));
        }
        if let Some(p) = profile {
            flag("profile", p.clone());
        }
        if let Some(f) = target_file {
            flag("target-file", f.display().to_string());
        }
        for c in with {
            flag("with", c.name().to_owned());
        }
        for c in without {
            flag("without", c.name().to_owned());
        }
        for (name, value, default) in [
            ("admin-email", admin_email, DEFAULT_ADMIN_EMAIL),
            ("jwt-audience", jwt_audience, DEFAULT_JWT_AUDIENCE),
            ("jwt-issuer", jwt_issuer, DEFAULT_JWT_ISSUER),
            ("upstream-host", upstream_host, DEFAULT_UPSTREAM_HOST),
        ] {
            if value != default {
                flag(name, value.clone());
            }
        }
        if let Some(n) = cluster {
            flag("cluster", n.to_string());
        }
        if !inject_defect.is_empty() {
            flag("inject-defect", inject_defect.join(","));
        }
        for (k, v) in worker_env {
            flag("worker-env", format!("{k}={v}"));
        }
        if *cluster_memory_store {
            out.push("--cluster-memory-store".to_owned());
        }
        if let Some(exe) = reference_exe {
            out.push("--reference-exe".to_owned());
            out.push(exe.display().to_string());
        }
        out
    }
}

/// What follows `mcpgw-conformance run` in a replay command to select the target `cfg`
/// describes, each argument after a space (empty for the default in-process reference).
pub fn replay_args(cfg: &TargetConfig) -> String {
    TargetArgs::replaying(cfg)
        .to_args()
        .iter()
        .map(|a| format!(" {a}"))
        .collect()
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
    /// Seconds each request may take, all of it: connecting, sending, and the whole response,
    /// head and body. A request over it FAILs its step, naming the limit [default: the
    /// manifest's limits.request_timeout_ms, else 15].
    #[arg(long, env = "MCPGW_TIMEOUT", value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Bytes of one response body (after de-chunking). A larger one FAILs its step, naming the
    /// limit, and the transcript keeps its first 64 KiB [default: the manifest's
    /// limits.max_response_bytes, else 16777216 (16 MiB)].
    #[arg(long, env = "MCPGW_MAX_RESPONSE_BYTES", value_name = "BYTES")]
    pub max_response_bytes: Option<NonZeroU64>,
    /// Seconds each scenario may take, its fixtures and steps; steps it leaves FAIL as not
    /// run, and its fixtures are still deleted [default: the manifest's
    /// limits.scenario_timeout_ms, else 120].
    #[arg(long, env = "MCPGW_SCENARIO_TIMEOUT", value_name = "SECONDS")]
    pub scenario_timeout: Option<NonZeroU64>,
    /// Seconds the run of all scenarios may take; when it passes, running scenarios stop,
    /// the rest are UNTESTABLE (not run), reports are written and the exit code is 1
    /// [default: the manifest's limits.run_timeout_s, else 3600].
    #[arg(long, env = "MCPGW_RUN_TIMEOUT", value_name = "SECONDS")]
    pub run_timeout: Option<NonZeroU64>,
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
    let spec = if let Some(exe) = &t.reference_exe {
        TargetSpec::ReferenceExe { exe: exe.clone() }
    } else if let Some(n) = t.cluster {
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
    let millis = |seconds: NonZeroU64| seconds.saturating_mul(NonZeroU64::new(1000).expect("1000"));
    RunOptions {
        limits: Limits {
            max_response_bytes: e.max_response_bytes,
            // `--timeout 0` has always meant one second.
            request_timeout_ms: e
                .timeout
                .map(|s| millis(NonZeroU64::new(s).unwrap_or(NonZeroU64::MIN))),
            scenario_timeout_ms: e.scenario_timeout.map(millis),
            run_timeout_s: e.run_timeout,
        },
        jobs: e.jobs.max(1),
        snapshots: (!e.no_snapshots).then(|| SnapshotStore {
            dir: default_dir(e.snapshots.as_deref(), "snapshots"),
            profile: profile.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `args` parsed as a run's target flags by clap, environment fallbacks off: what a replay
    /// command's flags alone select, whatever `MCPGW_*` the test process happens to have.
    fn parse(args: &[String]) -> Result<TargetArgs, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        #[derive(Debug, clap::Parser)]
        struct Run {
            #[command(flatten)]
            target: TargetArgs,
        }
        let matches = Run::command()
            .mut_args(|a| a.env(None::<&str>))
            .try_get_matches_from(std::iter::once("run".to_owned()).chain(args.iter().cloned()))?;
        Ok(Run::from_arg_matches(&matches)?.target)
    }

    fn reference_with(spec: TargetSpec) -> TargetConfig {
        TargetConfig {
            spec,
            ..TargetConfig::reference()
        }
    }

    /// Every flag away from its default, secrets included (which must not survive).
    fn every_flag() -> [TargetArgs; 4] {
        let none = TargetArgs::replaying(&TargetConfig::reference());
        let cluster = TargetArgs {
            cluster: Some(3),
            inject_defect: vec!["forwarded-no-server-id".to_owned(), "b".to_owned()],
            worker_env: vec![
                ("MCPGW_WORKER_HEARTBEAT_TTL".to_owned(), "300".to_owned()),
                ("X".to_owned(), "a=b".to_owned()),
            ],
            cluster_memory_store: true,
            with: vec![Capability::Stateful, Capability::SseResponse],
            without: vec![Capability::Cluster],
            ..none.clone()
        };
        let url = TargetArgs {
            target: vec!["http://a:1".to_owned(), "http://b:2/root".to_owned()],
            token: Some("secret-token".to_owned()),
            jwt_secret: Some("secret-key".to_owned()),
            profile: Some("contextforge".to_owned()),
            admin_email: "root@example.org".to_owned(),
            jwt_audience: "aud".to_owned(),
            jwt_issuer: "iss".to_owned(),
            upstream_host: "0.0.0.0".to_owned(),
            ..none.clone()
        };
        let file = TargetArgs {
            target: vec!["http://a:1".to_owned()],
            target_file: Some(PathBuf::from("gateways/litellm.yaml")),
            ..none.clone()
        };
        let exe = TargetArgs {
            reference_exe: Some(PathBuf::from("target/debug/mcpgw-reference")),
            with: vec![Capability::Stateful],
            ..none
        };
        [cluster, url, file, exe]
    }

    #[test]
    fn to_args_parse_back_into_the_same_args_but_secrets() {
        for args in every_flag() {
            let line = args.to_args();
            let parsed = parse(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            let expected = TargetArgs {
                token: None,
                jwt_secret: None,
                ..args
            };
            assert_eq!(parsed, expected, "{line:?}");
            assert!(!line.iter().any(|a| a.contains("secret")), "{line:?}");
        }
    }

    #[test]
    fn replay_args_are_unchanged_for_every_kind_of_target() {
        let defects = |d: &[&str]| d.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let url = TargetSpec::Url {
            urls: vec!["http://a:1".to_owned(), "http://b:2".to_owned()],
            token: Some("secret-token".to_owned()),
            jwt_secret: Some("secret-key".to_owned()),
        };
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateways/litellm.yaml");
        let cases = [
            (TargetConfig::reference(), String::new()),
            (
                reference_with(TargetSpec::Reference {
                    defects: defects(&["normalise-dot-segments", "hex-only-server-regex"]),
                }),
                " --inject-defect normalise-dot-segments,hex-only-server-regex".to_owned(),
            ),
            (
                reference_with(TargetSpec::Cluster {
                    workers: 2,
                    defects: defects(&["forwarded-no-server-id"]),
                    worker_env: Vec::new(),
                    exe: Some(PathBuf::from("/not/in/a/replay")),
                    memory_store: false,
                }),
                " --cluster 2 --inject-defect forwarded-no-server-id".to_owned(),
            ),
            (
                reference_with(TargetSpec::Cluster {
                    workers: 3,
                    defects: Vec::new(),
                    worker_env: vec![("K".to_owned(), "v=w".to_owned())],
                    exe: None,
                    memory_store: true,
                }),
                " --cluster 3 --worker-env K=v=w --cluster-memory-store".to_owned(),
            ),
            (
                reference_with(url.clone()),
                " --target http://a:1,http://b:2 --profile reference".to_owned(),
            ),
            (
                TargetConfig {
                    manifest_file: Some(manifest.clone()),
                    ..reference_with(url)
                },
                format!(
                    " --target http://a:1,http://b:2 --target-file {}",
                    manifest.display()
                ),
            ),
        ];
        for (cfg, expected) in cases {
            let replay = replay_args(&cfg);
            assert_eq!(replay, expected);
            // What the replay's flags select has the same replay: nothing is lost on the way.
            let parsed = parse(&TargetArgs::replaying(&cfg).to_args())
                .unwrap_or_else(|e| panic!("{replay:?}: {e}"));
            let again = target_config(&parsed).unwrap_or_else(|e| panic!("{replay:?}: {e}"));
            assert_eq!(replay_args(&again), replay);
        }
    }
}
