"""An admin's actions on one member's account: suspend and reinstate (which ends their
sessions), end every session, clear the billing flag with a note, and make or remove an admin
(never the last active admin, never yourself: another admin must).

Each checks the actor against the database, needs a reason, refuses a deleted member, happens
once per form (`form_token`) and is audited with who, before, after and the reason. The caller
owns the transaction."""

from __future__ import annotations

from sqlmodel import Session, col, select

from dashboard_app.domain import accounts
from dashboard_app.domain.admin.guard import (
    Done,
    audit_action,
    done_before,
    prepare_member_action,
)
from dashboard_app.domain.errors import InvalidInput
from dashboard_app.models import User
from dashboard_app.models.base import utcnow
from dashboard_app.models.users import ROLES


def suspend_member(
    *,
    session: Session,
    actor_user_id: object,
    member_id: object,
    reason: object,
    form_token: object,
) -> Done:
    actor, member, reason_text, token = prepare_member_action(
        session,
        actor_user_id=actor_user_id,
        member_id=member_id,
        reason=reason,
        form_token=form_token,
        lock_admins=True,
    )
    assert member.id is not None
    if member.id == actor.id:
        raise InvalidInput("You cannot suspend yourself; ask another admin.")
    if done_before(session, member_id=member.id, action="admin.member_suspended", form_token=token):
        return Done("Already suspended: this form was sent before.", repeated=True)
    if member.status == "suspended":
        raise InvalidInput("This member is already suspended.")
    if member.role == "admin":
        refuse_last_admin(session=session, member_id=member.id)
    accounts.suspend_member(
        session=session, user=member, reason=reason_text, actor_user_id=actor.id
    )
    audit_action(
        session,
        action="admin.member_suspended",
        actor=actor,
        member_id=member.id,
        before={"status": "active"},
        after={"status": "suspended"},
        reason=reason_text,
        form_token=token,
    )
    return Done("Suspended; every session of theirs has ended.")


def reinstate_member(
    *,
    session: Session,
    actor_user_id: object,
    member_id: object,
    reason: object,
    form_token: object,
) -> Done:
    actor, member, reason_text, token = prepare_member_action(
        session,
        actor_user_id=actor_user_id,
        member_id=member_id,
        reason=reason,
        form_token=form_token,
    )
    assert member.id is not None
    if done_before(
        session, member_id=member.id, action="admin.member_reinstated", form_token=token
    ):
        return Done("Already reinstated: this form was sent before.", repeated=True)
    if member.status != "suspended":
        raise InvalidInput("This member is not suspended.")
    before = {"status": member.status, "suspended_reason": member.suspended_reason}
    accounts.reinstate_member(session=session, user=member, actor_user_id=actor.id)
    audit_action(
        session,
        action="admin.member_reinstated",
        actor=actor,
        member_id=member.id,
        before=before,
        after={"status": "active"},
        reason=reason_text,
        form_token=token,
    )
    return Done("Reinstated: they can sign in again.")


def end_member_sessions(
    *,
    session: Session,
    actor_user_id: object,
    member_id: object,
    reason: object,
    form_token: object,
) -> Done:
    actor, member, reason_text, token = prepare_member_action(
        session,
        actor_user_id=actor_user_id,
        member_id=member_id,
        reason=reason,
        form_token=form_token,
    )
    assert member.id is not None
    if done_before(session, member_id=member.id, action="admin.sessions_ended", form_token=token):
        return Done("Already done: this form was sent before.", repeated=True)
    ended = accounts.end_sessions(
        session=session, user_id=member.id, reason="ended_by_admin", actor_user_id=actor.id
    )
    audit_action(
        session,
        action="admin.sessions_ended",
        actor=actor,
        member_id=member.id,
        before={},
        after={"ended": ended},
        reason=reason_text,
        form_token=token,
    )
    return Done(f"{ended} session(s) ended.")


def clear_billing_flag(
    *,
    session: Session,
    actor_user_id: object,
    member_id: object,
    reason: object,
    form_token: object,
) -> Done:
    """Clear the member's billing flag (a dispute) with a note saying why."""
    actor, member, reason_text, token = prepare_member_action(
        session,
        actor_user_id=actor_user_id,
        member_id=member_id,
        reason=reason,
        form_token=form_token,
    )
    assert member.id is not None
    if done_before(
        session, member_id=member.id, action="admin.billing_flag_cleared", form_token=token
    ):
        return Done("Already cleared: this form was sent before.", repeated=True)
    if not member.billing_flag:
        raise InvalidInput("This member has no billing flag to clear.")
    before = {"billing_flag": member.billing_flag}
    member.billing_flag, member.updated_at = None, utcnow()
    session.add(member)
    audit_action(
        session,
        action="admin.billing_flag_cleared",
        actor=actor,
        member_id=member.id,
        before=before,
        after={"billing_flag": None},
        reason=reason_text,
        form_token=token,
    )
    return Done("Billing flag cleared.")


def _active_admin_ids(session: Session) -> list[int]:
    """Every active admin, their rows locked, so two demotions cannot both see a spare."""
    return list(
        session.exec(
            select(User.id)
            .where(User.role == "admin", User.status == "active")
            .where(col(User.deleted_at).is_(None))
            .order_by(col(User.id))
            .with_for_update(key_share=True)
        )
    )


def refuse_last_admin(*, session: Session, member_id: int) -> None:
    """Refuse to take away the last active admin (by demotion or suspension)."""
    others = [i for i in _active_admin_ids(session) if i != member_id]
    if not others:
        raise InvalidInput(
            "This is the last active admin: make someone else an admin first.", field="role"
        )


def set_member_role(
    *,
    session: Session,
    actor_user_id: object,
    member_id: object,
    role: object,
    reason: object,
    form_token: object,
) -> Done:
    """Make a member an admin or remove the role. An admin cannot remove their own role (another
    admin must), and the last active admin is never demoted."""
    actor, member, reason_text, token = prepare_member_action(
        session,
        actor_user_id=actor_user_id,
        member_id=member_id,
        reason=reason,
        form_token=form_token,
        lock_admins=True,
    )
    assert member.id is not None
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidInput("Choose the role: member or admin", field="role")
    if done_before(session, member_id=member.id, action="admin.role_changed", form_token=token):
        return Done("Already done: this form was sent before.", repeated=True)
    if member.role == role:
        raise InvalidInput(f"This member's role is already {role}.", field="role")
    if role != "admin":
        if member.id == actor.id:
            raise InvalidInput(
                "You cannot remove the admin role from yourself; ask another admin.", field="role"
            )
        refuse_last_admin(session=session, member_id=member.id)
    before = member.role
    accounts.set_role(session=session, user=member, role=role, actor_user_id=actor.id)
    audit_action(
        session,
        action="admin.role_changed",
        actor=actor,
        member_id=member.id,
        before={"role": before},
        after={"role": role},
        reason=reason_text,
        form_token=token,
    )
    return Done("Now an admin." if role == "admin" else "Admin role removed.")
