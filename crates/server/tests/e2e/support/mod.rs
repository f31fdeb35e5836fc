//! Runs the real `pwreset` binary: CLI commands and a server on a free port,
//! each test with its own database (a temporary SQLite file, or a fresh
//! PostgreSQL database when `PWRESET_TEST_POSTGRES_URL` is set).

pub mod browser;
pub mod http;
pub mod proxy;
pub mod redis;
pub mod smtp;

use std::fs::File;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pwreset_infra::testing::PostgresTestDb;

pub const BIN: &str = env!("CARGO_BIN_EXE_pwreset");

/// One isolated installation: its own database and environment.
pub struct Env {
    pub vars: Vec<(String, String)>,
    /// Whether `pwreset migrate` ran (see [`Env::cli`]).
    migrated: std::sync::atomic::AtomicBool,
    pub dir: tempfile::TempDir,
    pub database_url: String,
    _postgres: Option<PostgresTestDb>,
    #[cfg(feature = "mysql")]
    _mysql: Option<pwreset_infra::testing::MysqlTestDb>,
}

impl Env {
    fn with_database(database_url: String, postgres: Option<PostgresTestDb>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let vars = vec![
            ("PWRESET_DATABASE_URL".into(), database_url.clone()),
            ("PWRESET_BCRYPT_COST".into(), "4".into()),
            ("PWRESET_SITE_URL".into(), "https://drive.example.com".into()),
            ("PWRESET_RATE_LIMIT".into(), "off".into()),
            ("PWRESET_MAIL_POLL".into(), "200ms".into()),
            ("PWRESET_MAIL_RETRY_BASE".into(), "1s".into()),
        ];
        Self {
            vars,
            migrated: std::sync::atomic::AtomicBool::new(false),
            dir,
            database_url,
            _postgres: postgres,
            #[cfg(feature = "mysql")]
            _mysql: None,
        }
    }

    /// `PWRESET_ACCOUNTS=cloudreve` on an existing Cloudreve database: no
    /// site URL, name or mail settings of pwreset's own (the Cloudreve's apply).
    pub fn cloudreve(database_url: &str) -> Self {
        let mut env = Self::with_database(database_url.to_owned(), None);
        env.vars.retain(|(k, _)| k != "PWRESET_SITE_URL" && k != "PWRESET_BCRYPT_COST");
        env.set("PWRESET_ACCOUNTS", "cloudreve");
        env
    }

    /// A temporary SQLite database (in a folder that does not exist yet).
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/pwreset.db");
        let mut env = Self::with_database(format!("sqlite://{}", path.display()), None);
        env.dir = dir;
        env
    }

    /// A fresh PostgreSQL database, or `None` when none is configured (outside CI).
    pub fn postgres() -> Option<Self> {
        let db = PostgresTestDb::create()?;
        Some(Self::with_database(db.url.clone(), Some(db)))
    }

    /// A fresh MySQL/MariaDB database, or `None` when none is configured (outside CI).
    #[cfg(feature = "mysql")]
    pub fn mysql() -> Option<Self> {
        let db = pwreset_infra::testing::MysqlTestDb::create()?;
        let mut env = Self::with_database(db.url.clone(), None);
        env._mysql = Some(db);
        Some(env)
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.into(), value.into()));
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).current_dir(self.dir.path()).env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs a CLI command to completion, feeding `stdin` if given. Before
    /// the first command that needs an up-to-date database, runs
    /// `pwreset migrate` as an operator installing pwreset does (only
    /// `serve` and `migrate` change the schema).
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let needs_schema =
            !matches!(args.first(), Some(&("migrate" | "serve" | "config" | "--version")));
        let migrated = &self.migrated;
        if needs_schema && !migrated.load(std::sync::atomic::Ordering::SeqCst) {
            let ok = self.cli_as_is(&["migrate"], None).status.success();
            migrated.store(ok, std::sync::atomic::Ordering::SeqCst);
        }
        self.cli_as_is(args, stdin)
    }

    /// Runs a command (no stdin, no automatic migration) with `extra` settings.
    pub fn cli_with(&self, extra: &[(&str, &str)], args: &[&str]) -> Output {
        let mut command = self.command(args);
        for (k, v) in extra {
            command.env(k, v);
        }
        command.stdin(Stdio::null()).output().expect("run pwreset")
    }

    /// Runs a CLI command to completion, exactly as given.
    pub fn cli_as_is(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pwreset");
        let mut pipe = child.stdin.take().unwrap();
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).unwrap();
        }
        drop(pipe);
        child.wait_with_output().unwrap()
    }

    /// Runs a CLI command that must succeed and print JSON.
    pub fn cli_json(&self, args: &[&str], stdin: Option<&str>) -> serde_json::Value {
        let out = self.cli(args, stdin);
        assert!(
            out.status.success(),
            "pwreset {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON on stdout")
    }

    /// Creates a user (password `old-password`) and issues a live link for it,
    /// through the CLI: (public id, secret).
    pub fn user_with_link(&self, email: &str) -> (String, String) {
        self.cli_json(
            &["user", "create", "--email", email, "--nickname", "Jane", "--password-stdin"],
            Some("old-password\n"),
        );
        let issued = self.cli_json(&["token", "issue", "--email", email], None);
        let field = |name: &str| issued[name].as_str().unwrap().to_owned();
        (field("user_id"), field("secret"))
    }

    /// Starts `pwreset serve` on a free port and waits until it accepts connections.
    pub fn serve(&self) -> Server {
        self.serve_with(&[])
    }

    /// The same, with `extra` settings for this process only.
    pub fn serve_with(&self, extra: &[(&str, &str)]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log_path = self.dir.path().join(format!("serve-{port}.log"));
        let log = File::create(&log_path).unwrap();
        let mut command = self.command(&["serve"]);
        for (k, v) in extra {
            command.env(k, v);
        }
        let child = command
            .env("PWRESET_BIND", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn pwreset serve");
        let mut server = Server { child, base: format!("http://127.0.0.1:{port}"), log_path };
        server.wait_ready(port);
        server
    }
}

/// A running server, killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    pub log_path: PathBuf,
}

impl Server {
    fn wait_ready(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("pwreset serve exited early ({status}): {}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("pwreset serve did not start listening: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit 30 s after SIGTERM: {}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// POST {prefix}/user/reset; returns the envelope.
    pub fn request_link(&self, email: &str) -> serde_json::Value {
        let url = format!("{}/api/v4/user/reset", self.base);
        let body = serde_json::json!({ "email": email }).to_string();
        let response =
            http::send_json("POST", &url, &[], &body, Duration::from_secs(30)).expect("an answer");
        assert_eq!(response.status, 200, "{}", response.body);
        response.json()
    }

    /// POST {prefix}/user/reset as the client `ip` (behind a trusted proxy):
    /// (HTTP status, envelope). Any answer that is not an envelope fails.
    pub fn request_link_as(&self, ip: &str, email: &str) -> (u16, serde_json::Value) {
        let body = serde_json::json!({ "email": email });
        self.envelope_as(ip, "POST", "/api/v4/user/reset", &body)
    }

    /// PATCH {prefix}/user/reset/{id} as the client `ip`: (HTTP status, envelope).
    pub fn reset_as(&self, ip: &str, public_id: &str, secret: &str) -> (u16, serde_json::Value) {
        let body = serde_json::json!({"password": "n3w-Passw0rd!", "secret": secret});
        self.envelope_as(ip, "PATCH", &format!("/api/v4/user/reset/{public_id}"), &body)
    }

    /// Sends `body` to `path` as the client `ip` (behind a trusted proxy):
    /// (HTTP status, envelope). Any answer that is not an envelope fails.
    fn envelope_as(
        &self,
        ip: &str,
        method: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.base);
        let headers = [("X-Forwarded-For", ip)];
        envelope(http::send_json(
            method,
            &url,
            &headers,
            &body.to_string(),
            Duration::from_secs(30),
        ))
    }

    /// GET a path on this server: (HTTP status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        match http::get(&format!("{}{path}", self.base)) {
            Ok(r) => (r.status, r.body),
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    /// Kills the process outright (SIGKILL): no graceful anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// PATCH {prefix}/user/reset/{id}; returns the envelope.
    pub fn reset(&self, public_id: &str, password: &str, secret: &str) -> serde_json::Value {
        let url = format!("{}/api/v4/user/reset/{public_id}", self.base);
        let body = serde_json::json!({"password": password, "secret": secret}).to_string();
        let response =
            http::send_json("PATCH", &url, &[], &body, Duration::from_secs(30)).expect("an answer");
        assert_eq!(response.status, 200, "{}", response.body);
        assert!(
            response.header("x-cr-correlation-id").is_some(),
            "correlation header on every answer"
        );
        response.json()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (status, envelope) of an API answer; anything but an envelope panics.
fn envelope(result: Result<http::Answer, ureq::Error>) -> (u16, serde_json::Value) {
    let response = result.unwrap_or_else(|e| panic!("no answer: {e}"));
    let (status, text) = (response.status, response.body);
    let body: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert!(body["code"].is_i64() && body["msg"].is_string(), "not an envelope: {text}");
    (status, body)
}
