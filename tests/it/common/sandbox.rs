//! Running the `feedwatch` binary: a temp directory with a clean environment,
//! and runs that cannot hang a test.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use super::wait_until;

/// A temp directory, removed on drop, to run the binary in.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("feedwatch-test-")
            .tempdir()
            .expect("create sandbox dir");
        Sandbox { dir }
    }

    /// `name` inside the sandbox (not created).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` (creating parent dirs) and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create sandbox subdir");
        }
        std::fs::write(&path, contents).expect("write sandbox file");
        path
    }

    /// `feedwatch --config CONFIG`, run in the sandbox dir, with an
    /// environment that cannot leak the developer's setup into the test:
    /// `FEEDWATCH_CONFIG`, `RUST_LOG` and proxy variables removed, and
    /// `HOME`/`XDG_*` pointing into the sandbox.
    pub fn cmd(&self, config: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_feedwatch"));
        cmd.arg("--config").arg(config).current_dir(self.dir.path());
        for var in [
            "FEEDWATCH_CONFIG",
            "RUST_LOG",
            "http_proxy",
            "HTTP_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
            "no_proxy",
            "NO_PROXY",
        ] {
            cmd.env_remove(var);
        }
        let home = self.path("home");
        std::fs::create_dir_all(&home).expect("create sandbox home");
        cmd.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("XDG_CACHE_HOME", home.join(".cache"));
        cmd
    }
}

/// `cmd` run through `program` and `args` (which end by running what follows them), with the
/// same environment and directory.
pub fn wrapped(cmd: &Command, program: &str, args: &[&str]) -> Command {
    let mut outer = Command::new(program);
    outer.args(args).arg(cmd.get_program()).args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => outer.env(key, value),
            None => outer.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        outer.current_dir(dir);
    }
    outer
}

/// `cmd` run under `umask MASK` by `sh`, as a cron job or a login shell would start it.
pub fn with_umask(cmd: &Command, mask: &str) -> Command {
    wrapped(
        cmd,
        "sh",
        &["-c", &format!("umask {mask}; exec \"$0\" \"$@\"")],
    )
}

/// How long one run of the binary may take before it counts as hung.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// How a run of the binary ended.
#[derive(Debug)]
pub struct RunOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs `cmd` to its exit with piped stdout/stderr and null stdin. A run still going after a
/// minute is killed and fails the test, so a hanging feedwatch cannot hang the suite.
pub fn run_to_exit(cmd: &mut Command) -> RunOutput {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn feedwatch");
    // Drain both pipes while waiting, so a chatty child never blocks on them.
    let out = read_to_end(child.stdout.take());
    let err = read_to_end(child.stderr.take());
    let status = wait_timeout(&mut child, RUN_LIMIT);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stderr = err.join().unwrap_or_default();
    let Some(status) = status else {
        panic!("{cmd:?} hung; its stderr:\n{stderr}");
    };
    RunOutput {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr,
    }
}

fn read_to_end(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child` up to `timeout`; `None` if it is still running.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    wait_until(timeout, || child.try_wait().ok().flatten())
}
