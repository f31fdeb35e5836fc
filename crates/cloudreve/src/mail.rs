//! [`CloudreveComposer`]: the reset email as the operator's Cloudreve would
//! send it, from its `mail_reset_template` setting.

use pwreset_domain::ports::{MailComposer, PasswordChangedMail, ResetLinkMail};
use pwreset_domain::{MailKind, OutgoingMail};
use pwreset_infra::TemplateComposer;
use serde::Deserialize;

use crate::template::{Template, TemplateError, html_to_text};

/// One entry of `mail_reset_template`.
#[derive(Debug, Deserialize)]
struct RawTemplate {
    language: String,
    title: String,
    body: String,
}

#[derive(Debug)]
struct LanguageTemplate {
    language: String,
    title: Result<Template, TemplateError>,
    body: Result<Template, TemplateError>,
}

/// What the templates may refer to besides the user and the link.
#[derive(Debug, Clone, Default)]
pub struct SiteContext {
    /// `.CommonContext.SiteBasic.Name`, also the subject's `[name]`.
    pub name: String,
    /// `.CommonContext.SiteUrl`.
    pub url: String,
    /// `.CommonContext.Logo.Normal`.
    pub logo: String,
}

/// Renders reset emails from Cloudreve's `mail_reset_template`: the entry
/// whose `language` is the user's `email_language`, else the first; subject
/// `[<siteName>] <title>`; a plain-text part made from the HTML. A template it
/// cannot render (or none at all) falls back to pwreset's own, with a
/// warning, never to no email. The "password changed" notice is pwreset's own.
#[derive(Debug)]
pub struct CloudreveComposer {
    templates: Vec<LanguageTemplate>,
    site: SiteContext,
    fallback: TemplateComposer,
}

impl CloudreveComposer {
    /// A composer over the raw setting (`None` when unset). A setting that is
    /// not a JSON list of templates is logged once here and means every
    /// email uses `fallback`.
    pub fn new(raw: Option<&str>, site: SiteContext, fallback: TemplateComposer) -> Self {
        let parsed: Vec<RawTemplate> = match raw {
            None => Vec::new(),
            Some(raw) => serde_json::from_str(raw).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "Cloudreve's mail_reset_template is not a JSON list of templates; pwreset's own template will be used");
                Vec::new()
            }),
        };
        let templates = parsed
            .into_iter()
            .map(|t| LanguageTemplate {
                body: Template::parse(&t.body),
                title: Template::parse(&t.title),
                language: t.language,
            })
            .collect::<Vec<_>>();
        for t in &templates {
            if let Err(e) = t.body.as_ref().and(t.title.as_ref()) {
                tracing::warn!(language = %t.language, error = %e, "a Cloudreve reset template cannot be rendered; emails in its language will use pwreset's own");
            }
        }
        Self { templates, site, fallback }
    }

    /// How many language templates the setting holds.
    pub fn template_count(&self) -> usize {
        self.templates.len()
    }

    fn render(&self, mail: &ResetLinkMail<'_>) -> Result<OutgoingMail, String> {
        let template = mail
            .user_language
            .and_then(|lang| self.templates.iter().find(|t| t.language.eq_ignore_ascii_case(lang)))
            .or_else(|| self.templates.first())
            .ok_or("mail_reset_template holds no template")?;
        let body = template.body.as_ref().map_err(ToString::to_string)?;
        let title = template.title.as_ref().map_err(ToString::to_string)?;
        let data = |path: &str| -> Option<String> {
            Some(match path {
                "Url" => mail.url.to_owned(),
                "User.Nick" => mail.nickname.to_owned(),
                "User.Email" => mail.to.to_owned(),
                "CommonContext.SiteBasic.Name" => self.site.name.clone(),
                "CommonContext.SiteUrl" => self.site.url.clone(),
                "CommonContext.Logo.Normal" => self.logo(),
                _ => return None,
            })
        };
        let html = body.render(&data).map_err(|e| e.to_string())?;
        // Cloudreve 4.0 stored plain titles and prefixed `[site name] `;
        // later versions store the prefix in the title, as a template.
        let rendered = title.render_text(&data).map_err(|e| e.to_string())?;
        let subject =
            if title.is_plain() { format!("[{}] {rendered}", self.site.name) } else { rendered };
        let mut text = html_to_text(&html);
        if !text.contains(mail.url) {
            // The link must survive in the text part whatever the markup did.
            text.push_str(&format!("\n{}\n", mail.url));
        }
        Ok(OutgoingMail {
            kind: MailKind::ResetLink,
            to: mail.to.to_owned(),
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            text,
            html,
        })
    }
}

impl CloudreveComposer {
    /// The logo as an absolute address: Cloudreve resolves a relative
    /// `site_logo` against its site URL.
    fn logo(&self) -> String {
        let logo = self.site.logo.trim();
        if logo.is_empty() || logo.starts_with("http://") || logo.starts_with("https://") {
            return logo.to_owned();
        }
        let base = self.site.url.trim_end_matches('/');
        if logo.starts_with('/') {
            let origin_end = base
                .find("://")
                .map_or(base.len(), |s| base[s + 3..].find('/').map_or(base.len(), |p| s + 3 + p));
            format!("{}{logo}", &base[..origin_end])
        } else {
            format!("{base}/{logo}")
        }
    }
}

impl MailComposer for CloudreveComposer {
    fn reset_link(&self, mail: &ResetLinkMail<'_>) -> OutgoingMail {
        self.render(mail).unwrap_or_else(|reason| {
            tracing::warn!(%reason, "Cloudreve's reset template was not used; sending pwreset's own");
            self.fallback.reset_link(mail)
        })
    }

    fn password_changed(&self, mail: &PasswordChangedMail<'_>) -> OutgoingMail {
        self.fallback.password_changed(mail)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use pwreset_domain::Language;

    use super::*;

    const URL: &str =
        "https://cloud.example.com/session/reset?id=lpua&secret=XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK";

    fn composer(raw: Option<&str>) -> CloudreveComposer {
        let site = SiteContext {
            name: "My Cloud".into(),
            url: "https://cloud.example.com".into(),
            logo: "/static/logo.svg".into(),
        };
        CloudreveComposer::new(raw, site, TemplateComposer::new("My Cloud", Language::EnUs))
    }

    fn link(composer: &CloudreveComposer, user_language: Option<&str>) -> OutgoingMail {
        composer.reset_link(&ResetLinkMail {
            to: "jane@example.com",
            nickname: "Jane",
            url: URL,
            expires_at: Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap(),
            ttl: chrono::Duration::hours(1),
            language: None,
            requested_language: None,
            user_language,
        })
    }

    const TEMPLATES: &str = r#"[
        {"language":"en-US","title":"Reset your password","body":"<p>Dear {{.User.Nick}}, reset at <a href=\"{{.Url}}\">this link</a> on {{.CommonContext.SiteBasic.Name}}.</p>"},
        {"language":"zh-CN","title":"重设密码","body":"<p>{{.User.Nick}} 你好，请点击 <a href=\"{{.Url}}\">链接</a></p>"}
    ]"#;

    #[test]
    fn the_users_language_picks_the_template_else_the_first() {
        let c = composer(Some(TEMPLATES));
        let zh = link(&c, Some("zh-CN"));
        assert_eq!(zh.subject, "[My Cloud] 重设密码");
        assert!(zh.html.contains("Jane 你好"), "{}", zh.html);
        assert!(zh.html.contains(&URL.replace('&', "&amp;")), "{}", zh.html);
        assert!(zh.text.contains(URL), "{}", zh.text);
        for other in [None, Some("ja-JP")] {
            let en = link(&c, other);
            assert_eq!(en.subject, "[My Cloud] Reset your password");
            assert_eq!(en.text, format!("Dear Jane, reset at {URL} this link on My Cloud.\n"));
        }
    }

    /// Cloudreve 4.0's own default `mail_reset_template`, verbatim.
    const CLOUDREVE_DEFAULT: &str = include_str!("../tests/fixtures/mail_reset_template.json");

    #[test]
    fn cloudreves_default_templates_render() {
        let c = composer(Some(CLOUDREVE_DEFAULT));
        assert_eq!(c.template_count(), 2);
        let en = link(&c, Some("EN-us"));
        assert_eq!(en.subject, "[My Cloud] Reset your password");
        assert!(en.html.contains(&format!("<a href=\"{}\">", URL.replace('&', "&amp;"))));
        assert!(
            en.html.contains("src=\"https://cloud.example.com/static/logo.svg\""),
            "relative logos are resolved"
        );
        assert!(!en.html.contains("{{"), "every action rendered");
        assert!(!en.html.contains("<!--"), "comments dropped as html/template does");
        assert!(
            en.text.contains("Please click the button below to reset your password."),
            "{}",
            en.text
        );
        assert!(en.text.contains(URL), "{}", en.text);
        assert!(en.text.contains("My Cloud"), "{}", en.text);
        assert!(!en.text.contains('<') && !en.text.contains("mso"), "{}", en.text);
        let zh = link(&c, Some("zh-CN"));
        assert_eq!(zh.subject, "[My Cloud] 重设密码");
        assert!(zh.text.contains("请点击下方按钮重设你的密码"), "{}", zh.text);
    }

    #[test]
    fn titles_that_are_templates_are_the_whole_subject() {
        let raw = r#"[{"language":"en-US","title":"[{{ .CommonContext.SiteBasic.Name }}] Reset your password","body":"<a href=\"{{.Url}}\">x</a>"}]"#;
        assert_eq!(link(&composer(Some(raw)), None).subject, "[My Cloud] Reset your password");
    }

    #[test]
    fn what_cannot_be_rendered_falls_back_to_pwresets_template() {
        let pwreset_own = link(&composer(None), None);
        assert!(pwreset_own.text.contains(URL));
        for raw in [
            "not json",
            "[]",
            r#"[{"language":"en-US","title":"T","body":"{{range .X}}{{end}}"}]"#,
            r#"[{"language":"en-US","title":"T","body":"{{.User.Password}}"}]"#,
        ] {
            let mail = link(&composer(Some(raw)), Some("en-US"));
            assert_eq!(mail.subject, pwreset_own.subject, "{raw}");
            assert_eq!(mail.text, pwreset_own.text, "{raw}");
        }
    }
}
