"""Stripe webhook events: stored first (once per Stripe event id), then processed, and retried
with backoff when processing fails. An event is never dropped: a failure keeps it with its error
until a later attempt succeeds or an admin replays it.

Processing claims an event with a short lease (one UPDATE that only one process can win), so
several backend workers and the retry loop never work on the same event at once. Handlers fetch
the object's current state from Stripe, which makes the order of events irrelevant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Engine, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dashboard_app.db import session_scope
from dashboard_app.domain import billing
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.integrations.stripe_gateway import StripeGateway
from dashboard_app.models import StripeEvent
from dashboard_app.models.base import utcnow
from dashboard_app.settings import get_settings

log = logging.getLogger(__name__)

# Longer than the slowest handler (a few Stripe calls, each up to 20 s with 2 retries).
LEASE = timedelta(minutes=10)
LONGEST_RETRY = timedelta(hours=6)
MAX_PAYLOAD_BYTES = 512 * 1024

Handler = Callable[[Engine | None, StripeGateway, Catalog, dict[str, Any]], None]


def _object(event: dict[str, Any]) -> dict[str, Any]:
    return (event.get("data") or {}).get("object") or {}


def _checkout(failed: bool = False) -> Handler:
    def handle(engine, gateway, catalog, event) -> None:  # type: ignore[no-untyped-def]
        billing.fulfil_checkout(
            engine=engine,
            gateway=gateway,
            catalog=catalog,
            checkout_session_id=_object(event)["id"],
            failed=failed,
        )

    return handle


def _invoice(failed: bool = False) -> Handler:
    def handle(engine, gateway, catalog, event) -> None:  # type: ignore[no-untyped-def]
        billing.sync_invoice(
            engine=engine,
            gateway=gateway,
            catalog=catalog,
            invoice_id=_object(event)["id"],
            failed=failed,
        )

    return handle


def _subscription(engine, gateway, catalog, event) -> None:  # type: ignore[no-untyped-def]
    subscription = _object(event)
    billing.sync_subscription(
        engine=engine,
        gateway=gateway,
        catalog=catalog,
        subscription_id=subscription["id"],
        fallback=subscription if event["type"].endswith(".deleted") else None,
    )


def _refund(engine, gateway, catalog, event) -> None:  # type: ignore[no-untyped-def]
    """A charge's refunds changed: a charge event carries the charge, a refund event the refund
    (a refund that failed or was canceled gives its credits back)."""
    found = _object(event)
    charge_id = (
        found["id"] if found.get("object") == "charge" else billing.object_id(found["charge"])
    )
    billing.sync_refund(engine=engine, gateway=gateway, charge_id=charge_id)


def _dispute(engine, gateway, catalog, event) -> None:  # type: ignore[no-untyped-def]
    # Applied from the dispute as Stripe has it now, not as the event carried it: the events
    # of one dispute arrive in any order.
    billing.sync_dispute(engine=engine, gateway=gateway, dispute_id=_object(event)["id"])


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": _checkout(),
    "checkout.session.async_payment_succeeded": _checkout(),
    "checkout.session.async_payment_failed": _checkout(failed=True),
    "checkout.session.expired": _checkout(failed=True),
    "invoice.paid": _invoice(),
    "invoice.payment_succeeded": _invoice(),
    "invoice.payment_failed": _invoice(failed=True),
    "customer.subscription.created": _subscription,
    "customer.subscription.updated": _subscription,
    "customer.subscription.deleted": _subscription,
    "charge.refunded": _refund,
    "charge.refund.updated": _refund,
    "refund.created": _refund,
    "refund.updated": _refund,
    "refund.failed": _refund,
    "charge.dispute.created": _dispute,
    "charge.dispute.updated": _dispute,
    "charge.dispute.closed": _dispute,
    "charge.dispute.funds_withdrawn": _dispute,
    "charge.dispute.funds_reinstated": _dispute,
}


# --- Storing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    id: int
    duplicate: bool


def _checked(event: dict[str, Any]) -> tuple[str, str]:
    """The event's id and type, or InvalidInput."""
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 255:
        raise InvalidInput("The event has no id")
    kind = event.get("type")
    if not isinstance(kind, str) or not kind or len(kind) > 100:
        raise InvalidInput("The event has no type")
    return event_id, kind


def record_event(*, session: Session, event: dict[str, Any]) -> Stored:
    """Store a verified event once; a repeat delivery of the same event id is a duplicate."""
    event_id, kind = _checked(event)
    existing = session.exec(
        select(StripeEvent.id).where(StripeEvent.stripe_event_id == event_id)
    ).first()
    if existing is not None:
        return Stored(id=existing, duplicate=True)
    row = StripeEvent(
        stripe_event_id=event_id,
        type=kind,
        object_id=str(_object(event).get("id") or "")[:255],
        payload=event,
        status="received" if kind in HANDLERS else "ignored",
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # the same event arriving at the same moment elsewhere
        existing = session.exec(
            select(StripeEvent.id).where(StripeEvent.stripe_event_id == event_id)
        ).one()
        return Stored(id=existing, duplicate=True)
    assert row.id is not None
    return Stored(id=row.id, duplicate=False)


# Events whose own payload is enough to apply them, in the transaction that stores them: no
# call to Stripe, no second transaction. A dispute's first event opens it (flags the member,
# freezes the payment's credits); opening is the first state a dispute has and a closed one is
# final, so applying it from the payload cannot move an order back, whatever the order of the
# dispute's events. Every other event is applied from the object's current state at Stripe.
APPLIED_FROM_PAYLOAD: dict[str, Callable[[Session, dict[str, Any]], None]] = {
    "charge.dispute.created": lambda session, dispute: billing.open_dispute(
        session=session, dispute=dispute
    ),
}


@dataclass(frozen=True)
class Received:
    id: int | None
    duplicate: bool
    processed: bool  # applied with it; otherwise processing follows (`process_event`)


@cache
def _insert_new_event(dialect: str):  # type: ignore[no-untyped-def]
    """Built once: a Core INSERT that does nothing when the Stripe event id is stored already."""
    table = StripeEvent.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.stripe_event_id])
        .returning(table.c.id)
    )


def check_event(event: dict[str, Any]) -> None:
    """Refuse an event without an id or a type (InvalidInput), before any transaction."""
    _checked(event)


def receive_event(*, session: Session, event: dict[str, Any]) -> Received:
    """Store a verified event once and, when its payload is enough (`APPLIED_FROM_PAYLOAD`),
    apply it in the same transaction: one INSERT ... ON CONFLICT DO NOTHING on the Stripe event
    id decides both that it is new and that this request applies it. A failure to apply
    raises with nothing stored: the caller rolls back and stores it for processing with
    `record_event`, which retries it with backoff."""
    event_id, kind = _checked(event)
    now = utcnow()
    apply = APPLIED_FROM_PAYLOAD.get(kind)
    status = "processed" if apply is not None else "received" if kind in HANDLERS else "ignored"
    row_id = (
        session.connection()
        .execute(
            _insert_new_event(session.get_bind().dialect.name),
            {
                "stripe_event_id": event_id,
                "type": kind,
                "object_id": str(_object(event).get("id") or "")[:255],
                "payload": event,
                "status": status,
                "attempts": 1 if apply is not None else 0,
                "last_error": None,
                "received_at": now,
                "next_attempt_at": None,
                "processed_at": now if apply is not None else None,
            },
        )
        .scalar()
    )
    if row_id is None:
        existing = session.exec(
            select(StripeEvent.id).where(StripeEvent.stripe_event_id == event_id)
        ).one()
        return Received(id=existing, duplicate=True, processed=False)
    if apply is not None:
        apply(session, _object(event))
    return Received(id=row_id, duplicate=False, processed=apply is not None)


# --- Processing -------------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """The first retry after one retry interval (STRIPE_RETRY_SECONDS), then doubling, to at
    most six hours apart."""
    first = timedelta(seconds=get_settings().stripe_retry_seconds)
    return min(first * (2 ** min(max(attempts - 1, 0), 20)), LONGEST_RETRY)


def _claim(engine: Engine | None, event_id: int, now: datetime, *, force: bool) -> int | None:
    """Take the event for one lease. Only one process wins; a crashed one's lease runs out."""
    with session_scope(engine) as session:
        statement = (
            update(StripeEvent)
            .where(col(StripeEvent.id) == event_id)
            .values(next_attempt_at=now + LEASE, attempts=StripeEvent.attempts + 1)
        )
        if not force:
            statement = statement.where(
                col(StripeEvent.status).in_(("received", "failed")),
                or_(
                    col(StripeEvent.next_attempt_at).is_(None),
                    col(StripeEvent.next_attempt_at) <= now,
                ),
            )
        if session.exec(statement).rowcount != 1:  # type: ignore[call-overload]
            return None
        row = session.get(StripeEvent, event_id)
        return row.attempts if row is not None else None


def process_event(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    catalog: Catalog,
    event_id: int,
    force: bool = False,
) -> str | None:
    """Process one stored event; returns its new status, or None when another process holds it.
    `force` replays an event whatever its status (an admin's replay)."""
    now = utcnow()
    attempt = _claim(engine, event_id, now, force=force)
    if attempt is None:
        return None
    with session_scope(engine) as session:
        row = session.get(StripeEvent, event_id)
        if row is None:
            raise NotFound("No such event")
        payload, kind = dict(row.payload), row.type
    handler = HANDLERS.get(kind)
    error: str | None = None
    if handler is not None:
        try:
            handler(engine, gateway, catalog, payload)
        except Exception as failure:  # noqa: BLE001 - every failure is kept and retried
            error = f"{type(failure).__name__}: {failure}"[:4000]
            log.warning("stripe event %s (%s) failed: %s", event_id, kind, error)
    with session_scope(engine) as session:
        row = session.get(StripeEvent, event_id)
        assert row is not None
        if row.attempts != attempt:
            return None  # a later attempt (after this lease ran out) owns the outcome
        if error is None:
            row.status = "processed" if handler is not None else "ignored"
            row.processed_at, row.next_attempt_at, row.last_error = utcnow(), None, None
        else:
            row.status = "failed"
            row.last_error = error
            row.next_attempt_at = utcnow() + backoff(row.attempts)
        session.add(row)
        return row.status


def due_event_ids(*, session: Session, now: datetime | None = None, limit: int = 50) -> list[int]:
    now = now or utcnow()
    return list(
        session.exec(
            select(StripeEvent.id)
            .where(col(StripeEvent.status).in_(("received", "failed")))
            .where(
                col(StripeEvent.next_attempt_at).is_(None)
                | (col(StripeEvent.next_attempt_at) <= now)
            )
            .order_by(col(StripeEvent.id))
            .limit(limit)
        )
    )


def process_due_events(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    catalog: Catalog,
    now: datetime | None = None,
    limit: int = 50,
) -> dict[int, str | None]:
    """Retry what is due: new events nobody processed (a worker died) and failures whose
    backoff has passed."""
    with session_scope(engine) as session:
        ids = due_event_ids(session=session, now=now, limit=limit)
    return {
        event_id: process_event(engine=engine, gateway=gateway, catalog=catalog, event_id=event_id)
        for event_id in ids
    }
