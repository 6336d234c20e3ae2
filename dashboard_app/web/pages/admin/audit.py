"""Admin: the audit log, filtered by actor, member, action and time, paged by cursor, and
exported as CSV (the export route checks the request's own session and role)."""

from __future__ import annotations

import asyncio

import reflex as rx

from dashboard_app.domain import admin
from dashboard_app.domain.errors import DomainError
from dashboard_app.web import routes
from dashboard_app.web.components.native_form import native_form
from dashboard_app.web.pages.admin.base import AdminPage, admin_shell, in_session
from dashboard_app.web.state.auth import AuthState, Viewer
from dashboard_app.web.state.payloads import Payload, bad_payload, read_payload

TIME = "%Y-%m-%d %H:%M:%S"


FILTER_NAMES = ("actor", "member", "action", "since", "until")


class AuditFilter(Payload):
    actor: str = ""
    member: str = ""
    action: str = ""
    since: str = ""
    until: str = ""


def read_filters(fields: AuditFilter) -> admin.AuditFilters:
    return admin.read_audit_filters(**fields.model_dump())


def _values(values: dict | None) -> str:
    return ", ".join(f"{k}: {v}" for k, v in (values or {}).items() if k != "form")


def _page(filters: admin.AuditFilters, before_id: int | None) -> tuple[list[dict], int | None]:
    page = in_session(admin.search_audit, filters=filters, before_id=before_id)
    return [
        {
            "id": str(r.id),
            "when": f"{r.created_at:{TIME}}",
            "action": r.action,
            "actor": page.emails.get(r.actor_user_id, "") if r.actor_user_id else "system",
            "member": page.emails.get(r.subject_user_id, "") if r.subject_user_id else "",
            "member_href": routes.admin_member_path(r.subject_user_id) if r.subject_user_id else "",
            "before": _values(r.before),
            "after": _values(r.after),
            "ip": r.ip_address,
        }
        for r in page.records
    ], page.next_cursor


class AdminAuditState(AdminPage, AuthState):
    rows: list[dict[str, str]] = []
    has_more: bool = False
    filter_error: str = ""
    csv_filters: dict[str, str] = dict.fromkeys(FILTER_NAMES, "")
    _filters: admin.AuditFilters = admin.AuditFilters()
    _cursor: int | None = None

    def _forget_filters(self) -> None:
        self._filters, self.filter_error = admin.AuditFilters(), ""
        self.csv_filters = dict.fromkeys(FILTER_NAMES, "")

    async def _refresh_admin(self, viewer: Viewer) -> None:
        self.rows, self._cursor = await asyncio.to_thread(_page, self._filters, None)
        self.has_more = self._cursor is not None

    @rx.event
    async def filter(self, form: dict | None = None):
        fields = read_payload(AuditFilter, form)
        if fields is None:
            return bad_payload()
        viewer = await self._admin("filter")
        if viewer is None:
            return self._refusal()
        try:
            self._filters = read_filters(fields)
            await self._refresh_admin(viewer)
        except DomainError as error:
            self.filter_error = error.message
            return None
        self.filter_error = ""
        self.csv_filters = fields.model_dump()
        return None

    @rx.event
    async def load_more(self):
        viewer = await self._admin("load_more")
        if viewer is None:
            return self._refusal()
        if self._cursor is not None:
            more, self._cursor = await asyncio.to_thread(_page, self._filters, self._cursor)
            self.rows = self.rows + more
            self.has_more = self._cursor is not None
        return None


def _field(name: str, label: str, placeholder: str = "") -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=f"audit-{name}", style={"fontWeight": 500, "fontSize": "14px"}),
        rx.input(name=name, id=f"audit-{name}", placeholder=placeholder, width="12rem"),
        spacing="1",
    )


def admin_audit_page() -> rx.Component:
    return admin_shell(
        "Audit log",
        "Every admin action and every audited change to a member.",
        AdminAuditState,
        rx.form(
            rx.hstack(
                _field("actor", "Actor", "email or #id"),
                _field("member", "Member", "email or #id"),
                _field("action", "Action", "admin."),
                _field("since", "From (UTC)", "2026-11-01"),
                _field("until", "To (UTC)", "2026-11-30"),
                rx.button("Filter", type="submit", data_testid="audit-filter"),
                align="end",
                wrap="wrap",
            ),
            on_submit=AdminAuditState.filter,
            margin_bottom="0.5rem",
        ),
        rx.cond(
            AdminAuditState.filter_error != "",
            rx.callout(
                AdminAuditState.filter_error,
                color_scheme="red",
                role="alert",
                data_testid="audit-error",
            ),
        ),
        # A native form: the browser downloads from the server route itself.
        native_form(
            *[
                rx.el.input(type="hidden", name=name, value=AdminAuditState.csv_filters[name])
                for name in FILTER_NAMES
            ],
            rx.button(
                rx.icon("download", size=16),
                "Download these entries as CSV",
                variant="soft",
                type="submit",
                data_testid="audit-csv",
            ),
            action=routes.API_ADMIN_AUDIT_CSV,
            method="get",
        ),
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("When (UTC)", "Action", "By", "Member", "Before", "After")
                        ]
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        AdminAuditState.rows,
                        lambda r: rx.table.row(
                            rx.table.cell(r["when"], white_space="nowrap"),
                            rx.table.cell(r["action"]),
                            rx.table.cell(r["actor"]),
                            rx.table.cell(
                                rx.cond(
                                    r["member_href"] != "",
                                    rx.link(r["member"], href=r["member_href"]),
                                )
                            ),
                            rx.table.cell(r["before"]),
                            rx.table.cell(r["after"]),
                            data_testid="audit-row",
                        ),
                    )
                ),
                width="100%",
                size="1",
                data_testid="admin-audit",
            ),
            overflow_x="auto",
            width="100%",
            margin_top="1rem",
        ),
        rx.cond(
            AdminAuditState.has_more,
            rx.button("Load more", variant="soft", on_click=AdminAuditState.load_more),
        ),
    )
