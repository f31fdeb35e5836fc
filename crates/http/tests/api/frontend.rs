//! Serving a prebuilt Cloudreve frontend from a fixture build: static files,
//! the SPA fallback, placeholder substitution, caching, and no way out of the
//! folder.

use crate::support::*;
use actix_web::http::StatusCode;
use actix_web::{App, test, web};
use pwreset_http::{Frontend, FrontendSettings};

const INDEX: &str = "<!doctype html><html><head><title>{siteName}</title>\
<meta name=\"description\" content=\"{siteDes}\"><link rel=\"icon\" href=\"{pwa_small_icon}\">\
<link rel=\"apple-touch-icon\" href=\"{pwa_medium_icon}\"><script>window.theme='auto'</script></head><body><div id=\"root\"></div>{siteScript}</body></html>";

fn fixture() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("secret.txt"), "outside the build").unwrap();
    let build = root.path().join("build");
    std::fs::create_dir_all(build.join("assets")).unwrap();
    std::fs::create_dir_all(build.join("static/img")).unwrap();
    std::fs::write(build.join("index.html"), INDEX).unwrap();
    std::fs::write(build.join("assets/index-4f9a2b1c.js"), "console.log('app')").unwrap();
    std::fs::write(build.join("static/img/logo192.png"), [0x89, b'P', b'N', b'G']).unwrap();
    std::fs::write(build.join("manifest.json"), "{}").unwrap();
    root
}

#[actix_web::test]
async fn serves_the_build_with_fallback_placeholders_and_no_way_out() {
    let root = fixture();
    let frontend = Frontend::load(&FrontendSettings {
        dir: root.path().join("build"),
        site_name: "My <Drive>".into(),
        site_description: "Files & more".into(),
        site_script: "<script src=\"/analytics.js\"></script>".into(),
        pwa_small_icon: "/static/img/favicon.ico".into(),
        pwa_medium_icon: "/static/img/logo192.png".into(),
        pwa_large_icon: "/static/img/logo512.png".into(),
        pwa_display: "standalone".into(),
        pwa_theme_color: "#000000".into(),
        pwa_background_color: "#ffffff".into(),
    })
    .unwrap();
    let w = World::new();
    let app = test::init_service(
        App::new()
            .configure(pwreset_http::configure(w.state(settings())))
            .configure(pwreset_http::configure_frontend(web::Data::new(frontend))),
    )
    .await;
    let get = |uri: &str| test::TestRequest::get().uri(uri).to_request();

    // index.html, rendered, for the root, itself, and every app route.
    for uri in [
        "/",
        "/index.html",
        "/session/reset?id=lpua&secret=XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK",
        "/session",
        "/home/folder/deep",
    ] {
        let res = test::call_service(&app, get(uri)).await;
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
        assert_eq!(res.headers().get("content-type").unwrap(), "text/html; charset=utf-8", "{uri}");
        assert_eq!(res.headers().get("cache-control").unwrap(), "no-cache", "{uri}");
        let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        assert!(body.contains("<title>My &lt;Drive&gt;</title>"), "{uri}: {body}");
        assert!(body.contains("content=\"Files &amp; more\""));
        assert!(
            body.contains("href=\"/static/img/favicon.ico\"")
                && body.contains("href=\"/static/img/logo192.png\"")
        );
        assert!(!body.contains('{'), "every placeholder filled: {body}");
    }

    // The operator's script, as is, everywhere but under /session/, where the
    // address carries the secret: there no operator script, and a CSP that
    // allows the build's own scripts (inline ones by hash) and nothing else.
    for uri in ["/", "/index.html", "/home/folder/deep"] {
        let res = test::call_service(&app, get(uri)).await;
        let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        assert!(body.contains("<script src=\"/analytics.js\"></script></body>"), "{uri}");
    }
    for uri in ["/session/reset?id=lpua&secret=XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK", "/session"] {
        let res = test::call_service(&app, get(uri)).await;
        let csp = res.headers().get("content-security-policy").expect("a CSP").to_str().unwrap();
        // printf %s "window.theme='auto'" | openssl dgst -sha256 -binary | base64
        assert!(
            csp.contains(
                "script-src 'self' 'sha256-TzdSP7BqeylG2AhA91Sh7O5jroRzw0MdmKd0ml6tx9g=';"
            ),
            "{uri}: {csp}"
        );
        assert!(csp.contains("default-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
        assert_eq!(res.headers().get("referrer-policy").unwrap(), "no-referrer");
        let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        assert!(!body.contains("analytics"), "{uri}: no operator script: {body}");
        assert!(body.contains("<div id=\"root\"></div></body>"), "{uri}");
    }

    // Files, with their types; hashed assets cached for good, others revalidated.
    let res = test::call_service(&app, get("/assets/index-4f9a2b1c.js")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("content-type").unwrap().to_str().unwrap().contains("javascript"));
    assert_eq!(res.headers().get("cache-control").unwrap(), "public, max-age=31536000, immutable");
    assert_eq!(res.headers().get("x-content-type-options").unwrap(), "nosniff");
    let res = test::call_service(&app, get("/static/img/logo192.png")).await;
    assert_eq!(res.headers().get("content-type").unwrap(), "image/png");
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-cache");
    // The manifest comes from the settings, as Cloudreve makes it (the
    // build's own file, if any, is not it).
    let res = test::call_service(&app, get("/manifest.json")).await;
    assert_eq!(res.headers().get("content-type").unwrap(), "application/json");
    assert_eq!(res.headers().get("cache-control").unwrap(), "public, no-cache");
    let manifest: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(
        manifest,
        serde_json::json!({
            "short_name": "My <Drive>",
            "name": "My <Drive>",
            "icons": [
                {"src": "/static/img/favicon.ico", "sizes": "64x64 32x32 24x24 16x16", "type": "image/x-icon"},
                {"src": "/static/img/logo192.png", "type": "image/png", "sizes": "192x192"},
                {"src": "/static/img/logo512.png", "type": "image/png", "sizes": "512x512"},
            ],
            "start_url": ".",
            "display": "standalone",
            "theme_color": "#000000",
            "background_color": "#ffffff",
        })
    );

    // A missing file is a 404, not the app; folders are never listed.
    for uri in ["/assets/missing.js", "/favicon.ico"] {
        assert_eq!(
            test::call_service(&app, get(uri)).await.status(),
            StatusCode::NOT_FOUND,
            "{uri}"
        );
    }
    for uri in ["/static/", "/static/img/", "/assets"] {
        let res = test::call_service(&app, get(uri)).await;
        let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        assert!(
            !body.contains("logo192.png") && !body.contains("index-4f9a2b1c.js"),
            "{uri} listed: {body}"
        );
    }

    // Nothing outside the folder, however the path is dressed.
    for uri in [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/%252e%252e/secret.txt",
        "/..%5csecret.txt",
        "/static/%2e%2e/%2e%2e/secret.txt",
    ] {
        let res = test::call_service(&app, get(uri)).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{uri}");
        let body = test::read_body(res).await;
        assert!(!String::from_utf8_lossy(&body).contains("outside the build"), "{uri}");
    }

    // The API keeps its own answers under the prefix.
    let res = test::call_service(&app, get("/api/v4/nothing")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(body["code"], 404);
}
