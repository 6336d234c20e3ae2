"""The text of every mail the product sends."""

from __future__ import annotations

from dashboard_app.integrations.mailer import Mail


def verification_mail(to: str, link: str) -> Mail:
    return Mail(
        to=to,
        subject="Confirm your email address",
        text=(
            "Welcome!\n\nConfirm that this is your email address by opening this link "
            f"(it works for 2 days):\n\n{link}\n\nIf you did not sign up, ignore this mail.\n"
        ),
    )


def password_reset_mail(to: str, link: str) -> Mail:
    return Mail(
        to=to,
        subject="Reset your password",
        text=(
            "Someone asked to reset the password of your account. Choose a new one here "
            f"(the link works once, for 1 hour):\n\n{link}\n\n"
            "If it was not you, ignore this mail: your password stays as it is.\n"
        ),
    )


def email_change_mail(to: str, link: str) -> Mail:
    return Mail(
        to=to,
        subject="Confirm your new email address",
        text=(
            "Confirm that your account should use this email address from now on "
            f"(the link works for 2 days):\n\n{link}\n\nIf you did not ask for this, ignore it.\n"
        ),
    )
