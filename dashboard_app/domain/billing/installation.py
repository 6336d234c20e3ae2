"""This database's own id: part of every idempotency key it sends to Stripe, so that two
installations sharing one Stripe account (a laptop and staging, parallel test runs) never answer
each other's requests. Made on first use; a database copied from another keeps the other's id
only if it was made before the copy."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from dashboard_app.models import Installation


def installation_id(session: Session) -> str:
    found = session.get(Installation, 1)
    if found is not None:
        return found.uid
    try:
        with session.begin_nested():
            row = Installation(id=1, uid=uuid.uuid4().hex)
            session.add(row)
            session.flush()
            return row.uid
    except IntegrityError:  # another process made it first
        found = session.get(Installation, 1, populate_existing=True)
        assert found is not None
        return found.uid
