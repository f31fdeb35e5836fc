//! Mail transports: SMTP (lettre), a folder of `.eml` files, the log.

use std::path::Path;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{FileTransport, Message, SmtpTransport, Transport};
use pwreset_domain::OutgoingMail;
use pwreset_domain::ports::{MailError, MailTransport};
use pwreset_domain::values::mask_email;

use super::MailConfigError;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

fn permanent(message: impl std::fmt::Display) -> MailError {
    MailError { permanent: true, message: message.to_string() }
}

/// Builds the RFC 5322 message: `multipart/alternative` with text and HTML.
fn message(from: &Mailbox, mail: &OutgoingMail) -> Result<Message, MailError> {
    let to: Mailbox = mail.to.parse().map_err(|e| permanent(format!("invalid recipient: {e}")))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&mail.subject)
        .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
        .map_err(permanent)
}

/// Sends through an SMTP server.
pub struct SmtpMailer {
    transport: SmtpTransport,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `smtp://…` or `smtps://…` (see [`super::MailTarget::Smtp`]).
    ///
    /// # Errors
    /// [`MailConfigError::SmtpUrl`] when lettre cannot use the URL.
    pub fn new(url: &str, from: Mailbox) -> Result<Self, MailConfigError> {
        let transport = SmtpTransport::from_url(url)
            .map_err(|e| MailConfigError::SmtpUrl(e.to_string()))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self { transport, from })
    }
}

impl MailTransport for SmtpMailer {
    fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = message(&self.from, mail)?;
        self.transport
            .send(&message)
            .map(drop)
            .map_err(|e| MailError { permanent: e.is_permanent(), message: e.to_string() })
    }
}

/// Writes each message as an `.eml` file into a folder (created with owner-only
/// permissions: reset emails hold secrets).
#[derive(Debug)]
pub struct FileMailer {
    transport: FileTransport,
    from: Mailbox,
}

impl FileMailer {
    /// A mailer writing into `dir`, which is created if missing.
    ///
    /// # Errors
    /// [`MailConfigError::Folder`] when the folder cannot be created.
    pub fn new(dir: &Path, from: Mailbox) -> Result<Self, MailConfigError> {
        let folder = |source| MailConfigError::Folder { path: dir.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(folder)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(folder)?;
        }
        Ok(Self { transport: FileTransport::new(dir), from })
    }
}

impl MailTransport for FileMailer {
    fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = message(&self.from, mail)?;
        // A full disk or a vanished folder may recover: retry.
        self.transport
            .send(&message)
            .map(drop)
            .map_err(|e| MailError { permanent: false, message: e.to_string() })
    }
}

/// Logs the recipient (masked) and the subject; delivers nothing. Never logs a body.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

impl MailTransport for LogMailer {
    fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        tracing::info!(
            to = %mask_email(&mail.to),
            subject = %mail.subject,
            kind = mail.kind.as_str(),
            "email not delivered (PWRESET_MAIL=log)"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pwreset_domain::MailKind;

    fn mail() -> OutgoingMail {
        OutgoingMail {
            kind: MailKind::ResetLink,
            to: "Jane <jane@example.com>".into(),
            subject: "Reset your password".into(),
            text: "Open https://x/session/reset?id=a&secret=b".into(),
            html: "<p>Open <a href=\"https://x\">link</a></p>".into(),
        }
    }

    #[test]
    fn file_mailer_writes_one_rfc5322_message_per_email() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("outbox");
        let mailer =
            FileMailer::new(&out, "pwreset <noreply@example.com>".parse().unwrap()).unwrap();
        mailer.send(&mail()).unwrap();
        mailer.send(&mail()).unwrap();
        let files: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 2);
        assert!(files.iter().all(|f| f.extension().is_some_and(|e| e == "eml")));
        let eml = std::fs::read_to_string(&files[0]).unwrap();
        for header in [
            "From: pwreset <noreply@example.com>",
            "To: Jane <jane@example.com>",
            "Subject: Reset your password",
            "Date: ",
            "multipart/alternative",
            "text/plain",
            "text/html",
        ] {
            assert!(eml.contains(header), "{header} missing in:\n{eml}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o700);
        }
    }

    #[test]
    fn a_bad_recipient_is_permanent() {
        let mailer = LogMailer;
        assert!(mailer.send(&mail()).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let files = FileMailer::new(dir.path(), "a@b.c".parse().unwrap()).unwrap();
        let err = files.send(&OutgoingMail { to: "not an address".into(), ..mail() }).unwrap_err();
        assert!(err.permanent, "{err:?}");
    }

    #[test]
    fn smtp_down_is_transient() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mailer =
            SmtpMailer::new(&format!("smtp://127.0.0.1:{port}"), "a@b.c".parse().unwrap()).unwrap();
        let err = mailer.send(&mail()).unwrap_err();
        assert!(!err.permanent, "{err:?}");
    }
}
