"""Mail goes to a real SMTP server when one is configured, and to the outbox folder otherwise."""

from __future__ import annotations

import email

from dashboard_app.integrations.mailer import Mail, MailConfig, send_mail
from tests.support.mail import MailCatcher, link_in


def test_without_smtp_the_mail_is_written_to_the_outbox_and_its_link_logged(
    tmp_path, capsys, caplog
) -> None:
    config = MailConfig(sender="Dashboard <no-reply@localhost>", outbox=tmp_path / "outbox")
    send_mail(
        Mail(
            to="a@example.com",
            subject="Reset your password",
            text="Open http://localhost:3000/reset-password?token=abc\n",
        ),
        config,
    )
    (written,) = list((tmp_path / "outbox").glob("*.eml"))
    message = email.message_from_bytes(written.read_bytes())
    assert message["To"] == "a@example.com"
    assert link_in(message) == "http://localhost:3000/reset-password?token=abc"
    # Logged: through the app's logging once it is configured (to stderr), printed before.
    printed = capsys.readouterr().out + " ".join(str(r.msg) for r in caplog.records)
    assert "http://localhost:3000/reset-password?token=abc" in printed


def test_with_smtp_the_mail_reaches_the_server() -> None:
    catcher = MailCatcher()
    catcher.start()
    try:
        config = MailConfig(
            sender="Dashboard <no-reply@localhost>",
            outbox=None,  # type: ignore[arg-type]
            smtp_host="127.0.0.1",
            smtp_port=catcher.port,
            smtp_starttls=False,
        )
        send_mail(
            Mail(
                to="b@example.com",
                subject="Confirm your email address",
                text="http://x/verify?token=1",
            ),
            config,
        )
        received = catcher.wait_for("b@example.com", "Confirm your email address")
        assert received["From"] == "Dashboard <no-reply@localhost>"
    finally:
        catcher.stop()
