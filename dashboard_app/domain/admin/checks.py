"""Runs of `ledger check` and of Stripe reconciliation, from the command line or the admin
panel's buttons, kept in `operator_checks` so the overview shows the last result of each."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from dashboard_app.db import session_scope
from dashboard_app.domain.admin.guard import require_admin
from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import DomainError
from dashboard_app.domain.ledger_check import check_ledger
from dashboard_app.domain.stripe_sync import reconcile
from dashboard_app.integrations.stripe_gateway import StripeGateway
from dashboard_app.models import OperatorCheck
from dashboard_app.models.admin import CHECK_KINDS
from dashboard_app.models.base import utcnow

MAX_DETAILS = 200
RECONCILE_DAYS = 7  # what the panel's button reconciles


def record_check(
    *,
    session: Session,
    kind: str,
    ok: bool,
    summary: str,
    details: list[str],
    source: str,
    started_at: datetime,
    actor_user_id: int | None = None,
) -> OperatorCheck:
    row = OperatorCheck(
        kind=kind,
        ok=ok,
        summary=summary[:500],
        details=[line[:500] for line in details[:MAX_DETAILS]],
        source=source,
        actor_user_id=actor_user_id,
        started_at=started_at,
        finished_at=utcnow(),
    )
    session.add(row)
    if actor_user_id is not None:
        record_audit(
            session=session,
            action=f"admin.{kind}_run",
            actor_user_id=actor_user_id,
            after={"ok": ok, "summary": row.summary},
        )
    session.flush()
    session.expunge(row)
    return row


def _check_actor(engine: Engine | None, actor_user_id: int | None) -> None:
    if actor_user_id is not None:
        with session_scope(engine) as session:
            require_admin(session=session, actor_user_id=actor_user_id)


def run_ledger_check(
    *, engine: Engine | None, source: str, actor_user_id: int | None = None
) -> tuple[OperatorCheck, list[str]]:
    """Check the whole ledger in one snapshot of its own, then record the result."""
    _check_actor(engine, actor_user_id)
    started = utcnow()
    with session_scope(engine) as session:  # a fresh session: one snapshot (see ledger_check)
        problems = [str(p) for p in check_ledger(session=session)]
    summary = (
        "Entries, balances, lots, holds and freezes agree."
        if not problems
        else f"{len(problems)} problem(s) found."
    )
    with session_scope(engine) as session:
        row = record_check(
            session=session,
            kind="ledger_check",
            ok=not problems,
            summary=summary,
            details=problems,
            source=source,
            started_at=started,
            actor_user_id=actor_user_id,
        )
    return row, problems


def run_reconcile(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    catalog: Catalog,
    since: datetime | None = None,
    source: str,
    actor_user_id: int | None = None,
) -> tuple[OperatorCheck, list[str], list[str]]:
    """Reconcile Stripe since `since` (the last RECONCILE_DAYS days by default) and record
    what was repaired and what could not be. Stripe out of reach is recorded, then raised."""
    _check_actor(engine, actor_user_id)
    started = utcnow()
    since = since or started - timedelta(days=RECONCILE_DAYS)
    try:
        repaired, problems = reconcile(engine=engine, gateway=gateway, catalog=catalog, since=since)
    except DomainError as error:
        with session_scope(engine) as session:
            record_check(
                session=session,
                kind="reconcile",
                ok=False,
                summary=f"Could not reconcile: {error.message}",
                details=[],
                source=source,
                started_at=started,
                actor_user_id=actor_user_id,
            )
        raise
    summary = f"Since {since:%Y-%m-%d}: {len(repaired)} repaired" + (
        f", {len(problems)} could not be." if problems else "."
    )
    with session_scope(engine) as session:
        row = record_check(
            session=session,
            kind="reconcile",
            ok=not problems,
            summary=summary,
            details=[f"repaired {line}" for line in repaired]
            + [f"could not repair {line}" for line in problems],
            source=source,
            started_at=started,
            actor_user_id=actor_user_id,
        )
    return row, repaired, problems


def latest_checks(*, session: Session) -> dict[str, OperatorCheck | None]:
    return {
        kind: session.exec(
            select(OperatorCheck)
            .where(OperatorCheck.kind == kind)
            .order_by(col(OperatorCheck.finished_at).desc(), col(OperatorCheck.id).desc())
        ).first()
        for kind in CHECK_KINDS
    }
