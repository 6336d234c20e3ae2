"""What the internal endpoints do for schedulers outside the app: read a sync request, run it,
and audit every call (refused ones too) with the caller's address."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from dashboard_app.db import session_scope
from dashboard_app.domain import holdings, rate_limits
from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.domain.stripe_sync import reconcile
from dashboard_app.integrations.stripe_gateway import StripeGateway
from dashboard_app.models import User
from dashboard_app.models.base import utcnow

CUSTOMER_ID = re.compile(r"cus_[A-Za-z0-9]{1,250}")
# One member's sync looks this far back: their history, not the whole account's.
CUSTOMER_LOOKBACK = timedelta(days=90)
# Calls without the token, per address: a flood is refused before it reaches the audit log.
REFUSALS = [rate_limits.Window(20, timedelta(minutes=15))]


@dataclass(frozen=True)
class StripeSyncRequest:
    customer: str | None
    since: datetime


@dataclass(frozen=True)
class StripeSyncResult:
    repaired: list[str]
    could_not_repair: list[str]


def read_stripe_sync(payload: Any, *, now: datetime | None = None) -> StripeSyncRequest:
    """{"customer": "cus_..."} for one member (the last 90 days, or since "since"), or
    {"since": "<ISO 8601 time with its zone>"} for everyone."""
    now = now or utcnow()
    if not isinstance(payload, dict):
        raise InvalidInput('Send a JSON object: {"customer": "cus_..."} or {"since": "..."}.')
    extra = set(payload) - {"customer", "since"}
    if extra:
        raise InvalidInput(
            f"Unknown field(s) {', '.join(sorted(map(str, extra)))}: send "
            "only customer and since (extra fields are refused)."
        )
    customer = payload.get("customer")
    if customer is not None and not (isinstance(customer, str) and CUSTOMER_ID.fullmatch(customer)):
        raise InvalidInput("customer must be a Stripe customer id (cus_...).", field="customer")
    raw_since = payload.get("since")
    if raw_since is None:
        if customer is None:
            raise InvalidInput(
                "Send a customer (one member) or since (everyone).", field="customer"
            )
        return StripeSyncRequest(customer=customer, since=now - CUSTOMER_LOOKBACK)
    since = _read_time(raw_since)
    if since > now:
        raise InvalidInput("since is in the future.", field="since")
    return StripeSyncRequest(customer=customer, since=since)


def _read_time(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidInput(
            "since must be an ISO 8601 time, e.g. 2026-11-01T00:00:00Z.", field="since"
        )
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            "since must be an ISO 8601 time, e.g. 2026-11-01T00:00:00Z.", field="since"
        ) from None
    if moment.tzinfo is None:
        raise InvalidInput("since needs its time zone (Z or +00:00).", field="since")
    return moment


def _member_of(session: Session, customer: str) -> int:
    user_id = session.exec(select(User.id).where(User.stripe_customer_id == customer)).first()
    if user_id is None:
        raise NotFound(f"No member has the Stripe customer {customer}.")
    return user_id


def sync_stripe(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    catalog: Catalog,
    request: StripeSyncRequest,
    ip_address: str,
) -> StripeSyncResult:
    """Reconcile one member's Stripe objects or everyone's since a time, then audit the call.
    An unknown customer is NotFound and changes nothing."""
    subject = None
    if request.customer is not None:
        with session_scope(engine) as session:
            subject = _member_of(session, request.customer)
    repaired, problems = reconcile(
        engine=engine,
        gateway=gateway,
        catalog=catalog,
        since=request.since,
        customer=request.customer,
    )
    with session_scope(engine) as session:
        record_audit(
            session=session,
            action="internal.stripe_sync",
            subject_user_id=subject,
            after={
                "customer": request.customer,
                "since": request.since.isoformat(),
                "repaired": len(repaired),
                "could_not_repair": len(problems),
            },
            ip_address=ip_address,
        )
    return StripeSyncResult(repaired=repaired, could_not_repair=problems)


@dataclass(frozen=True)
class HoldingsSyncRequest:
    member: int | None  # None: every member whose holdings are stale


@dataclass(frozen=True)
class HoldingsSyncResult:
    queued: int
    already_running: int


# The most stale members one call enqueues (the next call, or the schedule, takes the rest).
HOLDINGS_BATCH = 1000


def read_holdings_sync(payload: Any) -> HoldingsSyncRequest:
    """{"member": <member id>} for one member, or {"stale": true} for every member whose
    holdings are older than the freshness window."""
    usage = 'Send a JSON object: {"member": <member id>} or {"stale": true}.'
    if not isinstance(payload, dict):
        raise InvalidInput(usage)
    extra = set(payload) - {"member", "stale"}
    if extra:
        raise InvalidInput(
            f"Unknown field(s) {', '.join(sorted(map(str, extra)))}: send "
            "only member or stale (extra fields are refused)."
        )
    member, stale = payload.get("member"), payload.get("stale")
    if (member is None) == (stale is None):
        raise InvalidInput(usage, field="member")
    if stale is not None:
        if stale is not True:
            raise InvalidInput("stale must be true.", field="stale")
        return HoldingsSyncRequest(member=None)
    if isinstance(member, bool) or not isinstance(member, int) or not 0 < member < 2**31:
        raise InvalidInput("member must be a member id (a whole number).", field="member")
    return HoldingsSyncRequest(member=member)


def sync_holdings(
    *,
    engine: Engine | None,
    enqueue: Callable[[int], bool],
    request: HoldingsSyncRequest,
    chain: str,
    fresh_for: timedelta,
    ip_address: str,
) -> HoldingsSyncResult:
    """Enqueue a holdings refresh for one member or every stale one (`enqueue` marks it in
    flight and hands it to the job engine; False when one is in flight already), then audit."""
    with session_scope(engine) as session:
        if request.member is not None:
            user = session.get(User, request.member)
            if user is None or user.deleted_at is not None:
                raise NotFound(f"No member has the id {request.member}.")
            if not holdings.member_wallet(session=session, user_id=request.member):
                raise InvalidInput("That member has no wallet address on their profile.")
            members = [request.member]
        else:
            members = holdings.stale_members(
                session=session, chain=chain, fresh_for=fresh_for, limit=HOLDINGS_BATCH
            )
    queued = sum(1 for member in members if enqueue(member))
    result = HoldingsSyncResult(queued=queued, already_running=len(members) - queued)
    with session_scope(engine) as session:
        record_audit(
            session=session,
            action="internal.holdings_sync",
            subject_user_id=request.member,
            after={
                "member": request.member,
                "queued": result.queued,
                "already_running": result.already_running,
            },
            ip_address=ip_address,
        )
    return result


def audit_refused_input(
    *,
    session: Session,
    path: str,
    reason: str,
    ip_address: str,
    action: str = "internal.stripe_sync_refused",
) -> None:
    record_audit(
        session=session,
        action=action,
        after={"path": path, "reason": reason[:200]},
        ip_address=ip_address,
    )


def refuse_unauthorised(*, session: Session, path: str, secret: str, ip_address: str) -> None:
    """Audit a call without the token; raises RateLimited (and audits nothing) once an address
    has been refused too often."""
    rate_limits.take(
        session=session,
        action="internal.refused",
        subject=rate_limits.subject_key(secret, "internal", ip_address),
        windows=REFUSALS,
    )
    record_audit(
        session=session, action="internal.refused", after={"path": path}, ip_address=ip_address
    )
