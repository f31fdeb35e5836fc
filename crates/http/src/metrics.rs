//! Prometheus metrics, in the text exposition format (version 0.0.4).
//!
//! A few counters and histograms with labels, kept in memory per instance;
//! gauges that describe the world (outbox depth, pool usage, hashes in
//! flight) are read from an [`OpsProbe`] at scrape time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Latency buckets, in seconds: from a cheap refusal to a bcrypt hash at cost 14.
const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Separates label values inside a series key (never part of a value we use).
const SEP: char = '\u{1f}';

thread_local! {
    /// Reused to build series keys, so counting a request allocates nothing
    /// once its series exists.
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` with the series key of `values`.
fn with_key<R>(values: &[&str], f: impl FnOnce(&str) -> R) -> R {
    KEY.with(|key| {
        let mut key = key.borrow_mut();
        key.clear();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                key.push(SEP);
            }
            key.push_str(v);
        }
        f(&key)
    })
}

/// The label values of a series key, in order, for rendering.
fn sorted_keys<V>(map: &HashMap<String, V>) -> Vec<&String> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    keys
}

struct CounterFamily {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    values: Mutex<HashMap<String, u64>>,
}

#[derive(Clone)]
struct Series {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

struct HistogramFamily {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    bounds: &'static [f64],
    values: Mutex<HashMap<String, Series>>,
}

fn labels(names: &[&str], key: &str, extra: Option<(&str, String)>) -> String {
    let values = if names.is_empty() { Vec::new() } else { key.split(SEP).collect() };
    let mut pairs: Vec<String> =
        names.iter().zip(values).map(|(n, v)| format!("{n}=\"{}\"", escape(v))).collect();
    if let Some((n, v)) = extra {
        pairs.push(format!("{n}=\"{v}\""));
    }
    if pairs.is_empty() { String::new() } else { format!("{{{}}}", pairs.join(",")) }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl CounterFamily {
    fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        Self { name, help, labels, values: Mutex::new(HashMap::new()) }
    }

    fn inc(&self, values: &[&str]) {
        debug_assert_eq!(values.len(), self.labels.len());
        with_key(values, |key| {
            let mut map = self.values.lock().unwrap_or_else(PoisonError::into_inner);
            match map.get_mut(key) {
                Some(n) => *n += 1,
                None => {
                    map.insert(key.to_owned(), 1);
                }
            }
        });
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}\n# TYPE {} counter", self.name, self.help, self.name);
        let map = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        for key in sorted_keys(&map) {
            let _ = writeln!(out, "{}{} {}", self.name, labels(self.labels, key, None), map[key]);
        }
    }
}

impl HistogramFamily {
    fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        bounds: &'static [f64],
    ) -> Self {
        Self { name, help, labels, bounds, values: Mutex::new(HashMap::new()) }
    }

    fn observe(&self, values: &[&str], seconds: f64) {
        let bucket = self.bounds.iter().position(|b| seconds <= *b);
        with_key(values, |key| {
            let mut map = self.values.lock().unwrap_or_else(PoisonError::into_inner);
            if !map.contains_key(key) {
                let empty = Series { buckets: vec![0; self.bounds.len()], sum: 0.0, count: 0 };
                map.insert(key.to_owned(), empty);
            }
            if let Some(series) = map.get_mut(key) {
                if let Some(i) = bucket {
                    series.buckets[i] += 1;
                }
                series.sum += seconds;
                series.count += 1;
            }
        });
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}\n# TYPE {} histogram", self.name, self.help, self.name);
        let map = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        for values in sorted_keys(&map) {
            let s = &map[values];
            let mut cumulative = 0;
            for (bound, n) in self.bounds.iter().zip(&s.buckets) {
                cumulative += n;
                let le = labels(self.labels, values, Some(("le", bound.to_string())));
                let _ = writeln!(out, "{}_bucket{le} {cumulative}", self.name);
            }
            let inf = labels(self.labels, values, Some(("le", "+Inf".into())));
            let _ = writeln!(out, "{}_bucket{inf} {}", self.name, s.count);
            let plain = labels(self.labels, values, None);
            let _ = writeln!(out, "{}_sum{plain} {}", self.name, s.sum);
            let _ = writeln!(out, "{}_count{plain} {}", self.name, s.count);
        }
    }
}

/// What a [`Reading`] is, in Prometheus' terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down (outbox depth, pool usage).
    Gauge,
    /// A count that only goes up (events since the process started).
    Counter,
}

/// A value read at scrape time from outside the request path.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Metric name (`pwreset_…`; a counter's ends in `_total`).
    pub name: &'static str,
    /// One-line help.
    pub help: &'static str,
    /// Current value.
    pub value: f64,
    /// Gauge or counter.
    pub kind: Kind,
}

impl Reading {
    /// A gauge.
    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> Self {
        Self { name, help, value, kind: Kind::Gauge }
    }

    /// A counter.
    pub fn counter(name: &'static str, help: &'static str, value: f64) -> Self {
        Self { name, help, value, kind: Kind::Counter }
    }
}

/// What the operations endpoints ask of the world outside HTTP.
pub trait OpsProbe: Send + Sync {
    /// Whether the service can do its work (the database answers). Blocking;
    /// must give up quickly when the database does not answer.
    ///
    /// # Errors
    /// What is not ready, in a line.
    fn ready(&self) -> Result<(), String>;

    /// Values to export (outbox depth, pool usage, dropped audit events, …).
    /// Blocking.
    fn readings(&self) -> Vec<Reading>;
}

/// The counters and histograms of one instance.
pub struct Metrics {
    requests: CounterFamily,
    latency: HistogramFamily,
    resets: CounterFamily,
    link_requests: CounterFamily,
    rate_limited: CounterFamily,
    rate_limit_fallbacks: CounterFamily,
    mail: CounterFamily,
    bcrypt_wait: HistogramFamily,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: CounterFamily::new(
                "pwreset_http_requests_total",
                "HTTP requests by route, method, status and envelope code (\"-\" when not an envelope).",
                &["route", "method", "status", "code"],
            ),
            latency: HistogramFamily::new(
                "pwreset_http_request_duration_seconds",
                "HTTP request latency by route and method.",
                &["route", "method"],
                LATENCY_BUCKETS,
            ),
            resets: CounterFamily::new(
                "pwreset_resets_total",
                "Password reset attempts by outcome.",
                &["outcome"],
            ),
            link_requests: CounterFamily::new(
                "pwreset_link_requests_total",
                "Reset link requests by outcome.",
                &["outcome"],
            ),
            rate_limited: CounterFamily::new(
                "pwreset_rate_limited_total",
                "Requests refused by a rate limit, by limit.",
                &["limit"],
            ),
            rate_limit_fallbacks: CounterFamily::new(
                "pwreset_rate_limit_fallbacks_total",
                "Rate-limit checks decided by this instance alone because the shared limiter (Redis) did not answer, by limit.",
                &["limit"],
            ),
            mail: CounterFamily::new(
                "pwreset_mail_deliveries_total",
                "Email delivery attempts by kind and result (delivered, retrying, given_up, lease_lost).",
                &["kind", "result"],
            ),
            bcrypt_wait: HistogramFamily::new(
                "pwreset_bcrypt_queue_wait_seconds",
                "Time a password hash waited for a hashing thread.",
                &[],
                LATENCY_BUCKETS,
            ),
        }
    }
}

impl Metrics {
    /// Counts a finished HTTP request.
    pub fn observe_request(
        &self,
        route: &str,
        method: &str,
        status: u16,
        code: Option<i32>,
        elapsed: Duration,
    ) {
        let code = code.map_or_else(|| "-".to_owned(), |c| c.to_string());
        self.requests.inc(&[route, method, &status.to_string(), &code]);
        self.latency.observe(&[route, method], elapsed.as_secs_f64());
    }

    /// Counts a reset attempt (`success`, `invalid_link`, `user_not_active`, …).
    pub fn reset(&self, outcome: &str) {
        self.resets.inc(&[outcome]);
    }

    /// Counts a link request (`queued`, `unknown_address`, `banned`, …).
    pub fn link_request(&self, outcome: &str) {
        self.link_requests.inc(&[outcome]);
    }

    /// Counts a rate-limit hit.
    pub fn rate_limited(&self, limit: &str) {
        self.rate_limited.inc(&[limit]);
    }

    /// Counts a check decided in memory because the shared limiter did not answer.
    pub fn rate_limit_fallback(&self, limit: &str) {
        self.rate_limit_fallbacks.inc(&[limit]);
    }

    /// Counts a delivery attempt.
    pub fn mail(&self, kind: &str, result: &str) {
        self.mail.inc(&[kind, result]);
    }

    /// Records how long a hash waited for a slot.
    pub fn bcrypt_waited(&self, waited: Duration) {
        self.bcrypt_wait.observe(&[], waited.as_secs_f64());
    }

    /// The exposition text, with `readings` appended.
    pub fn render(&self, readings: &[Reading]) -> String {
        let mut out = String::with_capacity(4096);
        self.requests.render(&mut out);
        self.latency.render(&mut out);
        self.resets.render(&mut out);
        self.link_requests.render(&mut out);
        self.rate_limited.render(&mut out);
        self.rate_limit_fallbacks.render(&mut out);
        self.mail.render(&mut out);
        self.bcrypt_wait.render(&mut out);
        for r in readings {
            let kind = match r.kind {
                Kind::Gauge => "gauge",
                Kind::Counter => "counter",
            };
            let _ = writeln!(
                out,
                "# HELP {} {}\n# TYPE {} {kind}\n{} {}",
                r.name, r.help, r.name, r.name, r.value
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_format() {
        let m = Metrics::default();
        m.observe_request(
            "/api/v4/user/reset/{user_id}",
            "PATCH",
            200,
            Some(0),
            Duration::from_millis(3),
        );
        m.observe_request(
            "/api/v4/user/reset/{user_id}",
            "PATCH",
            200,
            Some(0),
            Duration::from_millis(300),
        );
        m.reset("success");
        m.rate_limited("request_per_ip");
        let text = m.render(&[
            Reading::gauge("pwreset_outbox_pending", "Queued emails.", 2.0),
            Reading::counter("pwreset_audit_dropped_total", "Dropped.", 1.0),
        ]);
        assert!(text.contains("# TYPE pwreset_http_requests_total counter\n"));
        assert!(text.contains(
            "pwreset_http_requests_total{route=\"/api/v4/user/reset/{user_id}\",method=\"PATCH\",status=\"200\",code=\"0\"} 2\n"
        ));
        assert!(text.contains(
            "pwreset_http_request_duration_seconds_bucket{route=\"/api/v4/user/reset/{user_id}\",method=\"PATCH\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains(
            "pwreset_http_request_duration_seconds_bucket{route=\"/api/v4/user/reset/{user_id}\",method=\"PATCH\",le=\"0.5\"} 2\n"
        ));
        assert!(text.contains("le=\"+Inf\"} 2\n"));
        assert!(text.contains("pwreset_http_request_duration_seconds_count{route=\"/api/v4/user/reset/{user_id}\",method=\"PATCH\"} 2\n"));
        assert!(text.contains("pwreset_resets_total{outcome=\"success\"} 1\n"));
        assert!(text.contains("# TYPE pwreset_outbox_pending gauge\npwreset_outbox_pending 2\n"));
        assert!(text.contains(
            "# TYPE pwreset_audit_dropped_total counter\npwreset_audit_dropped_total 1\n"
        ));
        assert!(text.contains("# TYPE pwreset_bcrypt_queue_wait_seconds histogram\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
