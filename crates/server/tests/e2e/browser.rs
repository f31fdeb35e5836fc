//! The reset and forgot pages in headless Chromium, against the real binary.

use std::time::Duration;

use crate::support::Env;
use crate::support::browser::Browser;
use fantoccini::Locator;
use pwreset_domain::Email;
use pwreset_domain::ports::{PasswordHasher, UserStore};
use pwreset_infra::db::PoolOptions;
use pwreset_infra::{BcryptHasher, DatabaseUrl, DieselStore};

const NEW: &str = "brand-new-password";

fn password_is(env: &Env, email: &str, password: &str) -> bool {
    let url = DatabaseUrl::parse(&env.database_url).unwrap();
    let store = DieselStore::connect(&url, &PoolOptions::for_backend(url.backend())).unwrap();
    let user = store.find_user_by_email(&Email::parse(email).unwrap()).unwrap().unwrap();
    BcryptHasher::new(4).unwrap().verify(password, &user.password_hash).unwrap()
}

fn emails_in_outbox(env: &Env) -> usize {
    std::fs::read_dir(env.dir.path().join("data/outbox")).map_or(0, |d| d.count())
}

#[tokio::test]
async fn a_person_resets_their_password_through_the_page() {
    let Some(browser) = Browser::start().await else { return };
    let env = Env::sqlite();
    let (id, secret) = env.user_with_link("jane@example.com");
    let server = env.serve();
    let link = format!("{}/session/reset?id={id}&secret={secret}", server.base);

    browser.client.goto(&link).await.unwrap();
    browser.visible("#password").await;
    let address = browser.client.current_url().await.unwrap();
    assert!(!address.as_str().contains(&secret), "the secret left the address bar: {address}");
    assert!(!address.as_str().contains("secret"), "{address}");
    assert_eq!(address.path(), "/session/reset");

    // Rules checked as the person types.
    browser.type_into("#password", "short").await;
    browser.click("#confirm").await;
    assert_eq!(browser.text("#error").await, "The password must have at least 6 characters.");
    browser.type_into("#password", NEW).await;
    browser.type_into("#confirm", "something-else").await;
    assert_eq!(browser.text("#error").await, "The two passwords do not match.");
    browser.click("#submit").await;
    assert_eq!(browser.text("#error").await, "The two passwords do not match.");
    assert!(password_is(&env, "jane@example.com", "old-password"), "nothing was sent");

    // The show-password toggle.
    let kind = |b: &Browser| {
        let client = b.client.clone();
        async move {
            client
                .find(Locator::Css("#password"))
                .await
                .unwrap()
                .attr("type")
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(kind(&browser).await, "password");
    browser.click("#show").await;
    assert_eq!(kind(&browser).await, "text");

    browser.type_into("#confirm", NEW).await;
    assert_eq!(browser.text("#error").await, "");
    browser.click("#submit").await;
    let done = browser.visible("#done h1").await;
    assert_eq!(done.text().await.unwrap(), "Your password has been changed");
    let login =
        browser.client.find(Locator::Css("#login")).await.unwrap().attr("href").await.unwrap();
    assert_eq!(login.as_deref(), Some("https://drive.example.com/session"));
    assert!(
        password_is(&env, "jane@example.com", NEW),
        "the stored hash verifies the new password"
    );
    assert!(!password_is(&env, "jane@example.com", "old-password"));

    // The used link: the expired state, and a way to a new one.
    browser.client.goto(&link).await.unwrap();
    browser.type_into("#password", "another-password").await;
    browser.type_into("#confirm", "another-password").await;
    browser.click("#submit").await;
    assert_eq!(browser.visible("#expired h1").await.text().await.unwrap(), "This link has expired");
    assert!(password_is(&env, "jane@example.com", NEW));
    browser.click("#expired a").await;
    browser.visible("#email").await;
    assert_eq!(browser.client.current_url().await.unwrap().path(), "/session/forgot");
    let before = emails_in_outbox(&env);
    browser.type_into("#email", "jane@example.com").await;
    browser.click("#submit").await;
    assert_eq!(browser.visible("#sent h1").await.text().await.unwrap(), "Check your email");
    // The worker writes the new link into the outbox folder.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while emails_in_outbox(&env) <= before {
        assert!(std::time::Instant::now() < deadline, "no new email");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.close().await;
}

#[tokio::test]
async fn the_forgot_page_is_neutral_and_checks_its_input() {
    let Some(browser) = Browser::start().await else { return };
    let env = Env::sqlite();
    let server = env.serve();
    browser.client.goto(&format!("{}/session/forgot", server.base)).await.unwrap();
    browser.visible("#email").await;
    browser.type_into("#email", "not-an-address").await;
    browser.click("#submit").await;
    assert_eq!(browser.text("#error").await, "Enter an email address like name@example.com.");
    browser.type_into("#email", "nobody@example.com").await;
    browser.click("#submit").await;
    let sent = browser.visible("#sent").await.text().await.unwrap();
    assert!(sent.contains("If an account exists for that address"), "{sent}");
    assert_eq!(emails_in_outbox(&env), 0, "nothing was sent to an unknown address");
    browser.close().await;
}

#[tokio::test]
async fn broken_links_show_the_invalid_state_and_input_is_inert() {
    let Some(browser) = Browser::start().await else { return };
    let env = Env::sqlite();
    let (id, secret) = env.user_with_link("jane@example.com");
    let server = env.serve();
    for query in [
        "",
        "?id=abc",
        "?secret=abc",
        "?id=%3Cscript%3Ealert(1)%3C%2Fscript%3E&secret=x",
        "?id=abc&secret=short",
    ] {
        browser.client.goto(&format!("{}/session/reset{query}", server.base)).await.unwrap();
        let heading = browser.visible("#invalid h1").await.text().await.unwrap();
        assert_eq!(heading, "This link is invalid", "{query}");
        assert!(!browser.is_visible("#reset-form").await, "{query}");
        assert!(browser.client.get_alert_text().await.is_err(), "no script ran: {query}");
    }

    // Whatever is typed, nothing executes and nothing breaks.
    browser
        .client
        .goto(&format!("{}/session/reset?id={id}&secret={secret}", server.base))
        .await
        .unwrap();
    let hostile = "<img src=x onerror=alert(1)>\"';</script>";
    browser.type_into("#password", hostile).await;
    browser.type_into("#confirm", hostile).await;
    browser.click("#submit").await;
    browser.visible("#done").await;
    assert!(browser.client.get_alert_text().await.is_err(), "no script ran");
    assert!(password_is(&env, "jane@example.com", hostile), "taken literally");
    browser.close().await;
}

#[tokio::test]
async fn pages_speak_chinese_and_switch_language_without_losing_the_link() {
    let Some(browser) = Browser::start().await else { return };
    let env = Env::sqlite();
    let (id, secret) = env.user_with_link("jane@example.com");
    let server = env.serve();
    browser
        .client
        .goto(&format!("{}/session/reset?lang=zh-CN&id={id}&secret={secret}", server.base))
        .await
        .unwrap();
    assert_eq!(browser.visible("#form h1").await.text().await.unwrap(), "设置新密码");
    assert_eq!(browser.text("label[for=password]").await, "新密码");
    let address = browser.client.current_url().await.unwrap();
    assert_eq!(address.query(), Some("lang=zh-CN"), "only the language stays in the address bar");

    browser.click(".lang a").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(browser.visible("#form h1").await.text().await.unwrap(), "Choose a new password");
    assert!(!browser.client.current_url().await.unwrap().as_str().contains(&secret));
    browser.type_into("#password", NEW).await;
    browser.type_into("#confirm", NEW).await;
    browser.click("#submit").await;
    browser.visible("#done").await;
    assert!(password_is(&env, "jane@example.com", NEW), "the link survived the switch");
    browser.close().await;
}

/// Regenerates the screenshots in docs/img (`make screenshots`).
#[tokio::test]
#[ignore = "writes docs/img; run with `make screenshots`"]
async fn screenshots() {
    let browser = Browser::start().await.expect("chromium is needed for screenshots");
    let env = Env::sqlite();
    let (id, secret) = env.user_with_link("jane@example.com");
    let server = env.serve();
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/img");
    std::fs::create_dir_all(&out).unwrap();
    for (lang, tag) in [("en", "en-US"), ("zh", "zh-CN")] {
        for (device, width, height) in [("desktop", 1280, 800), ("phone", 360, 740)] {
            browser.client.set_window_size(width, height).await.unwrap();
            let reset = format!("{}/session/reset?lang={tag}&id={id}&secret={secret}", server.base);
            browser.client.goto(&reset).await.unwrap();
            browser.visible("#password").await;
            browser.type_into("#password", NEW).await;
            browser.type_into("#confirm", "brand-new-pass").await;
            browser.click("#show").await;
            browser.client.find(Locator::Css("h1")).await.unwrap().click().await.ok();
            tokio::time::sleep(Duration::from_millis(200)).await;
            let png = browser.client.screenshot().await.unwrap();
            std::fs::write(out.join(format!("reset-{lang}-{device}.png")), png).unwrap();

            browser
                .client
                .goto(&format!("{}/session/forgot?lang={tag}", server.base))
                .await
                .unwrap();
            browser.visible("#email").await;
            browser.type_into("#email", "jane@example.com").await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let png = browser.client.screenshot().await.unwrap();
            std::fs::write(out.join(format!("forgot-{lang}-{device}.png")), png).unwrap();
        }
    }
    browser.close().await;
}
