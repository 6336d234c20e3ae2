"""The append-only audit log: writing entries, and reading them back for admins.

Personal values (emails, names, the postal address, the wallet) are sealed with a key of the
member the entry is about before they are written. Deleting the account destroys that key
(`forget_member`): every entry keeps its action, fields and other values, while the member's
personal values in it can no longer be read. Callers pass the session; the caller commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from dashboard_app.models import AuditEntry, MemberKey, User

PERSONAL_FIELDS = frozenset(
    {
        "email",
        "new_email",
        "display_name",
        "name",
        "address_line1",
        "address_line2",
        "address_city",
        "address_postal_code",
        "address_country",
        "wallet_address",
    }
)
ERASED = "[erased]"  # shown for a personal value whose member was deleted
NOT_KEPT = "[not kept]"  # personal values of an entry about no member are never stored
_SEALED = "sealed:v1:"


def _key_row(session: Session, user_id: int, *, create: bool) -> MemberKey | None:
    row = session.get(MemberKey, user_id)
    if row is not None or not create:
        return row
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        return None
    row = MemberKey(user_id=user_id, key=Fernet.generate_key().decode())
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # another transaction made the member's key first
        return session.exec(
            select(MemberKey)
            .where(MemberKey.user_id == user_id)
            .execution_options(populate_existing=True)
        ).one()
    return row


def _fernet(row: MemberKey | None) -> Fernet | None:
    return Fernet(row.key.encode()) if row is not None else None


def _has_personal(*values: dict[str, Any] | None) -> bool:
    return any(
        name in PERSONAL_FIELDS and value not in (None, "")
        for mapping in values
        if mapping
        for name, value in mapping.items()
    )


def _seal(values: dict[str, Any] | None, fernet: Fernet | None, missing: str) -> dict | None:
    if not values:
        return values
    sealed: dict[str, Any] = {}
    for name, value in values.items():
        if name not in PERSONAL_FIELDS or value in (None, ""):
            sealed[name] = value
        elif fernet is None:
            sealed[name] = missing
        else:
            sealed[name] = _SEALED + fernet.encrypt(json.dumps(value).encode()).decode()
    return sealed


def _open(values: dict[str, Any] | None, fernet: Fernet | None) -> dict | None:
    if not values:
        return values
    opened: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, str) and value.startswith(_SEALED):
            try:
                opened[name] = (
                    json.loads(fernet.decrypt(value.removeprefix(_SEALED).encode()))
                    if fernet is not None
                    else ERASED
                )
            except InvalidToken:
                opened[name] = ERASED
        else:
            opened[name] = value
    return opened


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
    """Append an entry; personal values in `before` and `after` are sealed with the subject's
    key (and not kept at all when there is no subject, or the subject was deleted)."""
    fernet = None
    if subject_user_id is not None and _has_personal(before, after):
        fernet = _fernet(_key_row(session, subject_user_id, create=True))
    missing = NOT_KEPT if subject_user_id is None else ERASED
    entry = AuditEntry(
        action=action,
        actor_user_id=actor_user_id,
        subject_user_id=subject_user_id,
        before=_seal(before, fernet, missing),
        after=_seal(after, fernet, missing),
        ip_address=ip_address[:64],
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditRecord:
    """An audit entry as an admin reads it: personal values opened, or ERASED."""

    id: int
    action: str
    actor_user_id: int | None
    subject_user_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    ip_address: str
    created_at: datetime


def open_entries(*, session: Session, entries: Iterable[AuditEntry]) -> list[AuditRecord]:
    """The entries with their personal values opened with each subject's key."""
    keys: dict[int, Fernet | None] = {}
    records = []
    for entry in entries:
        fernet = None
        if entry.subject_user_id is not None:
            if entry.subject_user_id not in keys:
                keys[entry.subject_user_id] = _fernet(
                    _key_row(session, entry.subject_user_id, create=False)
                )
            fernet = keys[entry.subject_user_id]
        assert entry.id is not None
        records.append(
            AuditRecord(
                id=entry.id,
                action=entry.action,
                actor_user_id=entry.actor_user_id,
                subject_user_id=entry.subject_user_id,
                before=_open(entry.before, fernet),
                after=_open(entry.after, fernet),
                ip_address=entry.ip_address,
                created_at=entry.created_at,
            )
        )
    return records


def audit_trail(*, session: Session, subject_user_id: int, limit: int = 200) -> list[AuditRecord]:
    """What happened to one member, newest first, as an admin reads it."""
    entries = session.exec(
        select(AuditEntry)
        .where(AuditEntry.subject_user_id == subject_user_id)
        .order_by(col(AuditEntry.created_at).desc(), col(AuditEntry.id).desc())
        .limit(limit)
    )
    return open_entries(session=session, entries=entries)


def personal_values(*, session: Session, subject_user_id: int) -> set[str]:
    """Every personal value the log holds about the member (past emails and addresses too)."""
    found: set[str] = set()
    entries = session.exec(select(AuditEntry).where(AuditEntry.subject_user_id == subject_user_id))
    for record in open_entries(session=session, entries=entries):
        for values in (record.before, record.after):
            for name, value in (values or {}).items():
                if name in PERSONAL_FIELDS and isinstance(value, str) and value != ERASED:
                    found.add(value)
    return found


def forget_member(*, session: Session, user_id: int) -> None:
    """Destroy the member's key: their personal values in the log become unreadable."""
    session.exec(delete(MemberKey).where(col(MemberKey.user_id) == user_id))  # type: ignore[call-overload]
    session.flush()
