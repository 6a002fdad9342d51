"""Where mail goes: an SMTP server (aiosmtplib), or the log in development."""

from __future__ import annotations

import email.policy
import hashlib
import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiosmtplib

from kibitz.settings import Settings

log = logging.getLogger("kibitz.mail")

# RFC 5322's line limit, so that List-Unsubscribe and other long headers stay plain, never
# folded into encoded words that mail clients would not recognise
POLICY = email.policy.SMTP.clone(max_line_length=998)


class MailBackend(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SMTPBackend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage) -> None:
        s = self.settings
        # flattened here, with our policy: aiosmtplib's own would fold long headers
        await aiosmtplib.send(
            message.as_bytes(policy=POLICY.clone(linesep="\r\n")),
            sender=s.mail_from,
            recipients=[str(message["To"])],
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_user or None,
            password=s.smtp_password or None,
            start_tls=s.smtp_security == "starttls",
            use_tls=s.smtp_security == "tls",
            timeout=30,
        )


class LogBackend:
    """Development: each mail is written to the log, nothing leaves the machine."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        self.sent.append(message)
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        log.info("mail to %s: %s\n%s", message["To"], message["Subject"], text)


def backend_for(settings: Settings) -> MailBackend:
    return SMTPBackend(settings) if settings.smtp_host else LogBackend()


def message_id(settings: Settings, key: str) -> str:
    """Stable per outbox row: a resend after a crash is recognisable as the same mail."""
    host = urlsplit(settings.public_url).hostname or "kibitz.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}.kibitz@{host}>"


def build(settings: Settings, payload: dict[str, Any], key: str) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    message["From"] = f"{settings.site_name} <{settings.mail_from}>"
    message["To"] = payload["to"]
    message["Subject"] = payload["subject"]
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id(settings, key) if key else make_msgid()
    if settings.mail_reply_to:
        message["Reply-To"] = settings.mail_reply_to
    message["Auto-Submitted"] = "auto-generated"
    for name, value in payload.get("headers", {}).items():
        message[name] = value
    message.set_content(payload["text"])
    if payload.get("html"):
        message.add_alternative(payload["html"], subtype="html")
    return message
