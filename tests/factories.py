"""Test data built through the service layer, as the product builds it."""

from __future__ import annotations

import itertools
import uuid

from sqlalchemy.engine import Engine

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, credits
from dashboard_app.models import User

DEFAULT_PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def unique_email(prefix: str = "member") -> str:
    return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:8]}@example.com"


def create_member(
    engine: Engine,
    *,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    display_name: str = "Test Member",
    role: str = "member",
    credits_granted: int = 0,
) -> User:
    with session_scope(engine) as session:
        user = accounts.create_user(
            session=session,
            email=email or unique_email(role),
            password=password,
            display_name=display_name,
            role=role,
            email_verified=True,
        )
        assert user.id is not None
        if credits_granted:
            credits.grant_credits(
                session=session,
                user_id=user.id,
                amount=credits_granted,
                idempotency_key=f"test-grant:{user.id}",
                reason="Test grant",
            )
        return user


def count_rows(engine: Engine, model: type, *conditions: object) -> int:
    """How many rows of `model` match `conditions`, read in a transaction of its own."""
    from sqlmodel import func, select

    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*conditions)).one()
