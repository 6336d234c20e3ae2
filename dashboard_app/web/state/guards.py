"""Reflex middleware that runs before any event, hydrate included, is processed.

The session guard: a tab's state (kept on the server under the tab's token) belongs to the server
session it was built for. When the cookie carried with an event resolves to another session, or
to none (sign-out, another member signing in, expiry, revocation, a replayed token), every page
state is reset before anything is computed or sent, so nothing of the previous member reaches
the new one through a hydrate or a delta.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import reflex as rx
from reflex.middleware import Middleware

from dashboard_app.web.state.auth import AuthState, carried_session_token, live_session_id

if TYPE_CHECKING:
    from reflex.app import App
    from reflex.state import BaseState, StateUpdate
    from reflex_base.event import Event


def app_states() -> list[type[rx.State]]:
    """Every state class this app defines, parents before their substates."""
    found, todo = [], list(rx.State.get_substates())
    while todo:
        state = todo.pop()
        todo.extend(state.get_substates())
        if state.__module__.startswith("dashboard_app."):
            found.append(state)
    return sorted(found, key=lambda state: state.get_full_name())


async def reset_tab(root: BaseState) -> None:
    """Reset every app state of the tab, loading those the state manager has not loaded for
    this event (Redis loads only the event's branch), so none keeps a previous member's data."""
    states = app_states()
    for state in states:
        await root.get_state(state)
    for state in states:
        if state.get_parent_state() is rx.State:
            (await root.get_state(state)).reset()  # resets its loaded substates too


class SessionGuard(Middleware):
    async def preprocess(self, app: App, state: BaseState, event: Event) -> StateUpdate | None:
        session_id = await asyncio.to_thread(live_session_id, carried_session_token())
        auth = await state.get_state(AuthState)
        if auth._built_for_session != session_id:
            await reset_tab(state)
            auth._built_for_session = session_id
        return None
