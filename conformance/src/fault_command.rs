//! Faults on a cluster the harness did not start: each is caused by the shell command its
//! manifest declares for it (`cluster.faults`), the same way for every gateway. The harness
//! cannot kill someone else's workers or pause their Redis itself; whoever started them knows
//! how, and says so in the manifest.

use std::time::{Duration, Instant};

use crate::manifest::FaultCommands;
use crate::scenario::Fault;

/// How long one command may take (a restarted worker of a Python gateway takes seconds to
/// answer again).
const COMMAND_TIME: Duration = Duration::from_secs(120);

/// How much of a failed command's output a message keeps (its end).
const OUTPUT_KEPT: usize = 4096;

/// The command for `f`, with `{worker}` filled in, and the worker it names.
pub(crate) fn command_for(
    commands: &FaultCommands,
    f: Fault,
) -> Result<(String, Option<usize>), String> {
    let (field, command, worker) = match f {
        Fault::KillWorker(i) => ("kill_worker", &commands.kill_worker, Some(i)),
        Fault::RestartWorker(i) => ("restart_worker", &commands.restart_worker, Some(i)),
        Fault::PauseRedis => ("pause_redis", &commands.pause_redis, None),
        Fault::UnpauseRedis => ("unpause_redis", &commands.unpause_redis, None),
    };
    let command = command.as_ref().ok_or_else(|| {
        format!("the target's manifest declares no command for this fault (cluster.faults.{field})")
    })?;
    let text = match worker {
        Some(i) => command.value.replace("{worker}", &i.to_string()),
        None => command.value.clone(),
    };
    Ok((text, worker))
}

/// Run the command for `f` and say what was done; an error says why the fault may not hold.
pub(crate) async fn cause(commands: &FaultCommands, f: Fault) -> Result<String, String> {
    let (text, worker) = command_for(commands, f)?;
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(&text)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(i) = worker {
        cmd.env("MCPGW_WORKER", i.to_string());
    }
    let output = match tokio::time::timeout(COMMAND_TIME, cmd.output()).await {
        Err(_) => {
            return Err(format!(
                "`{text}` did not finish within {} s",
                COMMAND_TIME.as_secs()
            ));
        }
        Ok(Err(e)) => return Err(format!("`{text}` could not run: {e}")),
        Ok(Ok(o)) => o,
    };
    if !output.status.success() {
        let mut said = String::from_utf8_lossy(&output.stderr).into_owned();
        said.push_str(&String::from_utf8_lossy(&output.stdout));
        let cut = said.len().saturating_sub(OUTPUT_KEPT);
        let cut = (cut..=said.len())
            .find(|&i| said.is_char_boundary(i))
            .unwrap_or(said.len());
        return Err(format!(
            "`{text}` failed ({}): {}",
            output.status,
            said[cut..].trim()
        ));
    }
    Ok(format!(
        "ran `{text}` in {} ms",
        started.elapsed().as_millis()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::unspanned;

    fn commands() -> FaultCommands {
        FaultCommands {
            kill_worker: Some(unspanned("echo kill {worker} $MCPGW_WORKER".to_owned())),
            restart_worker: Some(unspanned("echo oops >&2; exit 3".to_owned())),
            pause_redis: None,
            unpause_redis: None,
        }
    }

    #[test]
    fn the_worker_is_filled_in() {
        let (text, w) = command_for(&commands(), Fault::KillWorker(1)).unwrap();
        assert_eq!(text, "echo kill 1 $MCPGW_WORKER");
        assert_eq!(w, Some(1));
    }

    #[tokio::test]
    async fn a_missing_or_failing_command_is_an_error_that_says_why() {
        let missing = cause(&commands(), Fault::PauseRedis).await.unwrap_err();
        assert!(missing.contains("cluster.faults.pause_redis"), "{missing}");
        let failed = cause(&commands(), Fault::RestartWorker(0))
            .await
            .unwrap_err();
        assert!(failed.contains("oops") && failed.contains("3"), "{failed}");
        let done = cause(&commands(), Fault::KillWorker(0)).await.unwrap();
        assert!(done.starts_with("ran `echo kill 0"), "{done}");
    }
}
