"""The demo member and admin of the embedded default, with their sign-up credits."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session

from dashboard_app.domain import accounts, credits
from dashboard_app.models.base import utcnow

DEMO_MEMBER_EMAIL = "member@example.com"
DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_SIGN_UP_CREDITS = 100
DEMO_PROMO_CREDITS = 50


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str | None  # None when the account existed before and its password is unknown
    role: str
    created: bool


def _saved_passwords(path: Path) -> dict[str, str]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _demo_history(session: Session, user_id: int) -> None:
    """A few weeks of activity, so the overview chart and the history have something to show."""
    now = utcnow()
    joined = now - timedelta(days=12)
    credits.grant_credits(
        session=session,
        user_id=user_id,
        amount=DEMO_SIGN_UP_CREDITS,
        idempotency_key=f"signup-bonus:{user_id}",
        reason="Sign-up bonus",
        now=joined,
    )
    credits.grant_credits(
        session=session,
        user_id=user_id,
        amount=DEMO_PROMO_CREDITS,
        idempotency_key=f"demo-promo:{user_id}",
        reason="Welcome promotion",
        expires_at=now + timedelta(days=14),
        now=joined,
    )
    for days_ago, amount in ((10, 4), (7, 9), (5, 3), (2, 12), (1, 6)):
        credits.spend_credits(
            session=session,
            user_id=user_id,
            amount=amount,
            idempotency_key=f"demo-render:{user_id}:{days_ago}",
            reason="Image render (demo)",
            now=now - timedelta(days=days_ago),
        )


def seed_demo(*, session: Session, credentials_file: Path) -> list[DemoAccount]:
    """Create the demo member and admin if absent. Their generated passwords are kept in
    `credentials_file` (git-ignored `data/`), so every run can print them again."""
    saved = _saved_passwords(credentials_file)
    result = []
    for email, role, name in (
        (DEMO_MEMBER_EMAIL, "member", "Demo Member"),
        (DEMO_ADMIN_EMAIL, "admin", "Demo Admin"),
    ):
        user = accounts.find_user_by_email(session=session, email=email)
        created = user is None
        if user is None:
            saved[email] = secrets.token_urlsafe(12)
            user = accounts.create_user(
                session=session,
                email=email,
                password=saved[email],
                display_name=name,
                role=role,
                email_verified=True,
            )
            assert user.id is not None
            if role == "member":
                _demo_history(session, user.id)
        result.append(
            DemoAccount(email=email, password=saved.get(email), role=role, created=created)
        )
    credentials_file.parent.mkdir(parents=True, exist_ok=True)
    credentials_file.write_text(json.dumps(saved, indent=2))
    credentials_file.chmod(0o600)
    return result
