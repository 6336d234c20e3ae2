"""Profile: the member's own account details."""

from __future__ import annotations

import asyncio

import reflex as rx

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts
from dashboard_app.web.components.cards import page_heading
from dashboard_app.web.layout import shell
from dashboard_app.web.state.auth import AuthState, Viewer


def _member_since(user_id: int) -> str:
    with session_scope() as session:
        return accounts.get_user(session=session, user_id=user_id).created_at.strftime("%d %B %Y")


class ProfileState(AuthState):
    member_since: str = ""

    async def _refresh_page(self, viewer: Viewer) -> None:
        self.member_since = await asyncio.to_thread(_member_since, viewer.user_id)

    @rx.event
    async def load(self):
        return await self._load_page()

    @rx.event
    async def poll_live(self, _tick: str = ""):
        return await self._poll_page()


def _row(label: str, value: rx.Var, testid: str) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label), rx.data_list.value(rx.text(value, data_testid=testid))
    )


def profile_page() -> rx.Component:
    return shell(
        page_heading("Profile", "Your account."),
        rx.card(
            rx.data_list.root(
                _row("Name", AuthState.member_name, "profile-name"),
                _row("Email", AuthState.member_email, "profile-email"),
                _row("Member since", ProfileState.member_since, "profile-since"),
                orientation=rx.breakpoints(initial="vertical", sm="horizontal"),
            ),
            width="100%",
        ),
        live=ProfileState,
    )
