"""The audit log as CSV, for admins only: the request's own session cookie is resolved and the
role read from the database for this request; anyone else gets 404 and the attempt is audited.
Rows are read in batches, each in a short transaction of its own, and streamed."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from dashboard_app.db import session_scope
from dashboard_app.domain import admin
from dashboard_app.domain.audit import record_audit
from dashboard_app.domain.errors import DomainError
from dashboard_app.models.base import utcnow
from dashboard_app.web.api.common import client_ip, current_member
from dashboard_app.web.state.payloads import Payload, read_payload


class ExportFilters(Payload):
    actor: str = ""
    member: str = ""
    action: str = ""
    since: str = ""
    until: str = ""


def _not_found() -> Response:
    return PlainTextResponse("Not found", status_code=404, headers={"Cache-Control": "no-store"})


def _csv(rows: list[tuple[str, ...]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def _start(actor_id: int | None, ip: str, filters: admin.AuditFilters | None) -> bool:
    """Whether the actor is an admin now; audits the export, or the refused attempt."""
    with session_scope() as session:
        try:
            admin.require_admin(session=session, actor_user_id=actor_id)
        except DomainError:
            admin.record_refusal(
                session=session, actor_user_id=actor_id, attempted="audit_csv", ip_address=ip
            )
            return False
        if filters is not None:
            record_audit(
                session=session,
                action="admin.audit_exported",
                actor_user_id=actor_id,
                after={"actor": filters.actor, "member": filters.member, "action": filters.action},
                ip_address=ip,
            )
        return True


def _batch(filters: admin.AuditFilters, before_id: int | None):  # type: ignore[no-untyped-def]
    with session_scope() as session:
        return admin.csv_batch(session=session, filters=filters, before_id=before_id)


async def audit_csv(request: Request) -> Response:
    member = await current_member(request)
    actor_id = member.user.id if member is not None else None
    fields = read_payload(ExportFilters, dict(request.query_params))
    filters = None
    if fields is not None:
        try:
            filters = admin.read_audit_filters(**fields.model_dump())
        except DomainError:
            filters = None
    if not await run_in_threadpool(_start, actor_id, client_ip(request), filters):
        return _not_found()
    if filters is None:
        return PlainTextResponse("That export could not be read.", status_code=400)

    async def body() -> AsyncIterator[str]:
        yield _csv([admin.CSV_COLUMNS])
        cursor: int | None = None
        while True:
            rows, cursor = await run_in_threadpool(_batch, filters, cursor)
            yield _csv(rows)
            if cursor is None:
                return

    name = f"audit-log-{utcnow():%Y%m%d-%H%M}.csv"
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
