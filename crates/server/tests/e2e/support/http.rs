//! A blocking HTTP client for the tests (ureq): every status is an answer,
//! an error only means nothing answered.

use std::time::Duration;

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    headers: ureq::http::HeaderMap,
    pub body: String,
}

impl Answer {
    /// A response header, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON; panics when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

fn answer(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Answer, ureq::Error> {
    let mut response = response?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.body_mut().read_to_string()?;
    Ok(Answer { status, headers, body })
}

/// GET `url`, waiting up to 30 s.
pub fn get(url: &str) -> Result<Answer, ureq::Error> {
    answer(agent(Duration::from_secs(30)).get(url).call())
}

/// GET `url`, which must answer 200.
pub fn get_ok(url: &str) -> Answer {
    let answer = get(url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(answer.status, 200, "GET {url}: {}", answer.body);
    answer
}

/// Sends a JSON `body` with `method` (POST or PATCH) and extra `headers`.
pub fn send_json(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> Result<Answer, ureq::Error> {
    let agent = agent(timeout);
    let mut request = match method {
        "POST" => agent.post(url),
        "PATCH" => agent.patch(url),
        other => panic!("send_json: {other} is not POST or PATCH"),
    }
    .header("Content-Type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    answer(request.send(body))
}
