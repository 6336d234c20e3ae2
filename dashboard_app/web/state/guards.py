"""Reflex middleware that runs before any event, hydrate included, is processed.

The payload guard: any client can send any handler any payload. One that is not a mapping, names
an argument the handler does not take, lacks one it requires, or gives one a value its annotation
refuses gets the one bad-payload message and never reaches the handler (the handler validates the
insides of its forms itself, with `read_payload`). Reflex's generic `setvar`, which every state
has, is refused on this app's states: clients set no var directly.

The session guard: a tab's state (kept on the server under the tab's token) belongs to the server
session it was built for. When the cookie carried with an event resolves to another session, or
to none (sign-out, another member signing in, expiry, revocation, a replayed token), every page
state is reset before anything is computed or sent, so nothing of the previous member reaches
the new one through a hydrate or a delta.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import reflex as rx
import structlog
from pydantic import TypeAdapter, ValidationError
from reflex.middleware import Middleware
from reflex.state import StateUpdate
from reflex_base.event import Event
from reflex_base.registry import RegistrationContext

from dashboard_app.web import live_tabs
from dashboard_app.web.state.auth import AuthState, carried_session_token, read_viewer_for_event
from dashboard_app.web.state.payloads import bad_payload

if TYPE_CHECKING:
    from reflex.app import App
    from reflex.state import BaseState

log = structlog.get_logger(__name__)


@lru_cache(maxsize=512)
def _arguments(fn: Callable[..., Any]) -> tuple[dict[str, TypeAdapter], frozenset[str]]:
    """A handler's arguments, each with a validator for its annotation, and the required ones."""
    hints = typing.get_type_hints(fn)
    parameters = list(inspect.signature(fn).parameters.values())[1:]  # after self
    adapters = {p.name: TypeAdapter(hints.get(p.name, Any)) for p in parameters}
    required = frozenset(p.name for p in parameters if p.default is inspect.Parameter.empty)
    return adapters, required


def payload_fits(fn: Callable[..., Any], payload: Mapping[str, object]) -> bool:
    adapters, required = _arguments(fn)
    if not required <= payload.keys() or not payload.keys() <= adapters.keys():
        return False
    try:
        for name, value in payload.items():
            adapters[name].validate_python(value)
    except ValidationError:
        return False
    return True


class PayloadGuard(Middleware):
    async def preprocess(self, app: App, state: BaseState, event: Event) -> StateUpdate | None:
        registered = RegistrationContext.get().event_handlers.get(event.name)
        if registered is None:
            return None  # Reflex itself refuses an unknown handler
        fn = registered.handler.fn
        ours = fn.__module__.startswith("dashboard_app.")
        on_our_state = registered.states[0].__module__.startswith("dashboard_app.")
        if isinstance(event.payload, Mapping) and (
            payload_fits(fn, event.payload) if ours else not on_our_state
        ):
            return None
        # Also refused: Reflex's generic `setvar` on this app's states (no var is set by clients).
        log.info("event payload refused", handler=event.name)
        return StateUpdate(events=Event.from_event_type(bad_payload()))


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
        viewer = await read_viewer_for_event(carried_session_token())
        session_id = viewer.session_id if viewer is not None else 0
        auth = await state.get_state(AuthState)
        if auth._built_for_session != session_id:
            # The tab no longer gets the previous member's pushes; its next load records it
            # anew for whoever the cookie now names.
            live_tabs.forget_tab(state.router.session.client_token)
            await reset_tab(state)
            auth._built_for_session = session_id
        return None
