//! Serving a prebuilt Cloudreve web frontend (`PWRESET_FRONTEND_DIR`): static
//! files with correct types and cache headers, no directory listing, the
//! build's `index.html` with its placeholders filled in, and the single-page
//! app fallback: any other path that is not a file gets `index.html`, so the
//! app's own router renders `/session/reset` and friends.
//!
//! Register it last: it answers every path the API, pages and operations
//! routes did not.

use std::path::{Path, PathBuf};

use actix_files::Files;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{Error, HttpResponse, web};

/// What goes into the placeholders.
#[derive(Debug, Clone, Default)]
pub struct FrontendSettings {
    /// The folder holding the build (`index.html` at its top).
    pub dir: PathBuf,
    /// `{siteName}`: the site's name (HTML-escaped when inserted).
    pub site_name: String,
    /// `{siteDes}`: the site's description (HTML-escaped).
    pub site_description: String,
    /// `{siteScript}`: operator-supplied HTML inserted as is (analytics, …).
    pub site_script: String,
    /// `{pwa_small_icon}`: URL of the small icon.
    pub pwa_small_icon: String,
    /// `{pwa_medium_icon}`: URL of the medium icon.
    pub pwa_medium_icon: String,
    /// The large icon of `/manifest.json` (512 × 512).
    pub pwa_large_icon: String,
    /// `display` of `/manifest.json` (`standalone`, `fullscreen`, …).
    pub pwa_display: String,
    /// `theme_color` of `/manifest.json`.
    pub pwa_theme_color: String,
    /// `background_color` of `/manifest.json`.
    pub pwa_background_color: String,
}

/// The web app manifest, as Cloudreve V4 serves it at `/manifest.json`.
fn manifest(settings: &FrontendSettings) -> String {
    serde_json::json!({
        "short_name": settings.site_name,
        "name": settings.site_name,
        "icons": [
            {"src": settings.pwa_small_icon, "sizes": "64x64 32x32 24x24 16x16", "type": "image/x-icon"},
            {"src": settings.pwa_medium_icon, "type": "image/png", "sizes": "192x192"},
            {"src": settings.pwa_large_icon, "type": "image/png", "sizes": "512x512"},
        ],
        "start_url": ".",
        "display": settings.pwa_display,
        "theme_color": settings.pwa_theme_color,
        "background_color": settings.pwa_background_color,
    })
    .to_string()
}

/// A loaded frontend: where its files are and its rendered `index.html`.
///
/// Under `/session/` (the reset page, whose address carries the secret) the
/// page is served without the operator's `{siteScript}` and with a
/// Content-Security-Policy that allows the build's own scripts only: an
/// analytics script would otherwise read the secret from the address.
#[derive(Debug, Clone)]
pub struct Frontend {
    dir: PathBuf,
    index: String,
    session_index: String,
    session_csp: String,
    manifest: String,
}

/// The policy of `/session/*` pages: the app's own files, the inline
/// scripts of its `index.html` by hash, nothing from elsewhere.
fn session_policy(index: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut hashes = String::new();
    let lower = index.to_ascii_lowercase();
    let mut from = 0;
    while let Some(start) = lower[from..].find("<script").map(|i| from + i) {
        let Some(open_end) = lower[start..].find('>').map(|i| start + i + 1) else { break };
        let Some(close) = lower[open_end..].find("</script").map(|i| open_end + i) else { break };
        let is_inline = !lower[start..open_end].contains(" src=");
        if is_inline && close > open_end {
            let digest = sha2::Sha256::digest(&index.as_bytes()[open_end..close]);
            let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
            hashes.push_str(&format!(" 'sha256-{encoded}'"));
        }
        from = close;
    }
    format!(
        "default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

impl Frontend {
    /// Reads `index.html` from the build and fills in its placeholders.
    ///
    /// # Errors
    /// The folder or its `index.html` cannot be read.
    pub fn load(settings: &FrontendSettings) -> std::io::Result<Self> {
        let dir = settings.dir.canonicalize()?;
        let template = std::fs::read_to_string(dir.join("index.html"))?;
        let render = |script: &str| {
            template
                .replace("{siteName}", &escape(&settings.site_name))
                .replace("{siteDes}", &escape(&settings.site_description))
                .replace("{siteScript}", script)
                .replace("{pwa_small_icon}", &escape(&settings.pwa_small_icon))
                .replace("{pwa_medium_icon}", &escape(&settings.pwa_medium_icon))
        };
        let session_index = render("");
        Ok(Self {
            dir,
            index: render(&settings.site_script),
            session_csp: session_policy(&session_index),
            session_index,
            manifest: manifest(settings),
        })
    }

    /// The folder served.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn index_response(frontend: &Frontend, path: &str) -> HttpResponse {
    let response = || {
        let mut r = HttpResponse::Ok();
        r.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header(("X-Content-Type-Options", "nosniff"));
        r
    };
    if path == "/session" || path.starts_with("/session/") {
        response()
            .insert_header((header::CONTENT_SECURITY_POLICY, frontend.session_csp.clone()))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .body(frontend.session_index.clone())
    } else {
        response().body(frontend.index.clone())
    }
}

/// Whether a file name carries a content hash (`index-4f9a2b1c.js`,
/// `app.3b8e0c77d2.css`): such files never change and may be cached for good.
fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    let parts: Vec<&str> = name.split(['-', '.', '_']).collect();
    // Neither the first part (the name) nor the last (the extension) counts.
    parts.len() >= 3
        && parts[1..parts.len() - 1].iter().any(|part| {
            part.len() >= 8
                && part.chars().all(|c| c.is_ascii_alphanumeric())
                && part.chars().any(|c| c.is_ascii_digit())
        })
}

/// Decodes `%XX` escapes (for inspecting a path, not for serving it).
fn percent_decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&path[i + 1..i + 3], 16)
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

/// Whether the path tries to leave the folder: a `..` segment, a backslash,
/// or an encoded slash, in any encoding depth.
fn is_traversal(raw: &str) -> bool {
    let mut path = raw.to_owned();
    for _ in 0..3 {
        let lower = path.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%5c") || path.contains('\\') {
            return true;
        }
        if path.split('/').any(|segment| segment == ".." || segment == ".") {
            return true;
        }
        let decoded = percent_decoded(&path);
        if decoded == path {
            break;
        }
        path = decoded;
    }
    false
}

/// Refuses traversal attempts, and sets cache and sniffing headers on what
/// the file service returns.
async fn guard_and_cache(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if is_traversal(req.path()) {
        let (req, _) = req.into_parts();
        return Ok(
            ServiceResponse::new(req, HttpResponse::NotFound().finish()).map_into_right_body()
        );
    }
    let hashed = is_hashed(req.path());
    let mut res = next.call(req).await?;
    if res.status() == StatusCode::OK && !res.headers().contains_key(header::CACHE_CONTROL) {
        let policy = if hashed { "public, max-age=31536000, immutable" } else { "no-cache" };
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    res.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(res.map_into_left_body())
}

/// Registers the frontend: `/` and `/index.html` (rendered),
/// `/manifest.json` (from the settings, as Cloudreve serves it), the build's
/// files, and the fallback. Call it after every other registration.
pub fn configure_frontend(frontend: web::Data<Frontend>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let index = frontend.clone();
        let fallback = frontend.clone();
        let dir = frontend.dir.clone();
        cfg.app_data(frontend.clone())
            .route(
                "/",
                web::get().to(move || {
                    let index = index.clone();
                    async move { index_response(&index, "/") }
                }),
            )
            .service(
                web::scope("")
                    .wrap(from_fn(guard_and_cache))
                    .route(
                        "/manifest.json",
                        web::get().to(|f: web::Data<Frontend>| async move {
                            HttpResponse::Ok()
                                .insert_header((header::CONTENT_TYPE, "application/json"))
                                .insert_header((header::CACHE_CONTROL, "public, no-cache"))
                                .body(f.manifest.clone())
                        }),
                    )
                    .route(
                        "/index.html",
                        web::get().to(|f: web::Data<Frontend>| async move {
                            index_response(&f, "/index.html")
                        }),
                    )
                    .service(
                        Files::new("", dir).use_etag(true).use_last_modified(true).default_handler(
                            fn_service(move |req: ServiceRequest| {
                                let frontend = fallback.clone();
                                async move {
                                    // A path that names a file that is not there is a 404;
                                    // any other path is a route of the app.
                                    let last = req.path().rsplit('/').next().unwrap_or("");
                                    let response = if last.contains('.') {
                                        HttpResponse::NotFound().finish()
                                    } else {
                                        index_response(&frontend, req.path())
                                    };
                                    let (req, _) = req.into_parts();
                                    Ok(ServiceResponse::new(req, response))
                                }
                            }),
                        ),
                    ),
            );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        for hashed in [
            "/assets/index-4f9a2b1c.js",
            "/static/js/main.3b8e0c77.chunk.js",
            "/assets/vendor-Bq3x9Zk2.css",
        ] {
            assert!(is_hashed(hashed), "{hashed}");
        }
        for plain in [
            "/index.html",
            "/manifest.json",
            "/favicon.ico",
            "/assets/logo.png",
            "/static/img/logo192.png",
            "/abcdefghij.js",
        ] {
            assert!(!is_hashed(plain), "{plain}");
        }
    }

    #[test]
    fn traversal_in_every_disguise() {
        for bad in [
            "/../etc/passwd",
            "/assets/../../x",
            "/%2e%2e/x",
            "/%2E%2E%2Fx",
            "/..%2fx",
            "/%252e%252e/x",
            "/a\\..\\b",
            "/./x",
        ] {
            assert!(is_traversal(bad), "{bad}");
        }
        for fine in ["/", "/session/reset", "/assets/app.js", "/home/..hidden", "/a%20b"] {
            assert!(!is_traversal(fine), "{fine}");
        }
    }
}
