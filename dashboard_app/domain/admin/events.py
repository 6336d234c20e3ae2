"""Stripe's webhook events as an admin sees them: every stored event with its type, status,
attempts, error and payload, filtered and paged; a failed one replayed, a processed one forced
through again. Replays go through the same processing as deliveries, so the business keys
(`checkout:<session>`, `refund:<charge>:...`) still make them count once."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from dashboard_app.db import session_scope
from dashboard_app.domain import stripe_events
from dashboard_app.domain.admin.guard import (
    audit_action,
    check_form_token,
    check_reason,
    require_admin,
)
from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.domain.ids import record_id
from dashboard_app.integrations.stripe_gateway import StripeGateway
from dashboard_app.models import StripeEvent, User
from dashboard_app.models.billing import EVENT_STATUSES

PAGE_SIZE = 25
MAX_PAYLOAD_SHOWN = 20_000


@dataclass(frozen=True)
class EventsPage:
    events: list[StripeEvent]
    next_cursor: int | None


def list_events(
    *,
    session: Session,
    status: str | None = None,
    kind: str | None = None,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> EventsPage:
    """Stored events, newest first; `kind` matches a type or its start (`charge.dispute.`)."""
    query = select(StripeEvent)
    if status is not None:
        if status not in EVENT_STATUSES:
            raise InvalidInput("Unknown status", field="status")
        query = query.where(StripeEvent.status == status)
    if kind:
        if len(kind) > 100:
            raise InvalidInput("That type is too long", field="kind")
        query = query.where(col(StripeEvent.type).startswith(kind, autoescape=True))
    if before_id is not None:
        query = query.where(col(StripeEvent.id) < before_id)
    limit = max(1, min(limit, 100))
    rows = list(session.exec(query.order_by(col(StripeEvent.id).desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return EventsPage(events=rows, next_cursor=rows[-1].id if more and rows else None)


def event_types(*, session: Session) -> list[str]:
    return sorted(session.exec(select(StripeEvent.type).distinct()))


def payload_text(event: StripeEvent) -> str:
    text = json.dumps(event.payload, indent=2, sort_keys=True, default=str)
    if len(text) > MAX_PAYLOAD_SHOWN:
        return text[:MAX_PAYLOAD_SHOWN] + "\n... (cut)"
    return text


@dataclass(frozen=True)
class Replayed:
    message: str
    status: str | None


def replay_event(
    *,
    engine: Engine | None,
    gateway: StripeGateway,
    catalog: Catalog,
    actor_user_id: object,
    event_id: object,
    force: bool,
    reason: object,
    form_token: object,
) -> Replayed:
    """Process a stored event again now. A processed event is run again only with `force`
    (nothing it did happens twice: each handler acts once per business object)."""
    with session_scope(engine) as session:
        actor = require_admin(session=session, actor_user_id=actor_user_id)  # type: ignore[arg-type]
        reason_text = check_reason(reason)
        token = check_form_token(form_token)
        if record_id(event_id) is None:
            raise NotFound("No such event")
        row = session.get(StripeEvent, event_id)
        if row is None:
            raise NotFound("No such event")
        before = row.status
        if before in ("processed", "ignored") and not force:
            raise InvalidInput(
                "This event was processed already; use Force to run it again.", field="force"
            )
        actor_id = actor.id
    status = stripe_events.process_event(
        engine=engine, gateway=gateway, catalog=catalog, event_id=event_id, force=True
    )
    with session_scope(engine) as session:
        # Stripe has acted: the entry is written whatever happened to the actor since.
        actor = session.get(User, actor_id)
        assert actor is not None
        audit_action(
            session,
            action="admin.event_replayed",
            actor=actor,
            member_id=None,
            before={"event": event_id, "status": before},
            after={"event": event_id, "status": status, "forced": force},
            reason=reason_text,
            form_token=token,
        )
    if status is None:
        return Replayed("Another process is working on this event right now.", None)
    return Replayed(f"Event processed again: {status}.", status)
