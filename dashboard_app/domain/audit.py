"""Writes to the append-only audit log. Callers pass the session; the caller commits."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from dashboard_app.models import AuditEntry


def record_audit(
    *,
    session: Session,
    action: str,
    actor_user_id: int | None = None,
    subject_user_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip_address: str = "",
) -> AuditEntry:
    entry = AuditEntry(
        action=action,
        actor_user_id=actor_user_id,
        subject_user_id=subject_user_id,
        before=before,
        after=after,
        ip_address=ip_address[:64],
    )
    session.add(entry)
    session.flush()
    return entry
