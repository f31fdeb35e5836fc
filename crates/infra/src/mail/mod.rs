//! Email: templates ([`TemplateComposer`]) and transports (SMTP, a folder of
//! `.eml` files, the log), chosen by `PWRESET_MAIL`.

mod compose;
#[cfg(feature = "smtp")]
mod transport;

use std::path::PathBuf;

use thiserror::Error;

pub use compose::{MailTemplates, TemplateComposer, TemplateDirError};
#[cfg(feature = "smtp")]
pub use transport::{FileMailer, LogMailer, SmtpMailer};

/// Where email goes.
#[derive(Clone, PartialEq, Eq)]
pub enum MailTarget {
    /// An SMTP server: `smtp://[user:pass@]host[:port][?tls=required|opportunistic]`
    /// (plain, or STARTTLS) or `smtps://[user:pass@]host[:port]` (implicit TLS).
    Smtp(String),
    /// `file:DIR`: one RFC 5322 `.eml` file per message in DIR.
    File(PathBuf),
    /// `log`: recipient and subject logged, nothing delivered.
    Log,
}

impl std::fmt::Debug for MailTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `PWRESET_MAIL` or `PWRESET_MAIL_FROM` is unusable.
#[derive(Debug, Error)]
pub enum MailConfigError {
    /// Not one of the forms.
    #[error("must be smtp://…, smtps://…, file:DIR or log, got {0:?}")]
    UnknownForm(String),
    /// lettre refused the SMTP URL.
    #[error("invalid SMTP URL: {0}")]
    SmtpUrl(String),
    /// The folder cannot be created.
    #[error("cannot create the mail folder {path}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The sender is not an address.
    #[error("invalid sender {0:?}: write it like pwreset <noreply@example.com>")]
    From(String),
}

impl MailTarget {
    /// Parses `smtp://…`, `smtps://…`, `file:DIR` or `log`.
    ///
    /// # Errors
    /// [`MailConfigError::UnknownForm`].
    pub fn parse(raw: &str) -> Result<Self, MailConfigError> {
        let raw = raw.trim();
        let lower = raw.to_ascii_lowercase();
        if lower == "log" {
            Ok(Self::Log)
        } else if lower.starts_with("smtp://") || lower.starts_with("smtps://") {
            Ok(Self::Smtp(raw.to_owned()))
        } else if let Some(dir) = raw.strip_prefix("file:").filter(|d| !d.is_empty()) {
            Ok(Self::File(PathBuf::from(dir.strip_prefix("//").unwrap_or(dir))))
        } else {
            Err(MailConfigError::UnknownForm(raw.to_owned()))
        }
    }

    /// The target with any password hidden, for logs and `config check`.
    pub fn redacted(&self) -> String {
        match self {
            Self::Log => "log".to_owned(),
            Self::File(dir) => format!("file:{}", dir.display()),
            Self::Smtp(url) => crate::redact::url_password(url),
        }
    }
}

/// Whether `from` is a usable sender (`name <address>` or `address`).
#[cfg(feature = "smtp")]
pub fn is_mailbox(from: &str) -> bool {
    from.parse::<lettre::message::Mailbox>().is_ok()
}

/// Builds the transport for a target, sending as `from`.
#[cfg(feature = "smtp")]
///
/// # Errors
/// [`MailConfigError`] when the URL, the folder or the sender is unusable.
pub fn transport(
    target: &MailTarget,
    from: &str,
) -> Result<std::sync::Arc<dyn pwreset_domain::ports::MailTransport>, MailConfigError> {
    let from = from.parse().map_err(|_| MailConfigError::From(from.to_owned()))?;
    Ok(match target {
        MailTarget::Smtp(url) => std::sync::Arc::new(SmtpMailer::new(url, from)?),
        MailTarget::File(dir) => std::sync::Arc::new(FileMailer::new(dir, from)?),
        MailTarget::Log => std::sync::Arc::new(LogMailer),
    })
}

/// Reaches the mail target without sending anything, for `pwreset config
/// check --connect`: an SMTP server is connected to and greeted (TLS as the
/// URL asks; no message, no recipient), a folder is checked to be writable
/// (and is not created), the log needs nothing. Blocking.
///
/// # Errors
/// What could not be reached, in a line.
#[cfg(feature = "smtp")]
pub fn check(target: &MailTarget) -> Result<String, String> {
    match target {
        MailTarget::Smtp(url) => {
            let transport = lettre::SmtpTransport::from_url(url)
                .map_err(|e| e.to_string())?
                .timeout(Some(std::time::Duration::from_secs(10)))
                .build();
            match transport.test_connection() {
                Ok(true) => Ok("the SMTP server answered".into()),
                Ok(false) => Err("the SMTP server did not accept the connection".into()),
                Err(e) => Err(e.to_string()),
            }
        }
        MailTarget::File(dir) if dir.is_dir() => {
            let probe = dir.join(format!(".pwreset-check-{}", std::process::id()));
            std::fs::write(&probe, b"")
                .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
            let _ = std::fs::remove_file(probe);
            Ok(format!("{} is writable", dir.display()))
        }
        MailTarget::File(dir) => {
            Ok(format!("{} does not exist yet; serve creates it", dir.display()))
        }
        MailTarget::Log => Ok("log: nothing to reach (no email is sent)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(MailTarget::parse("log").unwrap(), MailTarget::Log);
        assert_eq!(
            MailTarget::parse("file:./data/outbox").unwrap(),
            MailTarget::File("./data/outbox".into())
        );
        assert_eq!(
            MailTarget::parse("file:///var/mail").unwrap(),
            MailTarget::File("/var/mail".into())
        );
        assert!(matches!(
            MailTarget::parse("smtps://u:p@mail.example.com").unwrap(),
            MailTarget::Smtp(_)
        ));
        assert!(MailTarget::parse("sendmail").is_err());
        assert!(MailTarget::parse("file:").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        let t = MailTarget::parse("smtp://user:s3cret@mail.example.com:587?tls=required").unwrap();
        assert_eq!(t.redacted(), "smtp://user:***@mail.example.com:587?tls=required");
        assert_eq!(format!("{t:?}"), "smtp://user:***@mail.example.com:587?tls=required");
        let t = MailTarget::parse("smtp://mail.example.com").unwrap();
        assert_eq!(t.redacted(), "smtp://mail.example.com");
    }

    #[cfg(feature = "smtp")]
    #[test]
    fn bad_smtp_urls_and_senders_are_refused() {
        let t = MailTarget::parse("smtp://user:pass@").unwrap();
        assert!(transport(&t, "pwreset <noreply@example.com>").is_err());
        let err = transport(&MailTarget::Log, "not an address").map(|_| ()).unwrap_err();
        assert!(matches!(err, MailConfigError::From(_)));
    }
}
