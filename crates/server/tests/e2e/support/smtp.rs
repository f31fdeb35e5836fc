//! A real SMTP server on loopback (mailin-embedded) that keeps what it receives.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin_embedded::response::{NO_MAILBOX, OK};
use mailin_embedded::{Handler, Response, Server, SslConfig};

/// Messages received, raw (RFC 5322).
pub type Inbox = Arc<Mutex<Vec<String>>>;

#[derive(Clone)]
struct Keep {
    inbox: Inbox,
    current: Vec<u8>,
    hold: Option<(Arc<Hold>, usize)>,
}

/// Shared by a group of sinks: the first message any of them receives is
/// held — its end of DATA is never acknowledged, so its sender waits —
/// until [`Hold::release`], and then refused (451): that session delivers
/// nothing.
#[derive(Default)]
pub struct Hold {
    /// The index of the sink holding a message, once one does.
    pub holder: Mutex<Option<usize>>,
    released: std::sync::atomic::AtomicBool,
}

impl Hold {
    pub fn holder(&self) -> Option<usize> {
        *self.holder.lock().unwrap()
    }

    pub fn release(&self) {
        self.released.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Handler for Keep {
    fn rcpt(&mut self, to: &str) -> Response {
        // Addresses with "reject" in them do not exist: a permanent refusal.
        if to.contains("reject") { NO_MAILBOX } else { OK }
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        self.current.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some((hold, index)) = &self.hold {
            let first = {
                let mut holder = hold.holder.lock().unwrap();
                let first = holder.is_none();
                if first {
                    *holder = Some(*index);
                }
                first
            };
            if first {
                while !hold.released.load(std::sync::atomic::Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return mailin_embedded::response::INTERNAL_ERROR;
            }
        }
        let message = String::from_utf8_lossy(&self.current).into_owned();
        self.inbox.lock().unwrap().push(message);
        OK
    }
}

/// A port nothing listens on yet.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An SMTP server receiving on `port`, for the rest of the test process.
pub struct SmtpSink {
    pub port: u16,
    pub inbox: Inbox,
}

impl SmtpSink {
    /// Starts listening on `port` (0: any free port).
    pub fn start(port: u16) -> Self {
        Self::start_with(port, None)
    }

    /// `n` sinks on free ports sharing one [`Hold`].
    pub fn holding_group(n: usize) -> (Vec<Self>, Arc<Hold>) {
        let hold = Arc::new(Hold::default());
        ((0..n).map(|i| Self::start_with(0, Some((hold.clone(), i)))).collect(), hold)
    }

    fn start_with(port: u16, hold: Option<(Arc<Hold>, usize)>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the SMTP port");
        let port = listener.local_addr().unwrap().port();
        let inbox: Inbox = Arc::default();
        let mut server = Server::new(Keep { inbox: inbox.clone(), current: Vec::new(), hold });
        server
            .with_name("smtp.test")
            .with_ssl(SslConfig::None)
            .unwrap()
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self { port, inbox }
    }

    /// The URL pwreset sends to.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Waits until at least `n` messages arrived (or panics after `timeout`).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.inbox.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} emails arrived in {timeout:?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn received(&self) -> Vec<String> {
        self.inbox.lock().unwrap().clone()
    }
}

/// Decodes the quoted-printable text part of a message well enough to read
/// its link: soft line breaks removed, `=XX` decoded.
pub fn decoded(message: &str) -> String {
    let joined = message.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `(id, secret)` of the reset link in a message.
pub fn link_in(message: &str) -> (String, String) {
    let text = decoded(message);
    let start = text.find("/session/reset?id=").expect("a reset link in the email");
    let link: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "/?=&.".contains(*c))
        .collect();
    let query = link.split_once('?').unwrap().1;
    let param = |name: &str| {
        query.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap().to_owned()
    };
    (param("id"), param("secret"))
}
