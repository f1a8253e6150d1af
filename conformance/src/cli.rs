//! The command line: `run`, `defects`, `check`, `list`, `schema`, `fuzz` (in `crate::fuzz`),
//! `upstreams` and `upstream --stdio` (in `crate::declared_upstreams`).
//!
//! Exit codes: 0 nothing unexpected, 1 failures (or a stale baseline entry), 2 usage or
//! configuration errors (a malformed scenario, an unreachable target, bad credentials).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

use crate::baseline::Baseline;
use crate::defects;
use crate::report::{BaselineSummary, Report, terminal};
use crate::runner;
use crate::scenario;
use crate::settings::{ExecArgs, SelectArgs, TargetArgs, run_options, select, target_config};
use crate::target::{Target, TargetConfig};

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
    /// Check scenario files (and a target manifest) without sending anything (exit 2 on a
    /// malformed file).
    Check(CheckArgs),
    /// List scenarios with their level, requirements and title.
    List(SelectArgs),
    /// Print the JSON Schema of scenario files (committed as scenarios/schema.json), or with
    /// --manifest of target manifests (gateways/schema.json).
    Schema(SchemaArgs),
    /// Serve the upstream MCP fixtures a target manifest declares on their loopback ports, for a
    /// gateway configured to reach them; prints `ready KEY=URL ...` once listening. Stops on
    /// SIGTERM or SIGINT, or when its stdin closes if stdin is a pipe.
    Upstreams(UpstreamsArgs),
    /// Serve one declared upstream fixture over stdin/stdout, for a gateway that launches its
    /// MCP servers as commands; what reaches it is recorded where the manifest says.
    Upstream(UpstreamArgs),
    /// Print a target manifest as JSON, after checking it (for scripts that write a gateway's
    /// own configuration from it).
    Manifest(ManifestArgs),
    /// Fuzz a target's path and id parsing against the oracle; write a failure as a scenario.
    Fuzz(Box<crate::fuzz::FuzzArgs>),
    /// Hold the same conversations directly with the harness's fidelity upstream and through the
    /// gateway, and report every difference (a feature table: preserved / added / altered /
    /// dropped / not supported).
    Fidelity(Box<FidelityArgs>),
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
pub struct FidelityArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Only these features (comma-separated ids; see --list).
    #[arg(long = "feature", value_name = "ID", value_delimiter = ',')]
    pub features: Vec<String>,
    /// List the features with their ids and exit.
    #[arg(long)]
    pub list: bool,
    /// Seconds for one request (connecting, sending, the whole answer).
    #[arg(
        long,
        env = "MCPGW_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 15
    )]
    pub timeout: u64,
    /// Times each timed request (tools/list, tools/call, resources/read, prompts/get) is sent
    /// directly and through the gateway, for the latency it adds (p50, p99); 0: not measured.
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u16).range(0..=10000))]
    pub samples: u16,
    /// Write report.json, junit.xml, summary.md and report.html into DIR.
    #[arg(long, env = "MCPGW_REPORT_DIR", value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Known differences (YAML, as for `run`; one file may hold both, ids `fidelity/...` here):
    /// listed ones do not fail the run; new ones, and listed ones that now pass, do.
    #[arg(long, env = "MCPGW_BASELINE", value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Rewrite the --baseline file to match this run (keeps reasons of entries that stay, and
    /// every entry of what this run did not hold).
    #[arg(long, requires = "baseline")]
    pub bless: bool,
    /// Print every difference and both conversations of each feature that did not pass.
    #[arg(long)]
    pub transcripts: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Also check this target manifest.
    #[arg(long, env = "MCPGW_TARGET_FILE", value_name = "FILE")]
    pub target_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct SchemaArgs {
    /// The schema of target manifests instead of scenarios.
    #[arg(long)]
    pub manifest: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UpstreamsArgs {
    /// The target manifest that declares them.
    #[arg(long, env = "MCPGW_TARGET_FILE", value_name = "FILE")]
    pub target_file: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "MCPGW_UPSTREAM_HOST", default_value = "127.0.0.1")]
    pub host: String,
}

#[derive(Debug, Clone, Args)]
pub struct ManifestArgs {
    /// The target manifest.
    #[arg(long, env = "MCPGW_TARGET_FILE", value_name = "FILE")]
    pub target_file: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct UpstreamArgs {
    /// The target manifest that declares it.
    #[arg(long, env = "MCPGW_TARGET_FILE", value_name = "FILE")]
    pub target_file: PathBuf,
    /// Serve over stdin/stdout the declared upstream with this key.
    #[arg(long, value_name = "KEY")]
    pub stdio: String,
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

fn exit_with_parent() {
    if std::env::var_os(crate::cluster::EXIT_WITH_PARENT_ENV).is_none() {
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
    let result = match cli.command {
        Command::Run(args) => run(*args).await,
        Command::Defects(args) => run_defects(args).await,
        Command::Gate(args) => gate(&args),
        Command::Check(args) => check(&args),
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
        Command::Schema(args) => {
            out(&if args.manifest {
                crate::manifest::json_schema()
            } else {
                scenario::json_schema()
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Upstreams(args) => upstreams(&args).await,
        Command::Manifest(args) => crate::manifest::load_file(&args.target_file)
            .map_err(|e| Usage(e.to_string()))
            .and_then(|m| Ok(serde_json::to_string_pretty(&m)?))
            .map(|text| {
                out(&format!("{text}\n"));
                ExitCode::SUCCESS
            }),
        Command::Upstream(args) => crate::manifest::load_file(&args.target_file)
            .map_err(|e| Usage(e.to_string()))
            .and_then(|m| {
                crate::declared_upstreams::serve_stdio(&m, &args.stdio).map_err(Usage::from)
            })
            .map(|()| ExitCode::SUCCESS),
        Command::Fuzz(args) => crate::fuzz::command::run(*args).await.map_err(Usage),
        Command::Fidelity(args) => fidelity(*args).await,
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
    mcpgw_reference::launch::init_logging();
    let mut settings = args.settings;
    settings.policy = mcpgw_reference::defects::policy_with(&args.inject_defect)?;
    mcpgw_reference::launch::run(settings).await
}

fn check(args: &CheckArgs) -> Result<ExitCode, Usage> {
    if let Some(f) = &args.target_file {
        let m = crate::manifest::load_file(f)?;
        println!("target manifest `{}` is well-formed", m.name.value);
    }
    let loaded = select(&args.select).map_err(Usage)?;
    println!("{} scenario(s) are well-formed", loaded.len());
    Ok(ExitCode::SUCCESS)
}

async fn upstreams(args: &UpstreamsArgs) -> Result<ExitCode, Usage> {
    let m = crate::manifest::load_file(&args.target_file)?;
    let served = crate::declared_upstreams::serve_http(&m, &args.host).await?;
    out(&format!("{}\n", served.ready_line()));
    let stdin_is_pipe = {
        use std::os::unix::fs::FileTypeExt;
        std::fs::metadata("/dev/stdin").is_ok_and(|md| md.file_type().is_fifo())
    };
    let stdin_closed = async move {
        if !stdin_is_pipe {
            return std::future::pending::<()>().await;
        }
        let _ = tokio::task::spawn_blocking(|| {
            use std::io::Read;
            let mut sink = [0u8; 64];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        })
        .await;
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        () = stdin_closed => {}
    }
    drop(served);
    Ok(ExitCode::SUCCESS)
}

async fn run(args: RunArgs) -> Result<ExitCode, Usage> {
    let scenarios = select(&args.select).map_err(Usage)?;
    let cfg = target_config(&args.target).map_err(Usage)?;
    let baseline = load_baseline(args.baseline.as_deref(), args.bless)?;
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
    let outcome = runner::run_all_within(&target, &scenarios, &opts, &|r| progress.done(r)).await;
    progress.finish();
    let results = outcome.results;
    let mut exit_ok = true;
    let baseline_summary = baseline_summary(
        baseline.as_ref(),
        args.baseline.as_deref(),
        args.bless,
        &target,
        &results,
    )?;
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
    if let Some(why) = &outcome.stopped {
        // Not covered by any baseline: the run did not see what it was asked to.
        eprintln!("mcpgw-conformance: {why}");
        exit_ok = false;
    }
    Ok(if exit_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn fidelity(args: FidelityArgs) -> Result<ExitCode, Usage> {
    let features = crate::fidelity::select(&args.features).map_err(Usage)?;
    if args.list {
        for f in &features {
            out(&format!("{:<26} {}\n", f.id, f.title));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = target_config(&args.target).map_err(Usage)?;
    // A feature the manifest says the gateway lacks must be one that exists: a typo would
    // otherwise turn a failure into nothing.
    crate::fidelity::select(&cfg.manifest.fidelity.unsupported)
        .map_err(|e| Usage(format!("the target manifest's fidelity.unsupported: {e}")))?;
    let baseline = load_baseline(args.baseline.as_deref(), args.bless)?;
    let started = Instant::now();
    let target = Target::start(&cfg).await?;
    let replay = format!(
        "mcpgw-conformance fidelity{}",
        crate::settings::replay_args(&cfg)
    );
    let opts = crate::fidelity::Options {
        timeout: std::time::Duration::from_secs(args.timeout.max(1)),
        samples: usize::from(args.samples),
        replay,
    };
    let run = crate::fidelity::run(&target, &features, &opts).await?;
    let summary = baseline_summary(
        baseline.as_ref(),
        args.baseline.as_deref(),
        args.bless,
        &target,
        &run.results,
    )?;
    let mut report = Report::new(
        target.identity.clone(),
        run.results,
        summary,
        started.elapsed().as_millis() as u64,
    );
    report.fidelity = Some(run.table);
    out(&terminal::render(&report, args.transcripts));
    if let Some(dir) = &args.report_dir {
        report.write_all(dir)?;
        println!("reports written to {}", dir.display());
    }
    Ok(if report.summary.failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The baseline at `path`; with `bless`, an empty one when the file does not exist yet.
fn load_baseline(path: Option<&Path>, bless: bool) -> Result<Option<Baseline>, Usage> {
    match path {
        Some(p) if p.exists() => Ok(Some(Baseline::load(p)?)),
        Some(_) if bless => Ok(Some(Baseline::default())),
        Some(p) => Err(Usage(format!(
            "baseline {} does not exist (create it with --bless)",
            p.display()
        ))),
        None => Ok(None),
    }
}

/// How `results` stand against the baseline; with `bless`, the baseline file is first
/// rewritten to match them (entries of scenarios or features this run did not hold are kept,
/// so the suite and fidelity can share one file).
fn baseline_summary(
    baseline: Option<&Baseline>,
    path: Option<&Path>,
    bless: bool,
    target: &Target,
    results: &[crate::verdict::ScenarioResult],
) -> Result<Option<BaselineSummary>, Usage> {
    let (Some(b), Some(path)) = (baseline, path) else {
        return Ok(None);
    };
    if !bless {
        return Ok(Some(BaselineSummary::new(path, b, results)));
    }
    let mut blessed = b.blessed(results);
    if blessed.target.is_none() {
        let version = target.identity.version.as_deref().unwrap_or("");
        let name = format!("{} {version}", target.identity.profile);
        blessed.target = Some(name.trim_end().to_owned());
    }
    blessed.save(path)?;
    say_blessed(path, &blessed);
    Ok(Some(BaselineSummary::new(path, &blessed, results)))
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
