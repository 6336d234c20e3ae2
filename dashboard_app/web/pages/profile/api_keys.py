"""The member's personal API keys: make one (its secret shown once, to copy), see when each was
last used, revoke one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import reflex as rx

from dashboard_app.db import session_scope
from dashboard_app.domain import api_keys
from dashboard_app.domain.errors import DomainError
from dashboard_app.models.api_keys import API_KEY_SCOPES
from dashboard_app.web import routes
from dashboard_app.web.client_address import router_client_ip
from dashboard_app.web.components.forms import field_label, status_text
from dashboard_app.web.state.payloads import Payload, bad_payload, read_payload

SCOPE_LABELS = {"read": "Read only", "read-write": "Read and write"}


class ApiKeyForm(Payload):
    name: str = ""
    scope: str = ""


@dataclass
class ApiKeyRow:
    id: int
    name: str
    prefix: str
    scope: str
    created: str
    last_used: str


def _when(moment: datetime | None) -> str:
    return f"{moment:%d %b %Y, %H:%M} UTC" if moment else "Never"


def load_api_keys(user_id: int) -> list[ApiKeyRow]:
    with session_scope() as session:
        return [
            ApiKeyRow(
                id=key.id or 0,
                name=key.name,
                prefix=api_keys.display_prefix(key),
                scope=SCOPE_LABELS.get(key.scope, key.scope),
                created=_when(key.created_at),
                last_used=_when(key.last_used_at),
            )
            for key in api_keys.list_api_keys(session=session, user_id=user_id)
        ]


class ApiKeysPart(rx.State, mixin=True):
    """ProfileState's API keys. `new_api_key` is the secret of the key just made: the only
    time it is shown (cleared when the page is opened again, or another key is made or
    revoked)."""

    api_keys: list[ApiKeyRow] = []
    new_api_key: str = ""
    new_api_key_name: str = ""
    api_key_error: str = ""

    async def _reload_api_keys(self, user_id: int) -> None:
        self.api_keys = await asyncio.to_thread(load_api_keys, user_id)

    def _forget_new_api_key(self) -> None:
        self.new_api_key, self.new_api_key_name = "", ""

    @rx.event
    async def create_api_key(self, form: dict | None = None):
        viewer = await self._viewer()  # type: ignore[attr-defined]
        if viewer is None:
            return self._to_sign_in()  # type: ignore[attr-defined]
        fields = read_payload(ApiKeyForm, form)
        if fields is None:
            return bad_payload()
        self._forget_new_api_key()

        def work() -> api_keys.CreatedKey:
            with session_scope() as session:
                return api_keys.create_api_key(
                    session=session,
                    user_id=viewer.user_id,
                    name=fields.name,
                    scope=fields.scope,
                    ip_address=router_client_ip(self.router),
                )

        try:
            created = await asyncio.to_thread(work)
        except DomainError as error:
            self.api_key_error = error.message
            return None
        self.api_key_error = ""
        self.new_api_key, self.new_api_key_name = created.secret, created.key.name
        await self._reload_api_keys(viewer.user_id)
        return None

    @rx.event
    async def revoke_api_key(self, key_id: int | None = None):
        viewer = await self._viewer()  # type: ignore[attr-defined]
        if viewer is None:
            return self._to_sign_in()  # type: ignore[attr-defined]
        if key_id is None:
            return bad_payload()
        self._forget_new_api_key()

        def work() -> None:
            with session_scope() as session:
                api_keys.revoke_api_key(
                    session=session,
                    user_id=viewer.user_id,
                    key_id=key_id,
                    ip_address=router_client_ip(self.router),
                )

        try:
            await asyncio.to_thread(work)
        except DomainError as error:
            await self._reload_api_keys(viewer.user_id)
            return rx.toast.error(error.message)
        await self._reload_api_keys(viewer.user_id)
        return rx.toast.success("API key revoked: it no longer works.")


def _key_row(state: type[ApiKeysPart], row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row.name),
        rx.table.cell(rx.code(row.prefix, "…")),
        rx.table.cell(row.scope),
        rx.table.cell(row.created),
        rx.table.cell(row.last_used, data_testid="api-key-last-used"),
        rx.table.cell(
            rx.button(
                "Revoke",
                size="1",
                color_scheme="red",
                variant="soft",
                aria_label="Revoke the key " + row.name.to(str),
                on_click=state.revoke_api_key(row.id),
            )
        ),
        data_testid="api-key-row",
    )


def _new_key_notice(state: type[ApiKeysPart]) -> rx.Component:
    return rx.callout.root(
        rx.callout.text(
            "Your new key “",
            state.new_api_key_name,
            "”. Copy it now: it will not be shown again.",
            weight="bold",
        ),
        rx.hstack(
            rx.input(
                value=state.new_api_key,
                read_only=True,
                aria_label="Your new API key",
                width="100%",
                data_testid="new-api-key",
            ),
            rx.button(
                rx.icon("copy", size=16),
                "Copy",
                variant="soft",
                on_click=rx.set_clipboard(state.new_api_key),
            ),
            width="100%",
        ),
        color_scheme="amber",
        width="100%",
    )


def api_keys_card(state: type[ApiKeysPart]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("API keys", size="4"),
            rx.text(
                "Use the API with ",
                rx.code("Authorization: Bearer <key>"),
                ". A read-only key can look; a read and write key can also change things. ",
                rx.link(
                    "API documentation",
                    href=routes.API_V1 + "/docs",
                    is_external=True,
                    underline="always",
                ),
                size="2",
            ),
            rx.form(
                rx.hstack(
                    rx.vstack(
                        field_label("Key name", html_for="api_key_name"),
                        rx.input(
                            id="api_key_name",
                            name="name",
                            placeholder="e.g. My laptop",
                            max_length=api_keys.MAX_NAME,
                            required=True,
                        ),
                        spacing="1",
                    ),
                    rx.vstack(
                        field_label("Access", html_for="api_key_scope"),
                        rx.select.root(
                            rx.select.trigger(id="api_key_scope"),
                            rx.select.content(
                                *[
                                    rx.select.item(SCOPE_LABELS[scope], value=scope)
                                    for scope in API_KEY_SCOPES
                                ]
                            ),
                            name="scope",
                            default_value="read",
                        ),
                        spacing="1",
                    ),
                    rx.button("Create key", type="submit"),
                    align="end",
                    wrap="wrap",
                ),
                on_submit=state.create_api_key,
                reset_on_submit=True,
            ),
            status_text(state.api_key_error, "api-key-error"),
            rx.cond(state.new_api_key != "", _new_key_notice(state)),
            rx.cond(
                state.api_keys.length() > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Name"),
                            rx.table.column_header_cell("Key"),
                            rx.table.column_header_cell("Access"),
                            rx.table.column_header_cell("Created"),
                            rx.table.column_header_cell("Last used"),
                            rx.table.column_header_cell("Revoke"),
                        )
                    ),
                    rx.table.body(rx.foreach(state.api_keys, lambda row: _key_row(state, row))),
                    width="100%",
                ),
                rx.text("You have no API keys.", size="2", color_scheme="gray"),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )
