"""Outgoing mail: SMTP when configured, otherwise a file per message in DATA_DIR/outbox/."""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


@dataclass(frozen=True)
class MailConfig:
    sender: str
    outbox: Path
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True


def _message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message.set_content(mail.text)
    return message


def send_mail(mail: Mail, config: MailConfig) -> None:
    """Deliver one message; raises OSError or smtplib.SMTPException when the server refuses."""
    message = _message(mail, config.sender)
    if not config.smtp_host:
        config.outbox.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        slug = re.sub(r"[^a-z0-9]+", "-", mail.subject.lower()).strip("-")[:40]
        path = config.outbox / f"{stamp}-{slug}.eml"
        path.write_bytes(message.as_bytes())
        links = re.findall(r"https?://\S+", mail.text)
        log.info(
            "mail written to outbox", to=mail.to, subject=mail.subject, path=str(path), links=links
        )
        return
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=15) as smtp:
        if config.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if config.smtp_username:
            smtp.login(config.smtp_username, config.smtp_password or "")
        smtp.send_message(message)
    log.info("mail sent", to=mail.to, subject=mail.subject)


def forget_mail_to(outbox: Path, addresses: Iterable[str]) -> int:
    """Delete the outbox copies of mail that mention any of `addresses` (a deleted member's);
    returns how many were deleted."""
    wanted = [address.lower().encode() for address in addresses if address]
    if not wanted or not outbox.is_dir():
        return 0
    deleted = 0
    for path in outbox.glob("*.eml"):
        content = path.read_bytes().lower()
        if any(address in content for address in wanted):
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted
