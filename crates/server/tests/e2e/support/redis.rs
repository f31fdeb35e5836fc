//! A `redis-server` of the test's own on a free port, so a test can stop
//! it and start it again (Debian's `redis-server`; under `CI=true` a missing
//! one fails the test instead of skipping it).

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::smtp::free_port;

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl RedisServer {
    /// Starts one, or `None` (skipped) when `redis-server` is missing outside CI.
    pub fn start() -> Option<Self> {
        let found = Command::new("redis-server").arg("--version").output().is_ok();
        if !found {
            assert!(
                !in_ci(),
                "redis-server is not installed (CI=true): apt-get install redis-server"
            );
            pwreset_infra::skip::skipped(
                "redis-server is not installed (the multi-instance tests)",
            );
            return None;
        }
        let mut server = Self { port: free_port(), child: None };
        server.restart();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on its port, with nothing kept on disk.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it outright (SIGKILL): its connections drop, its keys are gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
