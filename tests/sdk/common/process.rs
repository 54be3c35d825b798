//! `shoal` as a child process: the binary started with given arguments and
//! environment, its endpoint read from the address line it logs, and its stderr kept.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `shoal serve` child process and the endpoint it printed.
pub struct ShoalProcess {
    pub child: Child,
    pub endpoint: String,
    /// Every line the child wrote to stderr, the address line included.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl ShoalProcess {
    /// Runs `shoal <args>` with `env` added (RUST_LOG=info unless given) and waits for
    /// its "listening on" line.
    pub fn spawn<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> ShoalProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("shoal binary starts");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let deadline = Instant::now() + Duration::from_secs(20);
        let endpoint = loop {
            assert!(Instant::now() < deadline, "shoal did not print its address");
            let line = lines
                .next()
                .unwrap_or_else(|| {
                    panic!("shoal exited before listening: {:?}", log.lock().unwrap())
                })
                .unwrap();
            log.lock().unwrap().push(line.clone());
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest
                    .split(|c: char| c.is_whitespace() || c == '"')
                    .next()
                    .unwrap()
                    .to_string();
            }
        };
        // Keep draining stderr so the child never blocks on a full pipe.
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        ShoalProcess {
            child,
            endpoint,
            log,
        }
    }

    /// Waits (bounded) for the process to exit on its own.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "shoal did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process's peak resident set so far, in MiB (`VmHWM`).
    pub fn peak_rss_mib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the process is running");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status");
        kb / 1024
    }

    /// Sends SIGTERM (a clean stop).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for ShoalProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
