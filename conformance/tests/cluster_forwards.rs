//! Forwards between workers, as the workers' logs show them (manifest `cluster.forwards`), on a
//! cluster the suite did not start: the reference's workers given by URL, alone or behind one
//! URL. A step that expects a forward passes only where one shows, and is UNTESTABLE where none
//! does or nothing can show it; behind one URL such a step is sent again until a forward shows,
//! and a forwarded request that loses its scope still fails.
//!
//! Needs Redis and Postgres (services module); without them, and without
//! `MCPGW_REQUIRE_SERVICES=1`, the tests are skipped with a message.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcpgw_conformance::cluster::{Cluster, ClusterOptions};
use mcpgw_conformance::manifest::{self, ForwardEvidence, Manifest, unspanned};
use mcpgw_conformance::runner::{self, RunOptions};
use mcpgw_conformance::scenario::{self, Capability, Loaded};
use mcpgw_conformance::target::{Target, TargetConfig, TargetSpec};
use mcpgw_conformance::verdict::{ScenarioResult, Verdict};

const FORWARD_LINE: &str = "forwarding the request to the session's owner";
const SCENARIO: &str = "scenarios/affinity/forwarded-request-keeps-server-scope.yaml";

async fn cluster(defects: &[&str]) -> Option<Cluster> {
    let mut o = ClusterOptions::new(2);
    o.exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_mcpgw-conformance")));
    o.defects = defects.iter().map(|d| (*d).to_owned()).collect();
    match Cluster::start(o).await {
        Ok(c) => Some(c),
        Err(e) if std::env::var_os("MCPGW_REQUIRE_SERVICES").is_none() => {
            eprintln!("skipping: no cluster: {e}");
            None
        }
        Err(e) => panic!("MCPGW_REQUIRE_SERVICES=1 and the cluster did not start: {e}"),
    }
}

fn scenario() -> Loaded {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    scenario::load_file(&root.join("scenarios"), &root.join(SCENARIO)).unwrap()
}

/// The reference's manifest with `forwards` (and `workers_per_url`), for `urls`.
async fn run(
    c: &Cluster,
    urls: Vec<String>,
    forwards: Option<&str>,
    workers_per_url: u64,
) -> ScenarioResult {
    let mut m: Manifest = manifest::builtin("reference").unwrap();
    m.cluster.forwards = forwards.map(|pattern| ForwardEvidence {
        logs: c
            .log_files()
            .iter()
            .map(|f| unspanned(f.display().to_string()))
            .collect(),
        pattern: unspanned(pattern.to_owned()),
    });
    m.cluster.workers_per_url = std::num::NonZeroU64::new(workers_per_url);
    let mut cfg = TargetConfig::reference();
    cfg.manifest = Arc::new(m);
    cfg.with = vec![Capability::Stateful];
    cfg.spec = TargetSpec::Url {
        urls,
        token: None,
        jwt_secret: Some(c.jwt_secret().to_owned()),
    };
    let t = Target::start(&cfg).await.unwrap();
    runner::run_scenario(&t, &scenario(), &RunOptions::default()).await
}

fn check<'a>(r: &'a ScenarioResult, step: &str) -> &'a mcpgw_conformance::verdict::CheckResult {
    r.checks.iter().find(|c| c.name == step).unwrap()
}

#[tokio::test]
async fn a_step_passes_where_the_forward_shows_and_is_untestable_where_it_does_not() {
    let Some(c) = cluster(&[]).await else { return };
    let seen = run(&c, c.urls(), Some(FORWARD_LINE), 1).await;
    assert_eq!(seen.verdict, Verdict::Pass, "{seen:#?}");
    let tally = seen.forwards.unwrap();
    assert!(tally.forwarded >= 2, "{tally:?}");

    // The same answers, but the logs show no forward: nothing about forwarding was learnt.
    let unseen = run(&c, c.urls(), Some("a line no worker writes"), 1).await;
    assert_eq!(unseen.verdict, Verdict::Untestable, "{unseen:#?}");
    let step = check(&unseen, "list-on-worker-1");
    assert_eq!(step.verdict, Verdict::Untestable);
    assert!(
        step.messages[0].contains("answered without being forwarded"),
        "{:?}",
        step.messages
    );
    assert_eq!(unseen.forwards.unwrap().forwarded, 0);
    // The steps that expect no forward are judged as ever.
    assert_eq!(
        check(&unseen, "initialize-on-worker-0").verdict,
        Verdict::Pass
    );

    // Nothing declared to show forwards: UNTESTABLE too, never a silent PASS.
    let blind = run(&c, c.urls(), None, 1).await;
    let step = check(&blind, "list-on-worker-1");
    assert_eq!(step.verdict, Verdict::Untestable, "{blind:#?}");
    assert!(
        step.messages[0].contains("declares no `cluster.forwards`"),
        "{:?}",
        step.messages
    );
}

/// A TCP proxy on one port that hands each new connection to the next worker in turn: two
/// workers behind one URL, where the suite cannot pick one.
async fn round_robin(backends: Vec<String>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let i = next.fetch_add(1, Ordering::Relaxed) % backends.len();
            let backend = backends[i].trim_start_matches("http://").to_owned();
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn behind_one_url_a_forwarded_step_is_sent_until_a_forward_shows() {
    let Some(c) = cluster(&[]).await else { return };
    let one = round_robin(c.urls()).await;
    let r = run(&c, vec![one.clone()], Some(FORWARD_LINE), 2).await;
    assert_eq!(r.verdict, Verdict::Pass, "{r:#?}");
    let tally = r.forwards.unwrap();
    assert!(tally.forwarded >= 2, "{tally:?}");
    drop(c);

    // A forwarded request that loses the path's scope (issue 3018) fails behind one URL too.
    let Some(broken) = cluster(&["forwarded-no-server-id"]).await else {
        return;
    };
    let one = round_robin(broken.urls()).await;
    let r = run(&broken, vec![one], Some(FORWARD_LINE), 2).await;
    assert_eq!(r.verdict, Verdict::Fail, "{r:#?}");
    assert_eq!(check(&r, "list-on-worker-1").verdict, Verdict::Fail);
}
