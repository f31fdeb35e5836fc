//! The email templates: reset link and password-changed notice, each as text
//! and HTML, in English and Simplified Chinese.

use chrono::{DateTime, Utc};
use pwreset_domain::ports::{MailComposer, PasswordChangedMail, ResetLinkMail};
use pwreset_domain::{Language, MailKind, OutgoingMail};

/// Renders pwreset's emails.
#[derive(Debug, Clone)]
pub struct TemplateComposer {
    site_name: String,
    default_language: Language,
}

impl TemplateComposer {
    /// A composer signing as `site_name`, writing in `default_language` when
    /// neither the request nor the user chose one.
    pub fn new(site_name: impl Into<String>, default_language: Language) -> Self {
        Self { site_name: site_name.into(), default_language }
    }
}

/// Escapes text for HTML element content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "1 hour", "2 hours 30 minutes", "1 小时", "2 小时 30 分钟".
fn span(d: chrono::Duration, lang: Language) -> String {
    let (days, hours, minutes) = (d.num_days(), d.num_hours() % 24, d.num_minutes() % 60);
    let parts: Vec<String> =
        [(days, "day", "天"), (hours, "hour", "小时"), (minutes, "minute", "分钟")]
            .into_iter()
            .filter(|(n, ..)| *n > 0)
            .map(|(n, en, zh)| match lang {
                Language::EnUs if n == 1 => format!("1 {en}"),
                Language::EnUs => format!("{n} {en}s"),
                Language::ZhCn => format!("{n} {zh}"),
            })
            .collect();
    if parts.is_empty() {
        match lang {
            Language::EnUs => "less than a minute".into(),
            Language::ZhCn => "不到 1 分钟".into(),
        }
    } else {
        parts.join(" ")
    }
}

/// Wraps paragraphs into a small, self-contained HTML document.
fn html_document(lang: Language, title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#222;max-width:36em\">{body}</body></html>\n",
        lang.tag(),
        escape(title),
    )
}

fn button(url: &str, label: &str) -> String {
    let url = escape(url);
    format!(
        "<p><a href=\"{url}\" style=\"display:inline-block;padding:.6em 1.2em;background:#1976d2;color:#fff;\
         border-radius:4px;text-decoration:none\">{label}</a></p>\
         <p style=\"font-size:.9em;color:#555;word-break:break-all\">{url}</p>"
    )
}

impl MailComposer for TemplateComposer {
    fn reset_link(&self, m: &ResetLinkMail<'_>) -> OutgoingMail {
        let lang = m.language.unwrap_or(self.default_language);
        let (site, nick) = (&self.site_name, m.nickname);
        let (expires, ttl) = (when(m.expires_at), span(m.ttl, lang));
        let (subject, text, html) = match lang {
            Language::EnUs => (
                format!("Reset your {site} password"),
                format!(
                    "Hello {nick},\n\n\
                     Someone (hopefully you) asked to reset the password of your {site} account.\n\
                     To choose a new password, open this link:\n\n{url}\n\n\
                     The link works once and expires at {expires} (in {ttl}).\n\
                     If you did not ask for this, ignore this email: your password stays as it is.\n\n\
                     — {site}\n",
                    url = m.url,
                ),
                format!(
                    "<p>Hello {nick},</p>\
                     <p>Someone (hopefully you) asked to reset the password of your {site} account.</p>{button}\
                     <p>The link works once and expires at {expires} (in {ttl}).</p>\
                     <p>If you did not ask for this, ignore this email: your password stays as it is.</p>\
                     <p>— {site}</p>",
                    nick = escape(nick),
                    site = escape(site),
                    button = button(m.url, "Choose a new password"),
                ),
            ),
            Language::ZhCn => (
                format!("重置您的 {site} 密码"),
                format!(
                    "{nick}，您好：\n\n\
                     有人（希望是您本人）请求重置您在 {site} 的账户密码。\n\
                     请打开以下链接设置新密码：\n\n{url}\n\n\
                     该链接只能使用一次，将于 {expires}（{ttl}后）失效。\n\
                     如果这不是您本人的操作，请忽略此邮件，您的密码不会改变。\n\n\
                     —— {site}\n",
                    url = m.url,
                ),
                format!(
                    "<p>{nick}，您好：</p>\
                     <p>有人（希望是您本人）请求重置您在 {site} 的账户密码。</p>{button}\
                     <p>该链接只能使用一次，将于 {expires}（{ttl}后）失效。</p>\
                     <p>如果这不是您本人的操作，请忽略此邮件，您的密码不会改变。</p>\
                     <p>—— {site}</p>",
                    nick = escape(nick),
                    site = escape(site),
                    button = button(m.url, "设置新密码"),
                ),
            ),
        };
        let html = html_document(lang, &subject, &html);
        OutgoingMail { kind: MailKind::ResetLink, to: m.to.to_owned(), subject, text, html }
    }

    fn password_changed(&self, m: &PasswordChangedMail<'_>) -> OutgoingMail {
        let lang = m.language.unwrap_or(self.default_language);
        let (site, nick, at) = (&self.site_name, m.nickname, when(m.at));
        let (subject, text, html) = match lang {
            Language::EnUs => (
                format!("Your {site} password was changed"),
                format!(
                    "Hello {nick},\n\n\
                     The password of your {site} account was changed at {at}.\n\
                     If this was you, there is nothing to do.\n\
                     If it was not, reset your password right away and tell the site's administrator.\n\n\
                     — {site}\n"
                ),
                format!(
                    "<p>Hello {nick},</p>\
                     <p>The password of your {site} account was changed at {at}.</p>\
                     <p>If this was you, there is nothing to do.</p>\
                     <p>If it was not, reset your password right away and tell the site's administrator.</p>\
                     <p>— {site}</p>",
                    nick = escape(nick),
                    site = escape(site),
                ),
            ),
            Language::ZhCn => (
                format!("您的 {site} 密码已更改"),
                format!(
                    "{nick}，您好：\n\n\
                     您在 {site} 的账户密码已于 {at} 更改。\n\
                     如果是您本人操作，无需任何处理。\n\
                     如果不是，请立即重置密码并联系网站管理员。\n\n\
                     —— {site}\n"
                ),
                format!(
                    "<p>{nick}，您好：</p>\
                     <p>您在 {site} 的账户密码已于 {at} 更改。</p>\
                     <p>如果是您本人操作，无需任何处理。</p>\
                     <p>如果不是，请立即重置密码并联系网站管理员。</p>\
                     <p>—— {site}</p>",
                    nick = escape(nick),
                    site = escape(site),
                ),
            ),
        };
        let html = html_document(lang, &subject, &html);
        OutgoingMail { kind: MailKind::PasswordChanged, to: m.to.to_owned(), subject, text, html }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn link(language: Option<Language>) -> OutgoingMail {
        let composer = TemplateComposer::new("My <Drive>", Language::EnUs);
        composer.reset_link(&ResetLinkMail {
            to: "jane@example.com",
            nickname: "Jane <script>",
            url: "https://drive.example.com/session/reset?id=lpua&secret=XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK",
            expires_at: Utc.with_ymd_and_hms(2026, 11, 27, 14, 4, 0).unwrap(),
            ttl: chrono::Duration::minutes(90),
            language,
            user_language: None,
        })
    }

    #[test]
    fn reset_link_in_english_by_default() {
        let mail = link(None);
        assert_eq!(mail.kind, MailKind::ResetLink);
        assert_eq!(mail.to, "jane@example.com");
        assert_eq!(mail.subject, "Reset your My <Drive> password");
        assert!(mail.text.contains("Hello Jane <script>,"));
        assert!(mail.text.contains("\nhttps://drive.example.com/session/reset?id=lpua&secret=XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK\n"));
        assert!(
            mail.text.contains("expires at 2026-11-27 14:04 UTC (in 1 hour 30 minutes)"),
            "{}",
            mail.text
        );
        assert!(mail.html.starts_with("<!DOCTYPE html>\n<html lang=\"en-US\">"));
        assert!(mail.html.contains("href=\"https://drive.example.com/session/reset?id=lpua&amp;secret=XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK\""));
        assert!(
            mail.html.contains("Jane &lt;script&gt;") && !mail.html.contains("<script>"),
            "names are escaped"
        );
        assert!(mail.html.contains("My &lt;Drive&gt;"));
    }

    #[test]
    fn reset_link_in_chinese() {
        let mail = link(Some(Language::ZhCn));
        assert_eq!(mail.subject, "重置您的 My <Drive> 密码");
        assert!(
            mail.text.contains("将于 2026-11-27 14:04 UTC（1 小时 30 分钟后）失效"),
            "{}",
            mail.text
        );
        assert!(mail.html.contains("lang=\"zh-CN\"") && mail.html.contains("设置新密码"));
    }

    #[test]
    fn notices_in_both_languages() {
        let composer = TemplateComposer::new("Drive", Language::ZhCn);
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let zh = composer.password_changed(&PasswordChangedMail {
            to: "a@b.c",
            nickname: "A",
            at,
            language: None,
        });
        assert_eq!(
            (zh.kind, zh.subject.as_str()),
            (MailKind::PasswordChanged, "您的 Drive 密码已更改")
        );
        assert!(zh.text.contains("2026-01-02 03:04 UTC"));
        let en = composer.password_changed(&PasswordChangedMail {
            to: "a@b.c",
            nickname: "A",
            at,
            language: Some(Language::EnUs),
        });
        assert_eq!(en.subject, "Your Drive password was changed");
        assert!(en.html.contains("lang=\"en-US\""));
    }

    #[test]
    fn spans() {
        assert_eq!(span(chrono::Duration::hours(1), Language::EnUs), "1 hour");
        assert_eq!(span(chrono::Duration::minutes(150), Language::EnUs), "2 hours 30 minutes");
        assert_eq!(span(chrono::Duration::days(1), Language::ZhCn), "1 天");
        assert_eq!(span(chrono::Duration::seconds(30), Language::EnUs), "less than a minute");
    }
}
