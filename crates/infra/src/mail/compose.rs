//! The email templates: reset link and password-changed notice, each a
//! subject, a text part and an HTML part, in the built-in languages (English
//! and Simplified Chinese), overridden or extended per language by a folder
//! of templates ([`MailTemplates::load_dir`], `PWRESET_TEMPLATES_DIR`).
//!
//! Templates are Jinja (MiniJinja): `{{ url }}`, `{% if … %}`. Variables
//! are strict, so a misspelt name is an error when the folder is loaded, not
//! an empty gap in a sent email. HTML parts escape what they print.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use pwreset_domain::ports::{MailComposer, PasswordChangedMail, ResetLinkMail};
use pwreset_domain::{Language, MailKind, OutgoingMail};
use thiserror::Error;

/// The two emails pwreset writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    ResetLink,
    PasswordChanged,
}

impl Kind {
    const ALL: [Self; 2] = [Self::ResetLink, Self::PasswordChanged];

    fn stem(self) -> &'static str {
        match self {
            Self::ResetLink => "reset-link",
            Self::PasswordChanged => "password-changed",
        }
    }

    /// The variables its templates may use.
    fn variables(self) -> &'static [&'static str] {
        match self {
            Self::ResetLink => &[
                "site_name",
                "nickname",
                "email",
                "url",
                "expires_at",
                "ttl",
                "ttl_minutes",
                "language",
                "subject",
            ],
            Self::PasswordChanged => {
                &["site_name", "nickname", "email", "changed_at", "language", "subject"]
            }
        }
    }
}

/// The three parts of an email, one file each: `<kind>.subject`,
/// `<kind>.txt`, `<kind>.html`.
const PARTS: [&str; 3] = ["subject", "txt", "html"];

/// The built-in templates, as files (the same layout a folder uses).
const BUILT_IN: &[(&str, &str)] = &[
    ("en-US/reset-link.subject", include_str!("templates/en-US/reset-link.subject")),
    ("en-US/reset-link.txt", include_str!("templates/en-US/reset-link.txt")),
    ("en-US/reset-link.html", include_str!("templates/en-US/reset-link.html")),
    ("en-US/password-changed.subject", include_str!("templates/en-US/password-changed.subject")),
    ("en-US/password-changed.txt", include_str!("templates/en-US/password-changed.txt")),
    ("en-US/password-changed.html", include_str!("templates/en-US/password-changed.html")),
    ("zh-CN/reset-link.subject", include_str!("templates/zh-CN/reset-link.subject")),
    ("zh-CN/reset-link.txt", include_str!("templates/zh-CN/reset-link.txt")),
    ("zh-CN/reset-link.html", include_str!("templates/zh-CN/reset-link.html")),
    ("zh-CN/password-changed.subject", include_str!("templates/zh-CN/password-changed.subject")),
    ("zh-CN/password-changed.txt", include_str!("templates/zh-CN/password-changed.txt")),
    ("zh-CN/password-changed.html", include_str!("templates/zh-CN/password-changed.html")),
];

/// A folder of templates cannot be used; the message names the file and,
/// where there is one, the line.
#[derive(Debug, Error)]
pub enum TemplateDirError {
    /// The folder or a file in it cannot be read.
    #[error("{}: {source}", .path.display())]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file or folder that is not part of the layout (a typo would
    /// otherwise be silently ignored).
    #[error("{}: {reason}", .path.display())]
    Layout {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A template that does not parse or does not render.
    #[error("{}{}: {reason}", .path.display(), .line.map(|l| format!(":{l}")).unwrap_or_default())]
    Template {
        /// The file.
        path: PathBuf,
        /// The line, when the template engine knows it.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
}

/// Every email template: the built-in ones, and those of a folder on top.
#[derive(Debug, Clone)]
pub struct MailTemplates {
    env: Environment<'static>,
    /// Lower-cased tag → the tag as the template names spell it, for every
    /// language that has templates of a kind.
    languages: BTreeMap<(String, Kind), String>,
    /// Where the templates of a folder came from, for `describe`.
    dir: Option<PathBuf>,
}

impl Default for MailTemplates {
    fn default() -> Self {
        Self::built_in()
    }
}

/// HTML escaping the way pwreset has always escaped (`&<>"'`), rather than
/// MiniJinja's, which also escapes `/` and would mangle every link.
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

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None }
    });
    env.set_formatter(|out, state, value| {
        if state.auto_escape() == AutoEscape::Html && !value.is_safe() {
            write!(out, "{}", escape(&value.to_string())).map_err(minijinja::Error::from)
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env
}

/// A syntactically plausible language tag: `de`, `de-DE`, `zh-Hant-TW`.
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()))
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

impl MailTemplates {
    /// The built-in templates only.
    pub fn built_in() -> Self {
        let mut env = environment();
        let mut languages = BTreeMap::new();
        for (name, source) in BUILT_IN {
            env.add_template_owned(*name, *source).expect("built-in templates parse");
            let (tag, file) = name.split_once('/').expect("tag/file");
            let kind = Kind::ALL.into_iter().find(|k| file.starts_with(k.stem())).expect("kind");
            languages.insert((tag.to_ascii_lowercase(), kind), tag.to_owned());
        }
        Self { env, languages, dir: None }
    }

    /// The built-in templates as `(relative path, text)`, the layout of a
    /// templates folder: a starting point for one.
    pub fn built_in_files() -> impl Iterator<Item = (&'static str, &'static str)> {
        BUILT_IN.iter().copied()
    }

    /// The built-in templates with those of `dir` on top: `dir/<language
    /// tag>/<reset-link|password-changed>.<subject|txt|html>`. A language
    /// folder gives all three parts of a kind or none; a kind it leaves out
    /// comes from the next language in the reader's preferences. Each
    /// template is parsed and rendered once with sample values here, so a
    /// folder that loads renders.
    ///
    /// # Errors
    /// [`TemplateDirError`] naming the file (and line) at fault.
    pub fn load_dir(dir: &Path) -> Result<Self, TemplateDirError> {
        let read = |path: &Path| -> Result<std::fs::ReadDir, TemplateDirError> {
            std::fs::read_dir(path)
                .map_err(|source| TemplateDirError::Read { path: path.into(), source })
        };
        let layout = |path: &Path, reason: &str| TemplateDirError::Layout {
            path: path.into(),
            reason: reason.into(),
        };
        let mut templates = Self::built_in();
        let mut entries: Vec<PathBuf> = read(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(|source| TemplateDirError::Read { path: dir.into(), source })?;
        entries.sort();
        for language_dir in entries {
            let name = language_dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            if !language_dir.is_dir() || !is_language_tag(name) {
                return Err(layout(
                    &language_dir,
                    "expected a folder named by a language tag (en-US, de-DE, …)",
                ));
            }
            // A folder for a built-in language overrides it under its own
            // spelling (`en-us` overrides `en-US`).
            let tag = Language::ALL
                .into_iter()
                .map(Language::tag)
                .find(|t| t.eq_ignore_ascii_case(name))
                .unwrap_or(name)
                .to_owned();
            let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
            for file in read(&language_dir)? {
                let path = file
                    .map_err(|source| TemplateDirError::Read {
                        path: language_dir.clone(),
                        source,
                    })?
                    .path();
                let file = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
                if file.starts_with('.') {
                    continue;
                }
                let known = Kind::ALL
                    .iter()
                    .any(|k| PARTS.iter().any(|p| file == format!("{}.{p}", k.stem())));
                if !known {
                    return Err(layout(
                        &path,
                        "unknown template file; expected reset-link.{subject,txt,html} or password-changed.{subject,txt,html}",
                    ));
                }
                files.insert(file, path);
            }
            for kind in Kind::ALL {
                let given: Vec<&str> = PARTS
                    .iter()
                    .copied()
                    .filter(|p| files.contains_key(&format!("{}.{p}", kind.stem())))
                    .collect();
                if given.is_empty() {
                    continue;
                }
                if given.len() != PARTS.len() {
                    let missing: Vec<String> = PARTS
                        .iter()
                        .filter(|p| !given.contains(p))
                        .map(|p| format!("{}.{p}", kind.stem()))
                        .collect();
                    return Err(layout(
                        &language_dir,
                        &format!(
                            "{} is missing (a language gives all three parts of an email or none)",
                            missing.join(" and ")
                        ),
                    ));
                }
                for part in PARTS {
                    let path = &files[&format!("{}.{part}", kind.stem())];
                    let source = std::fs::read_to_string(path)
                        .map_err(|source| TemplateDirError::Read { path: path.clone(), source })?;
                    let name = format!("{tag}/{}.{part}", kind.stem());
                    templates
                        .env
                        .add_template_owned(name.clone(), source)
                        .map_err(|e| template_error(path, &e))?;
                    templates.check(&name, kind, path)?;
                }
                templates.languages.insert((tag.to_ascii_lowercase(), kind), tag.clone());
            }
        }
        templates.dir = Some(dir.to_owned());
        Ok(templates)
    }

    /// Renders a freshly added template with sample values and checks what
    /// every email needs: only known variables, a one-line subject, the link
    /// in both parts of the reset email.
    fn check(&self, name: &str, kind: Kind, path: &Path) -> Result<(), TemplateDirError> {
        let template = self.env.get_template(name).map_err(|e| template_error(path, &e))?;
        let mut unknown: Vec<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| !kind.variables().contains(&v.as_str()))
            .collect();
        unknown.sort();
        if !unknown.is_empty() {
            return Err(TemplateDirError::Template {
                path: path.into(),
                line: None,
                reason: format!(
                    "unknown variable {}; the {} templates know {}",
                    unknown.join(", "),
                    kind.stem(),
                    kind.variables().join(", ")
                ),
            });
        }
        let url = "https://drive.example.com/session/reset?id=lpua&secret=sample";
        let rendered = template.render(sample(kind, url)).map_err(|e| template_error(path, &e))?;
        let problem = if name.ends_with(".subject") && rendered.trim().is_empty() {
            Some("the subject is empty".to_owned())
        } else if name.ends_with(".subject") && rendered.trim().contains('\n') {
            Some("the subject spans several lines".to_owned())
        } else if kind == Kind::ResetLink && !name.ends_with(".subject") {
            let shown = if name.ends_with(".html") { escape(url) } else { url.to_owned() };
            (!rendered.contains(&shown))
                .then(|| "the reset email must show the link: {{ url }}".to_owned())
        } else {
            None
        };
        match problem {
            Some(reason) => {
                Err(TemplateDirError::Template { path: path.into(), line: None, reason })
            }
            None => Ok(()),
        }
    }

    /// The languages with templates, built-in and from the folder.
    pub fn languages(&self) -> Vec<String> {
        let tags: std::collections::BTreeSet<&String> = self.languages.values().collect();
        tags.into_iter().cloned().collect()
    }

    /// The folder the templates were loaded from, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The language to write `kind` in: the first of the reader's tags that
    /// has templates (exactly, or by its primary subtag), else the first
    /// that maps onto a built-in language, else `fallback`.
    fn pick(&self, kind: Kind, tags: [Option<&str>; 2], fallback: Language) -> String {
        for tag in tags.into_iter().flatten() {
            let wanted = tag.trim().replace('_', "-").to_ascii_lowercase();
            if let Some(found) = self.languages.get(&(wanted.clone(), kind)) {
                return found.clone();
            }
            let primary = wanted.split('-').next().unwrap_or_default();
            // Chinese differs by script: zh-TW is not zh-CN.
            if primary != "zh" {
                let same_primary = self
                    .languages
                    .iter()
                    .find(|((t, k), _)| *k == kind && t.split('-').next() == Some(primary));
                if let Some((_, found)) = same_primary {
                    return found.clone();
                }
            }
            if let Some(language) = Language::from_tag(tag) {
                return language.tag().to_owned();
            }
        }
        fallback.tag().to_owned()
    }

    fn render(
        &self,
        kind: Kind,
        tag: &str,
        mut context: BTreeMap<&'static str, Value>,
    ) -> Rendered {
        match self.try_render(kind, tag, &mut context) {
            Ok(rendered) => rendered,
            // Templates were rendered once when loaded; should one still
            // fail (a value it did not expect), the built-in English one
            // writes the email rather than no email at all.
            Err(error) => {
                tracing::error!(template = %format!("{tag}/{}", kind.stem()), %error, "a mail template failed to render; using the built-in English one");
                Self::built_in()
                    .try_render(kind, Language::EnUs.tag(), &mut context)
                    .expect("the built-in templates render")
            }
        }
    }

    fn try_render(
        &self,
        kind: Kind,
        tag: &str,
        context: &mut BTreeMap<&'static str, Value>,
    ) -> Result<Rendered, minijinja::Error> {
        let name = |part: &str| format!("{tag}/{}.{part}", kind.stem());
        context.insert("language", Value::from(tag));
        let subject = self.env.get_template(&name("subject"))?.render(&*context)?;
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        context.insert("subject", Value::from(subject.as_str()));
        let text = self.env.get_template(&name("txt"))?.render(&*context)?;
        let html = self.env.get_template(&name("html"))?.render(&*context)?;
        Ok(Rendered { subject, text, html })
    }
}

struct Rendered {
    subject: String,
    text: String,
    html: String,
}

/// Values a template is tried with when loaded.
fn sample(kind: Kind, url: &str) -> BTreeMap<&'static str, Value> {
    let mut context = BTreeMap::from([
        ("site_name", Value::from("My Drive")),
        ("nickname", Value::from("Jane")),
        ("email", Value::from("jane@example.com")),
        ("language", Value::from("en-US")),
        ("subject", Value::from("Subject")),
    ]);
    match kind {
        Kind::ResetLink => {
            context.insert("url", Value::from(url));
            context.insert("expires_at", Value::from("2026-11-27 14:04 UTC"));
            context.insert("ttl", Value::from("1 hour"));
            context.insert("ttl_minutes", Value::from(60));
        }
        Kind::PasswordChanged => {
            context.insert("changed_at", Value::from("2026-11-27 14:04 UTC"));
        }
    }
    context
}

fn template_error(path: &Path, error: &minijinja::Error) -> TemplateDirError {
    TemplateDirError::Template {
        path: path.into(),
        line: error.line(),
        reason: error
            .detail()
            .map_or_else(|| error.kind().to_string(), |d| format!("{}: {d}", error.kind())),
    }
}

/// Renders pwreset's emails.
#[derive(Debug, Clone)]
pub struct TemplateComposer {
    site_name: String,
    default_language: Language,
    templates: MailTemplates,
}

impl TemplateComposer {
    /// A composer signing as `site_name`, writing in `default_language` when
    /// neither the request nor the user chose one, with the built-in templates.
    pub fn new(site_name: impl Into<String>, default_language: Language) -> Self {
        Self::with_templates(site_name, default_language, MailTemplates::built_in())
    }

    /// The same, with `templates` (e.g. [`MailTemplates::load_dir`]).
    pub fn with_templates(
        site_name: impl Into<String>,
        default_language: Language,
        templates: MailTemplates,
    ) -> Self {
        Self { site_name: site_name.into(), default_language, templates }
    }
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "1 hour", "2 hours 30 minutes", "1 小时", "2 小时 30 分钟"; English for
/// languages that are not built in (their templates have `ttl_minutes`).
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

impl MailComposer for TemplateComposer {
    fn reset_link(&self, m: &ResetLinkMail<'_>) -> OutgoingMail {
        let fallback = m.language.unwrap_or(self.default_language);
        let tags = if m.requested_language.is_some() || m.user_language.is_some() {
            [m.requested_language, m.user_language]
        } else {
            [m.language.map(Language::tag), None]
        };
        let tag = self.templates.pick(Kind::ResetLink, tags, fallback);
        let ttl_language = Language::from_tag(&tag).unwrap_or(Language::EnUs);
        let context = BTreeMap::from([
            ("site_name", Value::from(self.site_name.as_str())),
            ("nickname", Value::from(m.nickname)),
            ("email", Value::from(m.to)),
            ("url", Value::from(m.url)),
            ("expires_at", Value::from(when(m.expires_at))),
            ("ttl", Value::from(span(m.ttl, ttl_language))),
            ("ttl_minutes", Value::from(m.ttl.num_minutes())),
        ]);
        let Rendered { subject, text, html } =
            self.templates.render(Kind::ResetLink, &tag, context);
        OutgoingMail { kind: MailKind::ResetLink, to: m.to.to_owned(), subject, text, html }
    }

    fn password_changed(&self, m: &PasswordChangedMail<'_>) -> OutgoingMail {
        let fallback = m.language.unwrap_or(self.default_language);
        let tags = match m.user_language {
            Some(tag) => [Some(tag), None],
            None => [m.language.map(Language::tag), None],
        };
        let tag = self.templates.pick(Kind::PasswordChanged, tags, fallback);
        let context = BTreeMap::from([
            ("site_name", Value::from(self.site_name.as_str())),
            ("nickname", Value::from(m.nickname)),
            ("email", Value::from(m.to)),
            ("changed_at", Value::from(when(m.at))),
        ]);
        let Rendered { subject, text, html } =
            self.templates.render(Kind::PasswordChanged, &tag, context);
        OutgoingMail { kind: MailKind::PasswordChanged, to: m.to.to_owned(), subject, text, html }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const URL: &str =
        "https://drive.example.com/session/reset?id=lpua&secret=XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK";

    fn reset_mail<'a>(requested: Option<&'a str>, user: Option<&'a str>) -> ResetLinkMail<'a> {
        ResetLinkMail {
            to: "jane@example.com",
            nickname: "Jane <script>",
            url: URL,
            expires_at: Utc.with_ymd_and_hms(2026, 11, 27, 14, 4, 0).unwrap(),
            ttl: chrono::Duration::minutes(90),
            language: Language::choose([requested, user]),
            requested_language: requested,
            user_language: user,
        }
    }

    fn link(language: Option<Language>) -> OutgoingMail {
        let composer = TemplateComposer::new("My <Drive>", Language::EnUs);
        composer.reset_link(&reset_mail(language.map(Language::tag), None))
    }

    #[test]
    fn reset_link_in_english_by_default() {
        let mail = link(None);
        assert_eq!(mail.kind, MailKind::ResetLink);
        assert_eq!(mail.to, "jane@example.com");
        assert_eq!(mail.subject, "Reset your My <Drive> password");
        assert!(mail.text.contains("Hello Jane <script>,"));
        assert!(mail.text.contains(&format!("\n{URL}\n")));
        assert!(
            mail.text.contains("expires at 2026-11-27 14:04 UTC (in 1 hour 30 minutes)"),
            "{}",
            mail.text
        );
        assert!(mail.text.ends_with("— My <Drive>\n"), "{:?}", mail.text);
        assert!(mail.html.starts_with("<!DOCTYPE html>\n<html lang=\"en-US\">"));
        assert!(mail.html.contains("href=\"https://drive.example.com/session/reset?id=lpua&amp;secret=XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK\""));
        assert!(
            mail.html.contains("Jane &lt;script&gt;") && !mail.html.contains("<script>"),
            "names are escaped"
        );
        assert!(mail.html.contains("My &lt;Drive&gt;"));
        assert!(mail.html.contains("<title>Reset your My &lt;Drive&gt; password</title>"));
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
            user_language: None,
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
            user_language: Some("en-GB"),
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

    /// A templates folder with `files` (path relative to it, text).
    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    const DE: [(&str, &str); 3] = [
        ("de-DE/reset-link.subject", "{{ site_name }}: Passwort zurücksetzen\n"),
        (
            "de-DE/reset-link.txt",
            "Hallo {{ nickname }},\n\n{{ url }}\n\nDer Link gilt {{ ttl_minutes }} Minuten.\n",
        ),
        (
            "de-DE/reset-link.html",
            "<html lang=\"{{ language }}\"><p>Hallo {{ nickname }}</p><a href=\"{{ url }}\">Neues Passwort</a></html>\n",
        ),
    ];

    #[test]
    fn a_folder_adds_a_language_the_reader_reaches_by_request_or_setting() {
        let dir = folder(&DE);
        let templates = MailTemplates::load_dir(dir.path()).unwrap();
        assert_eq!(templates.languages(), ["de-DE", "en-US", "zh-CN"]);
        let composer = TemplateComposer::with_templates("Drive", Language::EnUs, templates);
        for (requested, user) in
            [(Some("de-DE"), None), (Some("de"), Some("zh-CN")), (Some("fr"), Some("de-AT"))]
        {
            let mail = composer.reset_link(&reset_mail(requested, user));
            assert_eq!(mail.subject, "Drive: Passwort zurücksetzen", "{requested:?} {user:?}");
            assert_eq!(
                mail.text,
                format!("Hallo Jane <script>,\n\n{URL}\n\nDer Link gilt 90 Minuten.\n")
            );
            assert!(mail.html.contains("<html lang=\"de-DE\"><p>Hallo Jane &lt;script&gt;</p>"));
            assert!(mail.html.contains(&format!("href=\"{}\"", URL.replace('&', "&amp;"))));
        }
        // The request's language wins over the user's; a kind the folder
        // does not give comes from the next language.
        let zh = composer.reset_link(&reset_mail(Some("zh-CN"), Some("de-DE")));
        assert_eq!(zh.subject, "重置您的 Drive 密码");
        let notice = composer.password_changed(&PasswordChangedMail {
            to: "a@b.c",
            nickname: "A",
            at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            language: None,
            user_language: Some("de-DE"),
        });
        assert_eq!(notice.subject, "Your Drive password was changed");
    }

    #[test]
    fn a_folder_overrides_a_built_in_language_kind_by_kind() {
        let dir = folder(&[
            ("en-us/password-changed.subject", "Password changed on {{ site_name }}"),
            ("en-us/password-changed.txt", "Changed at {{ changed_at }}."),
            ("en-us/password-changed.html", "<p>{{ nickname }}: {{ changed_at }}</p>"),
        ]);
        let composer = TemplateComposer::with_templates(
            "Drive",
            Language::EnUs,
            MailTemplates::load_dir(dir.path()).unwrap(),
        );
        let notice = composer.password_changed(&PasswordChangedMail {
            to: "a@b.c",
            nickname: "<A>",
            at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            language: None,
            user_language: None,
        });
        assert_eq!(notice.subject, "Password changed on Drive");
        assert_eq!(notice.text, "Changed at 2026-01-02 03:04 UTC.");
        assert_eq!(notice.html, "<p>&lt;A&gt;: 2026-01-02 03:04 UTC</p>");
        let link = composer.reset_link(&reset_mail(None, None));
        assert_eq!(link.subject, "Reset your Drive password", "the other kind stays built in");
    }

    #[test]
    fn the_built_in_files_are_a_folder_that_renders_the_same() {
        let files: Vec<(&str, &str)> = MailTemplates::built_in_files().collect();
        assert_eq!(files.len(), 12);
        let dir = folder(&files);
        let loaded = TemplateComposer::with_templates(
            "Drive",
            Language::EnUs,
            MailTemplates::load_dir(dir.path()).unwrap(),
        );
        let built_in = TemplateComposer::new("Drive", Language::EnUs);
        for requested in [None, Some("zh-CN")] {
            assert_eq!(
                loaded.reset_link(&reset_mail(requested, None)),
                built_in.reset_link(&reset_mail(requested, None))
            );
        }
    }

    fn refusal(files: &[(&str, &str)]) -> String {
        let dir = folder(files);
        let error = MailTemplates::load_dir(dir.path()).unwrap_err().to_string();
        error.replace(&dir.path().display().to_string(), "DIR")
    }

    #[test]
    fn a_folder_that_would_not_render_is_refused_naming_the_file_and_line() {
        let mut broken = DE;
        broken[1].1 = "Hallo {{ nickname }},\n\n{{ url }}\n{% if ttl_minutes %}\n";
        assert_eq!(
            refusal(&broken),
            "DIR/de-DE/reset-link.txt:4: syntax error: unexpected end of input, expected end of block"
        );
        let mut typo = DE;
        typo[2].1 = "<p>{{ nick_name }}</p>\n{{ url }}";
        assert_eq!(
            refusal(&typo),
            "DIR/de-DE/reset-link.html: unknown variable nick_name; the reset-link templates know \
             site_name, nickname, email, url, expires_at, ttl, ttl_minutes, language, subject"
        );
        let mut no_link = DE;
        no_link[1].1 = "Hallo {{ nickname }}\n";
        assert_eq!(
            refusal(&no_link),
            "DIR/de-DE/reset-link.txt: the reset email must show the link: {{ url }}"
        );
        let mut two_lines = DE;
        two_lines[0].1 = "Passwort\nzurücksetzen";
        assert_eq!(
            refusal(&two_lines),
            "DIR/de-DE/reset-link.subject: the subject spans several lines"
        );
        let mut filter = DE;
        filter[1].1 = "{{ url | nosuchfilter }}";
        assert!(
            refusal(&filter).starts_with("DIR/de-DE/reset-link.txt:1: "),
            "{}",
            refusal(&filter)
        );
    }

    #[test]
    fn a_folder_off_the_layout_is_refused() {
        assert_eq!(
            refusal(&DE[..2]),
            "DIR/de-DE: reset-link.html is missing (a language gives all three parts of an email or none)"
        );
        assert_eq!(
            refusal(&[("de-DE/reset_link.txt", "{{ url }}")]),
            "DIR/de-DE/reset_link.txt: unknown template file; expected \
             reset-link.{subject,txt,html} or password-changed.{subject,txt,html}"
        );
        assert_eq!(
            refusal(&[("german/reset-link.txt", "{{ url }}")]),
            "DIR/german: expected a folder named by a language tag (en-US, de-DE, …)"
        );
        let missing = MailTemplates::load_dir(Path::new("/nonexistent/templates")).unwrap_err();
        assert!(missing.to_string().starts_with("/nonexistent/templates: "), "{missing}");
        // Editor leftovers and hidden files are not templates.
        let mut files = DE.to_vec();
        files.push(("de-DE/.reset-link.txt.swp", "x"));
        files.push((".git/HEAD", "x"));
        assert!(MailTemplates::load_dir(folder(&files).path()).is_ok());
    }
}
