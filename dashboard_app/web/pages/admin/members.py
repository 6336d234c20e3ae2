"""Admin: members, found by email or name and filtered by plan, status, role and flag, paged by
cursor (members joining meanwhile never shift a page)."""

from __future__ import annotations

import asyncio

import reflex as rx

from dashboard_app.domain import admin
from dashboard_app.domain.admin.members import FLAGS, STATUSES
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import DomainError
from dashboard_app.models.users import ROLES
from dashboard_app.web import routes
from dashboard_app.web.pages.admin.base import AdminPage, admin_shell, in_session
from dashboard_app.web.state.auth import AuthState, Viewer
from dashboard_app.web.state.payloads import Payload, bad_payload, read_payload

ANY = "any"


class MemberSearch(Payload):
    text: str = ""
    plan: str = ANY
    status: str = ANY
    role: str = ANY
    flag: str = ANY


def _rows(filters: admin.MemberFilters, before_id: int | None) -> tuple[list[dict], int | None]:
    page = in_session(
        admin.search_members, filters=filters, catalog=get_catalog(), before_id=before_id
    )
    return [
        {
            "id": str(row.id),
            "href": routes.admin_member_path(row.id),
            "email": row.email,
            "name": row.name,
            "role": row.role,
            "status": row.status,
            "plan": row.plan,
            "available": f"{row.available:,}",
            "flags": ", ".join(row.flags),
            "joined": f"{row.joined:%Y-%m-%d}",
        }
        for row in page.rows
    ], page.next_cursor


class AdminMembersState(AdminPage, AuthState):
    rows: list[dict[str, str]] = []
    has_more: bool = False
    search_error: str = ""
    _filters: admin.MemberFilters = admin.MemberFilters()
    _cursor: int | None = None

    def _forget_filters(self) -> None:
        self._filters, self.search_error = admin.MemberFilters(), ""

    async def _refresh_admin(self, viewer: Viewer) -> None:
        found = await asyncio.to_thread(_rows, self._filters, None)
        self.rows, self._cursor = found
        self.has_more = self._cursor is not None

    @rx.event
    async def search(self, form: dict | None = None):
        fields = read_payload(MemberSearch, form)
        if fields is None:
            return bad_payload()
        viewer = await self._admin("search")
        if viewer is None:
            return self._refusal()
        self._filters = admin.MemberFilters(
            text=fields.text,
            **{
                name: ("" if getattr(fields, name) == ANY else getattr(fields, name))
                for name in ("plan", "status", "role", "flag")
            },
        )
        try:
            await self._refresh_admin(viewer)
        except DomainError as error:
            self._filters, self.rows, self.has_more = admin.MemberFilters(), [], False
            self.search_error = error.message
            return None
        self.search_error = ""
        return None

    @rx.event
    async def load_more(self):
        viewer = await self._admin("load_more")
        if viewer is None:
            return self._refusal()
        if self._cursor is None:
            return None
        more, self._cursor = await asyncio.to_thread(_rows, self._filters, self._cursor)
        self.rows = self.rows + more
        self.has_more = self._cursor is not None
        return None


def _select(name: str, label: str, options: list[tuple[str, str]]) -> rx.Component:
    return rx.vstack(
        rx.el.label(
            label, html_for=f"filter-{name}", style={"fontWeight": 500, "fontSize": "14px"}
        ),
        rx.el.select(
            *[rx.el.option(text, value=value) for value, text in [(ANY, "Any"), *options]],
            name=name,
            id=f"filter-{name}",
            style={"padding": "0.35rem", "borderRadius": "var(--radius-2)"},
        ),
        spacing="1",
    )


def _filters() -> rx.Component:
    catalog = get_catalog()
    return rx.form(
        rx.hstack(
            rx.vstack(
                rx.el.label(
                    "Email or name",
                    html_for="filter-text",
                    style={"fontWeight": 500, "fontSize": "14px"},
                ),
                rx.input(
                    name="text", id="filter-text", placeholder="ada@example.com", width="16rem"
                ),
                spacing="1",
            ),
            _select("plan", "Plan", [(code, plan.name) for code, plan in catalog.plans.items()]),
            _select("status", "Status", [(s, s.capitalize()) for s in STATUSES]),
            _select("role", "Role", [(r, r.capitalize()) for r in ROLES]),
            _select("flag", "Flagged", list(FLAGS.items())),
            rx.button("Search", type="submit", data_testid="member-search"),
            align="end",
            wrap="wrap",
            spacing="3",
        ),
        on_submit=AdminMembersState.search,
        margin_bottom="1rem",
    )


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(row["email"], href=row["href"]), rx.text(row["name"], size="1")),
        rx.table.cell(row["plan"]),
        rx.table.cell(rx.badge(row["role"], high_contrast=True)),
        rx.table.cell(row["status"]),
        rx.table.cell(row["available"], text_align="right"),
        rx.table.cell(row["flags"]),
        rx.table.cell(row["joined"], white_space="nowrap"),
        data_testid="member-row",
    )


def admin_members_page() -> rx.Component:
    return admin_shell(
        "Members",
        "Find a member, then act on their account.",
        AdminMembersState,
        _filters(),
        rx.cond(
            AdminMembersState.search_error != "",
            rx.callout(AdminMembersState.search_error, color_scheme="red", role="alert"),
        ),
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Member", "Plan", "Role", "Status")
                        ],
                        rx.table.column_header_cell("Available", text_align="right"),
                        rx.table.column_header_cell("Flags"),
                        rx.table.column_header_cell("Joined"),
                    )
                ),
                rx.table.body(rx.foreach(AdminMembersState.rows, _row)),
                width="100%",
                data_testid="admin-members",
            ),
            overflow_x="auto",
            width="100%",
        ),
        rx.cond(
            AdminMembersState.has_more,
            rx.button(
                "Load more",
                variant="soft",
                on_click=AdminMembersState.load_more,
                margin_top="1rem",
                data_testid="members-more",
            ),
        ),
    )
