//! The command line: `run`, `defects`, `check`, `list`, `schema`, `fuzz` (in `crate::fuzz`).
//!
//! Exit codes: 0 nothing unexpected, 1 failures (or a stale baseline entry), 2 usage or
//! configuration errors (a malformed scenario, an unreachable target, bad credentials).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::baseline::Baseline;
use crate::defects;
use crate::report::{BaselineSummary, Report, terminal};
use crate::runner::{self, RunOptions};
use crate::scenario::{self, Capability, Loaded};
use crate::snapshot::SnapshotStore;
use crate::target::{PROFILES, Profile, Target, TargetConfig, TargetSpec};

/// Conformance harness for MCP gateways: runs YAML scenarios against a gateway (by default the
/// in-process reference) and gates CI on the result.
#[derive(Debug, Parser)]
#[command(
    name = "mcpgw-conformance",
    version,
    after_help = "Exit codes: 0 nothing unexpected, 1 failures (FAIL or UNTESTABLE not in the baseline, \
                  or a baseline entry that now passes), 2 usage or configuration error \
                  (malformed scenario, unreachable target, refused credentials).\n\
                  Scenario format: scenarios/README.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios against a target (default: the in-process reference gateway).
    Run(Box<RunArgs>),
    /// Run the suite once per defect the reference can re-create; exit 1 if one goes undetected.
    Defects(DefectsArgs),
    /// Compare a saved report.json with a baseline (exit 1 on new failures or stale entries),
    /// or re-bless the baseline from it, without running anything.
    Gate(GateArgs),
    /// Check scenario files without sending anything (exit 2 on a malformed file).
    Check(SelectArgs),
    /// List scenarios with their level, requirements and title.
    List(SelectArgs),
    /// Print the JSON Schema of scenario files (committed as scenarios/schema.json).
    Schema,
    /// Fuzz a target's path and id parsing against the oracle; write a failure as a scenario.
    Fuzz(Box<crate::fuzz::FuzzArgs>),
    /// Run the reference gateway in this process (how `--cluster N` starts its workers as
    /// separate processes of this binary). Takes the reference's own flags and environment.
    #[command(hide = true)]
    ServeReference(Box<ServeReferenceArgs>),
}

/// A cluster worker: the reference's own settings, plus the defects to re-create in it. Only
/// this harness binary can start a reference with a defect; the `mcpgw-reference` binary has no
/// such flag.
#[derive(Debug, Args)]
pub struct ServeReferenceArgs {
    #[command(flatten)]
    pub settings: mcpgw_reference::Settings,
    /// Re-create known defects (comma-separated names; see `mcpgw-conformance defects`).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub inject_defect: Vec<String>,
}

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
    /// What kind of gateway the target is: reference | contextforge.
    #[arg(long, env = "MCPGW_TARGET_PROFILE", default_value = "reference",
          value_parser = clap::builder::PossibleValuesParser::new(PROFILES))]
    pub profile: String,
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

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
    /// Write report.json, junit.xml and summary.md into DIR.
    #[arg(long, env = "MCPGW_REPORT_DIR", value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Known failures (YAML): listed failures do not fail the run; new ones, and listed ones
    /// that now pass, do.
    #[arg(long, env = "MCPGW_BASELINE", value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Rewrite the --baseline file to match this run (keeps reasons of entries that stay).
    #[arg(long, requires = "baseline")]
    pub bless: bool,
    /// Print the request/response transcript of every check that did not pass.
    #[arg(long)]
    pub transcripts: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct GateArgs {
    /// A report.json written by `run --report-dir` (or the directory holding it).
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,
    /// The baseline to compare with.
    #[arg(long, env = "MCPGW_BASELINE", value_name = "FILE")]
    pub baseline: PathBuf,
    /// Rewrite the baseline to match the report (keeps reasons of entries that stay).
    #[arg(long)]
    pub bless: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DefectsArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub exec: ExecArgs,
    /// Also write the matrix as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

fn parse_capability(s: &str) -> Result<Capability, String> {
    Capability::parse(s).ok_or_else(|| {
        let known: Vec<_> = Capability::ALL.iter().map(|c| c.name()).collect();
        format!("unknown capability {s:?}; known: {}", known.join(", "))
    })
}

/// Print to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// A usage or configuration error: exit code 2.
struct Usage(String);

impl<E: std::fmt::Display> From<E> for Usage {
    fn from(e: E) -> Self {
        Usage(e.to_string())
    }
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

pub(crate) fn target_config(t: &TargetArgs) -> Result<TargetConfig, String> {
    let profile = Profile::named(&t.profile).ok_or_else(|| {
        format!(
            "unknown profile {:?}; known: {}",
            t.profile,
            PROFILES.join(", ")
        )
    })?;
    let spec = if let Some(n) = t.cluster {
        TargetSpec::Cluster {
            workers: usize::from(n),
            defects: t.inject_defect.clone(),
            worker_env: t.worker_env.clone(),
            exe: None,
            memory_store: t.cluster_memory_store,
        }
    } else if t.target.is_empty() {
        TargetSpec::Reference {
            defects: t.inject_defect.clone(),
        }
    } else {
        if !t.inject_defect.is_empty() {
            return Err("--inject-defect applies to the reference only (drop --target)".to_owned());
        }
        TargetSpec::Url {
            urls: t.target.clone(),
            token: t.token.clone(),
            jwt_secret: t.jwt_secret.clone(),
        }
    };
    Ok(TargetConfig {
        spec,
        profile,
        with: t.with.clone(),
        without: t.without.clone(),
        admin_email: t.admin_email.clone(),
        jwt_audience: t.jwt_audience.clone(),
        jwt_issuer: t.jwt_issuer.clone(),
        upstream_host: t.upstream_host.clone(),
    })
}

fn run_options(e: &ExecArgs, profile: &str) -> RunOptions {
    RunOptions {
        timeout: Duration::from_secs(e.timeout.max(1)),
        jobs: e.jobs.max(1),
        snapshots: (!e.no_snapshots).then(|| SnapshotStore {
            dir: default_dir(e.snapshots.as_deref(), "snapshots"),
            profile: profile.to_owned(),
        }),
    }
}

/// Set by the cluster fixture on its workers: stdin is a pipe from the harness, and its end
/// (the harness exited, however it exited) ends the worker, so no worker outlives its harness
/// even when the harness could not drop its cluster (a `process::exit`, a static, a SIGKILL).
pub const EXIT_WITH_PARENT_ENV: &str = "MCPGW_EXIT_WITH_PARENT";

fn exit_with_parent() {
    if std::env::var_os(EXIT_WITH_PARENT_ENV).is_none() {
        return;
    }
    std::thread::spawn(|| {
        use std::io::Read;
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
}

/// Run the command line; returns the process exit code.
pub async fn main(cli: Cli) -> ExitCode {
    crate::snapshot::quiet_snapshot_panics();
    let result = match cli.command {
        Command::Run(args) => run(*args).await,
        Command::Defects(args) => run_defects(args).await,
        Command::Gate(args) => gate(&args),
        Command::Check(args) => select(&args).map_err(Usage).map(|l| {
            println!("{} scenario(s) are well-formed", l.len());
            ExitCode::SUCCESS
        }),
        Command::List(args) => select(&args).map_err(Usage).map(|l| {
            for s in l.iter().map(|l| &l.scenario) {
                let req: Vec<_> = runner::needed_capabilities(s)
                    .iter()
                    .map(|c| c.name())
                    .collect();
                println!(
                    "{:<55} {:<6} {:<24} {}",
                    s.id,
                    format!("{:?}", s.level).to_uppercase(),
                    req.join(","),
                    s.title
                );
            }
            ExitCode::SUCCESS
        }),
        Command::Schema => {
            out(&scenario::json_schema());
            Ok(ExitCode::SUCCESS)
        }
        Command::Fuzz(args) => crate::fuzz::command::run(*args).await.map_err(Usage),
        Command::ServeReference(args) => {
            exit_with_parent();
            serve_reference(*args).await
        }
        .map(|()| ExitCode::SUCCESS)
        .map_err(Usage),
    };
    match result {
        Ok(code) => code,
        Err(Usage(msg)) => {
            eprintln!("mcpgw-conformance: {msg}");
            ExitCode::from(2)
        }
    }
}

async fn serve_reference(args: ServeReferenceArgs) -> Result<(), String> {
    let mut settings = args.settings;
    settings.policy = mcpgw_reference::defects::policy_with(&args.inject_defect)?;
    mcpgw_reference::launch::run(settings).await
}

async fn run(args: RunArgs) -> Result<ExitCode, Usage> {
    let scenarios = select(&args.select).map_err(Usage)?;
    let cfg = target_config(&args.target).map_err(Usage)?;
    let baseline = match &args.baseline {
        Some(p) if p.exists() => Some(Baseline::load(p)?),
        Some(_) if args.bless => Some(Baseline::default()),
        Some(p) => {
            return Err(Usage(format!(
                "baseline {} does not exist (create it with --bless)",
                p.display()
            )));
        }
        None => None,
    };
    let opts = run_options(&args.exec, &cfg.profile.name);
    let started = Instant::now();
    let target = Target::start(&cfg).await?;
    if let Some(d) = target.cluster_startup().await {
        eprintln!(
            "cluster of {} worker(s) started in {:.2} s",
            target.bases.len(),
            d.as_secs_f64()
        );
    }
    let progress = terminal::Progress::new(scenarios.len(), !args.quiet);
    let results = runner::run_all(&target, &scenarios, &opts, &|r| progress.done(r)).await;
    progress.finish();
    let mut exit_ok = true;
    let baseline_summary = match (&baseline, &args.baseline) {
        (Some(b), Some(path)) => {
            if args.bless {
                let mut blessed = b.blessed(&results);
                if blessed.target.is_none() {
                    let version = target.identity.version.as_deref().unwrap_or("");
                    let name = format!("{} {version}", target.identity.profile);
                    blessed.target = Some(name.trim_end().to_owned());
                }
                blessed.save(path)?;
                say_blessed(path, &blessed);
                Some(BaselineSummary::new(path, &blessed, &results))
            } else {
                Some(BaselineSummary::new(path, b, &results))
            }
        }
        _ => None,
    };
    let report = Report::new(
        target.identity.clone(),
        results,
        baseline_summary,
        started.elapsed().as_millis() as u64,
    );
    out(&terminal::render(&report, args.transcripts));
    if let Some(dir) = &args.report_dir {
        report.write_all(dir)?;
        println!("reports written to {}", dir.display());
    }
    if report.summary.failed {
        exit_ok = false;
    }
    Ok(if exit_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What `--bless` wrote, and which entries still need a reason.
fn say_blessed(path: &Path, blessed: &Baseline) {
    use std::fmt::Write as _;
    let mut text = format!(
        "blessed {}: {} known failure(s)\n",
        path.display(),
        blessed.known_failures.len()
    );
    let todo = blessed.without_reasons();
    if !todo.is_empty() {
        let _ = writeln!(
            text,
            "{} new entr(y/ies) need a reason (why it fails, and the issue or decision):",
            todo.len()
        );
        for k in todo {
            let _ = writeln!(text, "  {}", k.scenario);
        }
    }
    out(&text);
}

fn gate(args: &GateArgs) -> Result<ExitCode, Usage> {
    let report = if args.report.is_dir() {
        args.report.join("report.json")
    } else {
        args.report.clone()
    };
    let results = crate::report::read::results(&report)?;
    let baseline = match (args.baseline.exists(), args.bless) {
        (true, _) => Baseline::load(&args.baseline)?,
        (false, true) => Baseline::default(),
        (false, false) => {
            return Err(Usage(format!(
                "baseline {} does not exist (create it with --bless)",
                args.baseline.display()
            )));
        }
    };
    let baseline = if args.bless {
        let blessed = baseline.blessed(&results);
        blessed.save(&args.baseline)?;
        say_blessed(&args.baseline, &blessed);
        blessed
    } else {
        baseline
    };
    let summary = BaselineSummary::new(&args.baseline, &baseline, &results);
    out(&terminal::baseline(&summary));
    Ok(if summary.comparison.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn run_defects(args: DefectsArgs) -> Result<ExitCode, Usage> {
    let scenarios = select(&args.select).map_err(Usage)?;
    let cfg = TargetConfig::reference();
    let mut opts = run_options(&args.exec, &cfg.profile.name);
    // A defect changes responses on purpose: snapshots would only write pending files.
    opts.snapshots = None;
    let started = Instant::now();
    let rows = defects::run_matrix(&cfg, &scenarios, &opts, &|name| {
        eprintln!("defect {name}: running {} scenario(s)", scenarios.len());
    })
    .await?;
    out(&defects::render(&rows));
    println!("in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)?;
    }
    Ok(if rows.iter().any(|r| r.undetected()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
