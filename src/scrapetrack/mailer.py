"""Mail over SMTP (SMTP_URL), with the standard library's smtplib.

    smtp://[user:password@]host[:port]    port 25 by default; STARTTLS when the server offers it
    smtps://[user:password@]host[:port]   TLS from the start, port 465 by default

No smtplib error leaves this module.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from scrapetrack.exceptions import ConfigError, DeliveryFailed


class Mailer:
    def __init__(self, url: str, sender: str, timeout_seconds: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("SMTP_URL must be smtp://[user:password@]host[:port] or "
                              "smtps://…")
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.timeout = timeout_seconds

    def send(self, to: str, subject: str, text: str, message_id: str) -> None:
        """Send one plain-text message; DeliveryFailed if the server did not take it."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        # The same id on every attempt, so a mail client shows a retried message once.
        message["Message-ID"] = f"<{message_id}@scrapetrack>"
        message.set_content(text)
        try:
            smtp: smtplib.SMTP
            if self.tls:
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if not self.tls and smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                if self.user is not None:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"the mail server answered {exc.smtp_code}: "
                                 f"{exc.smtp_error!r}", status_code=exc.smtp_code) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"mail not sent: {type(exc).__name__}: {exc}") from None
