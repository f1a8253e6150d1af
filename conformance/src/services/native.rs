//! The last-resort providers: `redis-server` and `postgres` run as child processes in a
//! temporary directory, killed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

/// A service process and the directory it owns.
pub(super) struct Process {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Process {
    /// Send a signal (`STOP`, `CONT`) to the process.
    pub(super) fn signal(&self, name: &str) -> Result<(), String> {
        let pid = self.child.id().ok_or("the process has exited")?;
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status()
            .map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -{name} {pid} failed"))
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

pub(super) async fn redis() -> Result<Process, String> {
    let bin = find(&["/usr/bin/redis-server", "/usr/local/bin/redis-server"])
        .ok_or("no redis-server installed (apt-get install redis-server)")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = free_port()?;
    let child = Command::new(bin)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("failed to run redis-server: {e}"))?;
    Ok(Process {
        port,
        child,
        _dir: dir,
    })
}

/// Postgres' tools refuse to run as root; drop to `nobody` when we are root.
fn as_unprivileged(cmd: &mut Command, dir: &Path) -> Result<(), String> {
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if is_root {
        std::process::Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(dir)
            .status()
            .map_err(|e| e.to_string())?;
        cmd.uid(65534).gid(65534);
    }
    Ok(())
}

pub(super) async fn postgres() -> Result<Process, String> {
    let bindir = [
        "/usr/lib/postgresql/15/bin",
        "/usr/lib/postgresql/16/bin",
        "/usr/lib/postgresql/17/bin",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|d| d.join("initdb").is_file())
    .ok_or("no postgres installed (apt-get install postgresql)")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let mut init = Command::new(bindir.join("initdb"));
    init.args([
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C",
        "-D",
    ])
    .arg(&data)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    as_unprivileged(&mut init, dir.path())?;
    let out = init
        .output()
        .await
        .map_err(|e| format!("failed to run initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = free_port()?;
    let mut server = Command::new(bindir.join("postgres"));
    server
        .args(["-D"])
        .arg(&data)
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
        ])
        .arg(format!("unix_socket_directories={}", dir.path().display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    as_unprivileged(&mut server, dir.path())?;
    let child = server
        .spawn()
        .map_err(|e| format!("failed to run postgres: {e}"))?;
    Ok(Process {
        port,
        child,
        _dir: dir,
    })
}
