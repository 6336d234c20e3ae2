"""The audit log as admins search it: every admin action and every audited member change,
filtered by actor, member, action and time, newest first, paged by cursor; and the same rows
for a CSV export. Personal values are opened with each member's key (or read `[erased]`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session, col, select

from dashboard_app.domain import accounts
from dashboard_app.domain.audit import AuditRecord, open_entries
from dashboard_app.domain.errors import InvalidInput
from dashboard_app.models import AuditEntry, User

PAGE_SIZE = 50
CSV_BATCH = 500
CSV_COLUMNS = ("id", "time_utc", "action", "actor", "member", "before", "after", "ip_address")


@dataclass(frozen=True)
class AuditFilters:
    """Who acted and whom it was about, by email or member number; the action or its start
    (`admin.`); a time range."""

    actor: str = ""
    member: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None


def _person(session: Session, text: str, field: str) -> int | None:
    """A member number (#12 or 12) or an email; -1 when nobody has it (no rows match)."""
    text = text.strip()
    if not text:
        return None
    if text.lstrip("#").isdigit():
        return int(text.lstrip("#"))
    if len(text) > 320:
        raise InvalidInput("That is too long for an email address", field=field)
    found = accounts.find_user_by_email(session=session, email=text)
    return found.id if found is not None and found.id is not None else -1


def _query(session: Session, filters: AuditFilters):  # type: ignore[no-untyped-def]
    query = select(AuditEntry)
    actor = _person(session, filters.actor, "actor")
    if actor is not None:
        query = query.where(AuditEntry.actor_user_id == actor)
    member = _person(session, filters.member, "member")
    if member is not None:
        query = query.where(AuditEntry.subject_user_id == member)
    action = filters.action.strip()
    if action:
        if len(action) > 64:
            raise InvalidInput("That action is too long", field="action")
        query = query.where(col(AuditEntry.action).startswith(action, autoescape=True))
    if filters.since is not None:
        query = query.where(AuditEntry.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEntry.created_at < filters.until)
    return query


@dataclass(frozen=True)
class AuditPage:
    records: list[AuditRecord]
    emails: dict[int, str]
    next_cursor: int | None


def _emails(session: Session, records: list[AuditRecord]) -> dict[int, str]:
    ids = {i for r in records for i in (r.actor_user_id, r.subject_user_id) if i is not None}
    if not ids:
        return {}
    rows = session.exec(select(User.id, User.email, User.deleted_at).where(col(User.id).in_(ids)))
    return {i: ("[deleted member]" if deleted else email) for i, email, deleted in rows}


def search_audit(
    *,
    session: Session,
    filters: AuditFilters,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> AuditPage:
    query = _query(session, filters)
    if before_id is not None:
        query = query.where(col(AuditEntry.id) < before_id)
    limit = max(1, min(limit, CSV_BATCH))
    rows = list(session.exec(query.order_by(col(AuditEntry.id).desc()).limit(limit + 1)))
    more = len(rows) > limit
    records = open_entries(session=session, entries=rows[:limit])
    return AuditPage(
        records=records,
        emails=_emails(session, records),
        next_cursor=records[-1].id if more and records else None,
    )


def describe(values: dict | None) -> str:
    return json.dumps(values, sort_keys=True, default=str) if values else ""


def csv_batch(
    *, session: Session, filters: AuditFilters, before_id: int | None = None
) -> tuple[list[tuple[str, ...]], int | None]:
    """One batch of matching entries as CSV rows (newest first), and the cursor of the next
    batch: an export reads each batch in a short transaction of its own."""
    page = search_audit(session=session, filters=filters, before_id=before_id, limit=CSV_BATCH)
    rows = [
        (
            str(record.id),
            f"{record.created_at:%Y-%m-%d %H:%M:%S}",
            record.action,
            page.emails.get(record.actor_user_id, "") if record.actor_user_id else "",
            page.emails.get(record.subject_user_id, "") if record.subject_user_id else "",
            describe(record.before),
            describe(record.after),
            record.ip_address,
        )
        for record in page.records
    ]
    return rows, page.next_cursor


def read_audit_filters(
    *, actor: str = "", member: str = "", action: str = "", since: str = "", until: str = ""
) -> AuditFilters:
    """Filters as typed in a form or a link; dates are whole UTC days, `until` included."""

    def day(text: str, name: str) -> datetime | None:
        if not text.strip():
            return None
        try:
            return datetime.combine(date.fromisoformat(text.strip()), datetime.min.time(), UTC)
        except ValueError:
            raise InvalidInput(f"Enter the {name} date as YYYY-MM-DD", field=name) from None

    last = day(until, "until")
    return AuditFilters(
        actor=actor,
        member=member,
        action=action,
        since=day(since, "since"),
        until=last + timedelta(days=1) if last else None,
    )
