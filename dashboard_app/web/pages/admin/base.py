"""What every admin page shares: the admin check on every event (the role re-read from the
database; anyone else is refused, audited, and the page's admin data dropped), the per-form
token against double clicks, the section tabs, and the action dialog."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

import reflex as rx

from dashboard_app.db import session_scope
from dashboard_app.domain import admin
from dashboard_app.domain.errors import DomainError
from dashboard_app.web import live_tabs, routes
from dashboard_app.web.client_address import router_client_ip
from dashboard_app.web.components.cards import page_heading
from dashboard_app.web.layout import shell
from dashboard_app.web.state.auth import AuthState, Viewer
from dashboard_app.web.state.payloads import bad_payload

ADMIN_ONLY = "The admin panel is for admins only."
# The action dialogs of the admin pages, by the name `action_dialog` gives them.
DIALOGS = frozenset(
    {
        "grant",
        "revoke",
        "boost",
        "comp",
        "suspend",
        "reinstate",
        "end_sessions",
        "refund",
        "sync_stripe",
        "clear_flag",
        "change_role",
        "replay",
        "force",
        "retry",
        "cancel",
    }
)
SECTIONS = [
    ("Overview", routes.ADMIN),
    ("Members", routes.ADMIN_MEMBERS),
    ("Stripe events", routes.ADMIN_EVENTS),
    ("Jobs", routes.ADMIN_JOBS),
    ("Audit log", routes.ADMIN_AUDIT),
    ("Holdings", routes.ADMIN_HOLDINGS),
]
T = TypeVar("T")


def new_form_token() -> str:
    return secrets.token_urlsafe(18)


def _record_refusal(actor_user_id: int | None, attempted: str, ip_address: str) -> None:
    with session_scope() as session:
        admin.record_refusal(
            session=session, actor_user_id=actor_user_id, attempted=attempted, ip_address=ip_address
        )


def in_session(work: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a domain function in a transaction of its own (call it through asyncio.to_thread)."""
    with session_scope() as session:
        return work(session=session, **kwargs)


async def attempt(work: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """A call on a worker thread; a refusal comes back as the DomainError, to show."""
    try:
        return await asyncio.to_thread(work, *args, **kwargs)
    except DomainError as error:
        return error


class AdminPage(rx.State, mixin=True):
    """An admin page state: `class AdminJobsState(AdminPage, AuthState)`. Every handler starts
    with `viewer = await self._admin("what")`; a None means refused (already answered by
    `self._refusal(viewer)`)."""

    # The token of the forms on the page; a new one after each action that went through.
    form_token: str = ""
    action_error: str = ""
    dialog: str = ""
    _refused_viewer: int = 0

    async def _refresh_admin(self, viewer: Viewer) -> None:
        """Load the page's data (pages override)."""

    def _forget_filters(self) -> None:
        """A page opened afresh shows its empty filter form: forget the last filters (pages
        with filters override)."""

    def _also_watched(self) -> tuple[int, ...]:
        """Members whose changes this admin page shows besides the admin's own (pages
        override)."""
        return ()

    async def _each_second(self, viewer: Viewer) -> None:
        """After each push while the page is open, after the role check (pages override)."""

    async def _admin(self, attempted: str) -> Viewer | None:
        viewer = await self._viewer()  # type: ignore[attr-defined]
        if viewer is not None and viewer.is_admin:
            # Only now, the role confirmed: the member an admin page shows is watched too.
            live_tabs.record_tab(self._tab_token(), viewer.user_id, *self._also_watched())  # type: ignore[attr-defined]
            self._refused_viewer = 0
            if not self.form_token:
                self.form_token = new_form_token()
            return viewer
        self.reset()  # nothing of the admin's page stays in this tab's state
        self._refused_viewer = viewer.user_id if viewer is not None else 0
        name = f"{type(self).__name__}.{attempted}"
        await asyncio.to_thread(
            _record_refusal,
            viewer.user_id if viewer is not None else None,
            name,
            router_client_ip(self.router),
        )
        return None

    def _refusal(self) -> Any:
        if not self._refused_viewer:
            return self._to_sign_in()  # type: ignore[attr-defined]
        return [rx.redirect(routes.OVERVIEW), rx.toast.error(ADMIN_ONLY)]

    def _done(self, message: str) -> Any:
        self.form_token, self.action_error, self.dialog = new_form_token(), "", ""
        return rx.toast.success(message)

    @rx.event
    async def load(self):
        viewer = await self._admin("load")
        if viewer is None:
            return self._refusal()
        self.dialog = self.action_error = ""
        self._forget_filters()
        await self._refresh_admin(viewer)
        return None

    @rx.event
    async def poll_live(self, nudge: int = 0):
        """After a push: the role is read again, so a demoted or suspended admin's open tab is
        sent away at once."""
        if not self._nudge_is_new(nudge):  # type: ignore[attr-defined]
            return None
        told_already = self._refused_viewer != 0
        viewer = await self._admin("poll_live")
        if viewer is None:
            refusal = self._refusal()
            # A second push before the tab has left: the redirect again, not the message twice.
            return refusal[0] if told_already and isinstance(refusal, list) else refusal
        await self._each_second(viewer)
        return None

    @rx.event
    async def open_dialog(self, name: str | None = None):
        if name is None or name not in DIALOGS:
            return bad_payload()
        if await self._admin("open_dialog") is None:
            return self._refusal()
        self.dialog, self.action_error = name, ""
        return None

    @rx.event
    async def close_dialog(self, _open: bool = False):
        if await self._admin("close_dialog") is None:
            return self._refusal()
        if not _open:
            self.dialog, self.action_error = "", ""
        return None


def section_tabs() -> rx.Component:
    path = AuthState.router.url.path
    return rx.el.nav(
        rx.hstack(
            *[
                rx.link(
                    label,
                    href=href,
                    padding_x="0.75rem",
                    padding_y="0.35rem",
                    border_radius="var(--radius-2)",
                    underline="none",
                    weight="medium",
                    color=rx.color("gray", 12),
                    background=rx.cond(
                        (path == href) | (path == href + "/"), rx.color("accent", 4), "transparent"
                    ),
                    data_testid=f"admin-tab-{label.lower().replace(' ', '-')}",
                )
                for label, href in SECTIONS
            ],
            wrap="wrap",
            spacing="1",
        ),
        aria_label="Admin sections",
        margin_bottom="1rem",
    )


def admin_shell(title: str, subtitle: str, state: type[AuthState], *content: rx.Component):
    return shell(page_heading(title, subtitle), section_tabs(), *content, live=state)


def reason_field(name: str = "reason", label: str = "Reason (kept in the audit log)"):
    return rx.vstack(
        rx.el.label(label, html_for=f"{name}-field", style={"fontWeight": 500, "fontSize": "14px"}),
        rx.text_area(name=name, id=f"{name}-field", required=True, max_length=500, width="100%"),
        spacing="1",
        width="100%",
    )


def text_field(name: str, label: str, **props: Any) -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=f"{name}-field", style={"fontWeight": 500, "fontSize": "14px"}),
        rx.input(name=name, id=f"{name}-field", width="100%", **props),
        spacing="1",
        width="100%",
    )


def action_dialog(
    state: type[AuthState],
    name: str,
    trigger: Any,
    title: str,
    warning: str,
    fields: list[rx.Component],
    submit: Any,
    confirm: str,
    *,
    color: str = "accent",
    trigger_props: dict[str, Any] | None = None,
) -> rx.Component:
    """A button that opens a confirmation dialog with a form: the fields, a reason, the form
    token, and a button that confirms. Errors show inside the dialog."""
    assert name in DIALOGS, name
    return rx.dialog.root(
        rx.button(
            trigger,
            variant="soft",
            color_scheme=color if color != "accent" else None,
            # Soft red text on red is too pale in the light theme.
            high_contrast=color != "accent",
            on_click=state.open_dialog(name),  # type: ignore[attr-defined]
            data_testid=f"action-{name}",
            **(trigger_props or {}),
        ),
        rx.dialog.content(
            rx.dialog.title(title),
            rx.dialog.description(warning, size="2", margin_bottom="0.75rem"),
            rx.form(
                rx.vstack(
                    *fields,
                    reason_field(),
                    rx.el.input(type="hidden", name="form_token", value=state.form_token),  # type: ignore[attr-defined]
                    rx.cond(
                        state.action_error != "",  # type: ignore[attr-defined]
                        rx.callout(
                            state.action_error,  # type: ignore[attr-defined]
                            icon="triangle-alert",
                            color_scheme="red",
                            role="alert",
                            data_testid="action-error",
                            width="100%",
                        ),
                    ),
                    rx.hstack(
                        rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                        rx.button(
                            confirm,
                            type="submit",
                            color_scheme=color if color != "accent" else None,
                            data_testid=f"confirm-{name}",
                        ),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=submit,
                width="100%",
            ),
        ),
        open=state.dialog == name,  # type: ignore[attr-defined]
        on_open_change=state.close_dialog,  # type: ignore[attr-defined]
    )


def show_error(state: Any, error: DomainError) -> None:
    state.action_error = error.message
