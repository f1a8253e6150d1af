//! The reference gateway as a separate process: a `mcpgw-reference` binary built elsewhere
//! (`run --reference-exe PATH`), started once per variant like the in-process reference. The
//! suite then judges that binary, not the reference linked into the harness: this is how
//! `ci/mutants.sh` runs the scenarios against each mutant after rebuilding only the reference.
//!
//! The binary's settings are passed as command-line flags (its environment is cleared, so the
//! caller's shell cannot configure it by accident); [`args`] writes the settings a variant
//! changes, and a unit test parses them back with the binary's own parser.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use mcpgw_reference::Settings;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long the binary may take to print its `TOKEN=` line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running reference binary; killed when dropped.
#[derive(Debug)]
pub struct ReferenceProcess {
    _child: Child,
    /// `http://127.0.0.1:PORT` followed by its root path, if any.
    pub url: String,
    pub admin_token: String,
}

/// The flags that give the binary `settings` in everything the harness configures (listen
/// address, credentials, and what a variant changes); the rest stay at the binary's defaults,
/// which are the harness's ([`Settings::default_for_tests`]).
pub fn args(settings: &Settings) -> Vec<String> {
    let flag = |name: &str, value: &dyn ToString| format!("--{name}={}", value.to_string());
    let mut out = vec![
        flag("host", &settings.host),
        flag("port", &settings.port),
        flag("jwt-audience", &settings.jwt_audience),
        flag("jwt-issuer", &settings.jwt_issuer),
        flag("platform-admin-email", &settings.platform_admin_email),
        flag("auth-required", &settings.auth_required),
        flag("app-root-path", &settings.app_root_path),
        flag("use-stateful-sessions", &settings.use_stateful_sessions),
        flag("json-response-enabled", &settings.json_response_enabled),
        flag("well-known-enabled", &settings.well_known_enabled),
    ];
    if let Some(secret) = &settings.jwt_secret_key {
        out.push(flag("jwt-secret-key", secret));
    }
    if let Some(v) = settings.mcp_require_auth {
        out.push(flag("mcp-require-auth", &v));
    }
    if !settings.trusted_proxies.is_empty() {
        let list: Vec<String> = settings
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        out.push(flag("trusted-proxies", &list.join(",")));
    }
    out
}

/// Start `exe` with `settings` and wait for the address and admin token it prints.
pub async fn start(exe: &Path, settings: &Settings) -> Result<ReferenceProcess, String> {
    let mut cmd = Command::new(exe);
    cmd.args(args(settings)).env_clear();
    for keep in ["PATH", "HOME", "TMPDIR", "LANG"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    cmd.env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", exe.display()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| "no stdout of the reference process".to_owned())?;
    let mut lines = BufReader::new(stdout).lines();
    let read = async {
        let (mut url, mut token) = (None, None);
        while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
            if let Some(u) = line.strip_prefix("URL=") {
                url = Some(u.trim_end_matches('/').to_owned());
            } else if let Some(t) = line.strip_prefix("TOKEN=") {
                token = Some(t.to_owned());
            }
            if let (Some(u), Some(t)) = (&url, &token) {
                return Ok((u.clone(), t.clone()));
            }
        }
        Err("it exited before printing URL= and TOKEN=".to_owned())
    };
    let (url, admin_token) = tokio::time::timeout(START_TIMEOUT, read)
        .await
        .map_err(|_| format!("no URL= and TOKEN= within {START_TIMEOUT:?}"))?
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    // The rest of its output is not read; a full pipe must not stop it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(ReferenceProcess {
        _child: child,
        url,
        admin_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Capability;

    /// What the flags say, as the binary's own parser reads them.
    fn parsed(settings: &Settings) -> Settings {
        let mut argv = vec!["mcpgw-reference".to_owned()];
        argv.extend(args(settings));
        <Settings as clap::Parser>::try_parse_from(argv).expect("the flags parse")
    }

    #[test]
    fn every_variant_reaches_the_binary_through_its_flags() {
        for c in Capability::ALL
            .into_iter()
            .filter(|c| crate::variants::is_variant(*c))
        {
            let mut s = Settings::default_for_tests();
            crate::variants::configure(&mut s, |w| w == c);
            let p = parsed(&s);
            let seen = |s: &Settings| {
                (
                    s.app_root_path.clone(),
                    s.trusted_proxies.clone(),
                    s.mcp_require_auth,
                    s.auth_required,
                    s.well_known_enabled,
                    s.use_stateful_sessions,
                    s.json_response_enabled,
                    s.jwt_secret_key.clone(),
                    s.platform_admin_email.clone(),
                    (s.host, s.port),
                )
            };
            assert_eq!(seen(&p), seen(&s), "{c:?}");
            assert_ne!(
                seen(&s),
                seen(&Settings::default_for_tests()),
                "{c:?} changes nothing"
            );
        }
    }
}
