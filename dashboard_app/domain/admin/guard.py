"""Who may act as an admin, read from the database for every action, and what every action
shares: a reason, a form token against double clicks, a member that still exists, and the
audit entry it leaves."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.errors import InvalidInput, NotFound, PermissionDenied
from dashboard_app.domain.ids import record_id
from dashboard_app.models import AuditEntry, User

MAX_REASON = 500
FORM_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
REFUSED = "admin.refused"


class NotAnAdmin(PermissionDenied):
    """The actor is not an active admin now (never was, demoted, suspended, deleted)."""

    def __init__(self) -> None:
        super().__init__("The admin panel is for admins only.")


def lock_users(session: Session, *user_ids: object, admins: bool = False) -> None:
    """Lock the rows of these users (and, with `admins`, of every active admin) in one
    statement, in id order. Every admin action takes its user locks this way before it reads
    them: two actions then never wait on each other in a circle (two admins demoting each other
    at once: one goes first, the other finds it is no longer an admin), and an admin demoted or
    suspended while their action waits is refused when it resumes. (On SQLite, which runs one
    writer at a time, the statement is a plain read.)"""
    ids = sorted({i for i in map(record_id, user_ids) if i is not None})
    condition = col(User.id).in_(ids)
    if admins:
        condition = or_(
            condition,
            and_(User.role == "admin", User.status == "active", col(User.deleted_at).is_(None)),
        )
    # FOR NO KEY UPDATE: rows that refer to these members (ledger entries, jobs) are written
    # meanwhile without waiting (see plans.lock_member).
    session.exec(
        select(User.id).where(condition).order_by(col(User.id)).with_for_update(key_share=True)
    ).all()


def require_admin(*, session: Session, actor_user_id: int | None) -> User:
    """The acting admin, as the database has them now: an active, undeleted admin, or
    NotAnAdmin. Actions that change something lock the actor's row first (`lock_users`)."""
    if record_id(actor_user_id) is None:
        raise NotAnAdmin()
    actor = session.get(User, actor_user_id, populate_existing=True)
    if actor is None or actor.role != "admin" or actor.status != "active":
        raise NotAnAdmin()
    if actor.deleted_at is not None:
        raise NotAnAdmin()
    return actor


def record_refusal(
    *,
    session: Session,
    actor_user_id: int | None,
    attempted: str,
    ip_address: str = "",
) -> None:
    """An admin action refused to someone who is not an admin (now): kept in the audit log."""
    if actor_user_id is not None and session.get(User, actor_user_id) is None:
        actor_user_id = None
    record_audit(
        session=session,
        action=REFUSED,
        actor_user_id=actor_user_id,
        after={"attempted": attempted[:100]},
        ip_address=ip_address,
    )


def check_reason(reason: object, *, what: str = "reason") -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text or len(text) > MAX_REASON:
        raise InvalidInput(f"Give a {what} of 1 to {MAX_REASON} characters", field="reason")
    return text


def check_form_token(token: object) -> str:
    if not isinstance(token, str) or not FORM_TOKEN.match(token):
        raise InvalidInput("This form has expired. Open it again.", field="form_token")
    return token


def target_member(session: Session, member_id: object, *, lock: bool = False) -> User:
    """The member acted on: NotFound for an unknown id, refused for a deleted account."""
    if record_id(member_id) is None:
        raise NotFound("No such member")
    query = select(User).where(User.id == member_id).execution_options(populate_existing=True)
    if lock:
        query = query.with_for_update(key_share=True)
    member = session.exec(query).first()
    if member is None:
        raise NotFound("No such member")
    if member.deleted_at is not None:
        raise InvalidInput("This member's account was deleted; nothing of it can be changed.")
    return member


def done_before(session: Session, *, member_id: int, action: str, form_token: str) -> bool:
    """Whether this form already did this action to this member (a repeated click)."""
    entries = session.exec(
        select(AuditEntry.after)
        .where(AuditEntry.subject_user_id == member_id, AuditEntry.action == action)
        .order_by(col(AuditEntry.id).desc())
        .limit(500)
    )
    return any((after or {}).get("form") == form_token for after in entries)


def audit_action(
    session: Session,
    *,
    action: str,
    actor: User,
    member_id: int | None,
    before: dict[str, Any],
    after: dict[str, Any],
    reason: str,
    form_token: str,
) -> None:
    record_audit(
        session=session,
        action=action,
        actor_user_id=actor.id,
        subject_user_id=member_id,
        before=before,
        after={**after, "reason": reason, "form": form_token},
    )


@dataclass(frozen=True)
class Done:
    """What the admin is told; `repeated` when this form had already done it."""

    message: str
    repeated: bool = False


def prepare_member_action(
    session: Session,
    *,
    actor_user_id: object,
    member_id: object,
    reason: object,
    form_token: object,
    lock_admins: bool = False,
) -> tuple[User, User, str, str]:
    """The checks every action on a member starts with: the actor and the member locked (with
    every active admin for an action that may take the last one away), then the actor, the
    reason, the form token and the member, in that order."""
    lock_users(session, actor_user_id, member_id, admins=lock_admins)
    actor = require_admin(session=session, actor_user_id=actor_user_id)  # type: ignore[arg-type]
    reason_text = check_reason(reason)
    token = check_form_token(form_token)
    member = target_member(session, member_id, lock=True)
    return actor, member, reason_text, token
