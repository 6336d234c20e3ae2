"""Admin panel: for admins only, checked on the server for every event."""

from __future__ import annotations

import asyncio

import reflex as rx

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts
from dashboard_app.web import routes
from dashboard_app.web.components.cards import page_heading, stat_card
from dashboard_app.web.layout import shell
from dashboard_app.web.state.auth import AuthState, LivePage, Viewer


def _recent_members() -> tuple[int, list[dict[str, str]]]:
    with session_scope() as session:
        total, users = accounts.list_members(session=session, limit=20)
        return total, [
            {
                "email": user.email,
                "role": user.role,
                "status": user.status,
                "joined": user.created_at.strftime("%Y-%m-%d %H:%M"),
            }
            for user in users
        ]


class AdminState(LivePage, AuthState):
    member_count: int = 0
    recent_members: list[dict[str, str]] = []

    async def _refresh_page(self, viewer: Viewer) -> None:
        if not viewer.is_admin:
            self.member_count, self.recent_members = 0, []
            return
        self.member_count, self.recent_members = await asyncio.to_thread(_recent_members)

    @rx.event
    async def load(self):
        viewer = await self._viewer()
        if viewer is None or not viewer.is_admin:
            self.member_count, self.recent_members = 0, []
            if viewer is None:
                return self._to_sign_in()
            return [
                rx.redirect(routes.OVERVIEW),
                rx.toast.error("The admin panel is for admins only."),
            ]
        await self._refresh_page(viewer)
        return None


def _member_row(member: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(member["email"]),
        rx.table.cell(rx.badge(member["role"])),
        rx.table.cell(member["status"]),
        rx.table.cell(member["joined"]),
    )


def admin_page() -> rx.Component:
    return shell(
        page_heading("Admin", "Members and the state of the service."),
        rx.grid(stat_card("Members", AdminState.member_count, "admin-member-count"), width="16rem"),
        rx.heading("Newest members", size="4", margin_top="1.5rem", margin_bottom="0.5rem"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Email"),
                    rx.table.column_header_cell("Role"),
                    rx.table.column_header_cell("Status"),
                    rx.table.column_header_cell("Joined (UTC)"),
                )
            ),
            rx.table.body(rx.foreach(AdminState.recent_members, _member_row)),
            width="100%",
            data_testid="admin-members",
        ),
        live=AdminState,
    )
