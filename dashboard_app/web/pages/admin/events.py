"""Admin: Stripe's webhook events as stored (type, status, attempts, error, payload), filtered by
status and type and paged by cursor; a failed event replayed, a processed one forced through
again (each business object still counts once)."""

from __future__ import annotations

import asyncio

import reflex as rx

from dashboard_app.domain import admin
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError, NotFound
from dashboard_app.integrations.stripe_gateway import get_gateway
from dashboard_app.models import StripeEvent
from dashboard_app.models.billing import EVENT_STATUSES
from dashboard_app.web.pages.admin.base import (
    AdminPage,
    action_dialog,
    admin_shell,
    attempt,
    in_session,
)
from dashboard_app.web.state.auth import AuthState, Viewer
from dashboard_app.web.state.payloads import Payload, bad_payload, id_from_text, read_payload

ANY = "any"
TIME = "%Y-%m-%d %H:%M:%S"


class EventFilter(Payload):
    status: str = ANY
    kind: str = ""


class ReplayForm(Payload):
    event_id: str = ""
    reason: str = ""
    form_token: str = ""


def _row(event: StripeEvent) -> dict[str, str]:
    return {
        "id": str(event.id),
        "stripe_id": event.stripe_event_id,
        "type": event.type,
        "status": event.status,
        "attempts": str(event.attempts),
        "error": (event.last_error or "")[:300],
        "received": f"{event.received_at:{TIME}}",
    }


def _page(status: str | None, kind: str, before_id: int | None) -> tuple[list[dict], int | None]:
    page = in_session(admin.list_events, status=status, kind=kind, before_id=before_id)
    return [_row(e) for e in page.events], page.next_cursor


def _detail(*, session, event_id: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    event = session.get(StripeEvent, event_id)
    if event is None:
        raise NotFound("No such event")
    return {
        **_row(event),
        "payload": admin.payload_text(event),
        "processed": f"{event.processed_at:{TIME}}" if event.processed_at else "",
        "next": f"{event.next_attempt_at:{TIME}}" if event.next_attempt_at else "",
    }


def _replay(actor: int, event_id: str, force: bool, **form: str):
    gateway = get_gateway()
    if gateway is None:
        raise DomainError("Stripe is not configured on this server.")
    found_id = id_from_text(event_id)
    if found_id is None:
        raise NotFound("No such event")
    return admin.replay_event(
        engine=None,
        gateway=gateway,
        catalog=get_catalog(),
        actor_user_id=actor,
        event_id=found_id,
        force=force,
        **form,
    )


class AdminEventsState(AdminPage, AuthState):
    rows: list[dict[str, str]] = []
    has_more: bool = False
    selected: dict[str, str] = {}
    filter_error: str = ""
    _status: str | None = None
    _kind: str = ""
    _cursor: int | None = None

    def _forget_filters(self) -> None:
        wanted = self.router.url.query_parameters.get("status", "")
        self._status = wanted if wanted in EVENT_STATUSES else None
        self._kind, self.selected, self.filter_error = "", {}, ""

    async def _refresh_admin(self, viewer: Viewer) -> None:
        self.rows, self._cursor = await asyncio.to_thread(_page, self._status, self._kind, None)
        self.has_more = self._cursor is not None
        if self.selected:
            found = await attempt(in_session, _detail, event_id=int(self.selected["id"]))
            self.selected = {} if isinstance(found, DomainError) else found

    @rx.event
    async def filter(self, form: dict | None = None):
        fields = read_payload(EventFilter, form)
        if fields is None:
            return bad_payload()
        viewer = await self._admin("filter")
        if viewer is None:
            return self._refusal()
        if fields.status != ANY and fields.status not in EVENT_STATUSES:
            self.filter_error = "Choose one of the listed statuses."
            return None
        self.filter_error = ""
        self._status = None if fields.status == ANY else fields.status
        self._kind = fields.kind.strip()[:100]
        await self._refresh_admin(viewer)
        return None

    @rx.event
    async def load_more(self):
        viewer = await self._admin("load_more")
        if viewer is None:
            return self._refusal()
        if self._cursor is not None:
            more, self._cursor = await asyncio.to_thread(
                _page, self._status, self._kind, self._cursor
            )
            self.rows = self.rows + more
            self.has_more = self._cursor is not None
        return None

    @rx.event
    async def show_event(self, event_id: str | None = None):
        found_id = id_from_text(event_id)
        if found_id is None:
            return bad_payload()
        viewer = await self._admin("show_event")
        if viewer is None:
            return self._refusal()
        found = await attempt(in_session, _detail, event_id=found_id)
        if isinstance(found, DomainError):
            return rx.toast.error(found.message)
        self.selected = found
        return None

    async def _run(self, name: str, form: object, force: bool):
        fields = read_payload(ReplayForm, form)
        if fields is None:
            return bad_payload()
        viewer = await self._admin(name)
        if viewer is None:
            return self._refusal()
        outcome = await attempt(_replay, actor=viewer.user_id, force=force, **fields.model_dump())
        if isinstance(outcome, DomainError):
            self.action_error = outcome.message
            return None
        await self._refresh_admin(viewer)
        return self._done(outcome.message)

    @rx.event
    async def replay(self, form: dict | None = None):
        return await self._run("replay", form, force=False)

    @rx.event
    async def force(self, form: dict | None = None):
        return await self._run("force", form, force=True)


def _filters() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.vstack(
                rx.el.label("Status", html_for="event-status", style={"fontWeight": 500}),
                rx.el.select(
                    *[
                        rx.el.option(text, value=value)
                        for value, text in [(ANY, "Any"), *[(s, s) for s in EVENT_STATUSES]]
                    ],
                    name="status",
                    id="event-status",
                    style={"padding": "0.35rem"},
                ),
                spacing="1",
            ),
            rx.vstack(
                rx.el.label("Type", html_for="event-kind", style={"fontWeight": 500}),
                rx.input(name="kind", id="event-kind", placeholder="charge.dispute."),
                spacing="1",
            ),
            rx.button("Filter", type="submit", data_testid="events-filter"),
            align="end",
            wrap="wrap",
        ),
        on_submit=AdminEventsState.filter,
        margin_bottom="1rem",
    )


def _event_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.button(
                row["type"],
                variant="ghost",
                size="1",
                on_click=AdminEventsState.show_event(row["id"]),
            )
        ),
        rx.table.cell(rx.badge(row["status"], high_contrast=True)),
        rx.table.cell(row["attempts"], text_align="right"),
        rx.table.cell(row["error"]),
        rx.table.cell(row["received"], white_space="nowrap"),
        data_testid="event-row",
    )


def _hidden_event() -> rx.Component:
    return rx.el.input(type="hidden", name="event_id", value=AdminEventsState.selected["id"])


def _selected() -> rx.Component:
    s = AdminEventsState.selected
    return rx.cond(
        s.length() > 0,
        rx.card(
            rx.vstack(
                rx.heading(s["type"], size="4"),
                rx.text(s["stripe_id"], " · ", s["status"], " · attempts: ", s["attempts"]),
                rx.cond(s["error"] != "", rx.text("Error: ", s["error"], color_scheme="red")),
                rx.text("Received ", s["received"], " · processed ", s["processed"], size="2"),
                rx.hstack(
                    rx.cond(
                        (s["status"] == "processed") | (s["status"] == "ignored"),
                        action_dialog(
                            AdminEventsState,
                            "force",
                            "Force it again",
                            "Process this event again",
                            "It runs through the same handlers; nothing it did happens twice.",
                            [_hidden_event()],
                            AdminEventsState.force,
                            "Confirm force",
                        ),
                        action_dialog(
                            AdminEventsState,
                            "replay",
                            "Replay",
                            "Replay this event now",
                            "It is processed at once instead of at its next retry.",
                            [_hidden_event()],
                            AdminEventsState.replay,
                            "Confirm replay",
                        ),
                    ),
                ),
                rx.code_block(s["payload"], language="json", width="100%", max_height="24rem"),
                width="100%",
                data_testid="event-detail",
            ),
            width="100%",
        ),
    )


def admin_events_page() -> rx.Component:
    return admin_shell(
        "Stripe events",
        "Every webhook event Stripe sent, as stored and processed.",
        AdminEventsState,
        _filters(),
        rx.cond(
            AdminEventsState.filter_error != "",
            rx.callout(AdminEventsState.filter_error, color_scheme="red", role="alert"),
        ),
        _selected(),
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Type", "Status", "Attempts", "Error", "Received (UTC)")
                        ]
                    )
                ),
                rx.table.body(rx.foreach(AdminEventsState.rows, _event_row)),
                width="100%",
                data_testid="admin-events",
            ),
            overflow_x="auto",
            width="100%",
        ),
        rx.cond(
            AdminEventsState.has_more,
            rx.button("Load more", variant="soft", on_click=AdminEventsState.load_more),
        ),
    )
