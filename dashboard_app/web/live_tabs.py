"""The tabs that signed-in members opened on this backend process, and the push that tells them
something they show has changed.

Every event that resolves the signed-in member records its tab under the member (and, on an
admin's member page, the member shown); the tab is dropped when its socket is gone or its session
changes. When the bus says a member's data changed, each of their tabs is sent a new value of its
public `AuthState.live_nudge` (a state update of that one var, no state loaded or written: Reflex
routes it to the process holding the socket, through Redis's lost-and-found when that is another
one); the shell then makes the tab call its page's `poll_live`, so what it shows is loaded by an
event carrying the tab's own cookie, through the same checks as any other. Nothing is loaded in
a push, and the value carries nothing but "look again".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from reflex.state import StateUpdate
from reflex_base.constants.state import FIELD_MARKER

from dashboard_app.db import get_engine
from dashboard_app.live import bus

if TYPE_CHECKING:
    from reflex.app import App

log = logging.getLogger(__name__)

# A member's tabs are nudged at once, then at most once per this interval while changes keep
# coming (a job's progress): the last change of a burst is always shown.
NUDGE_INTERVAL_SECONDS = 0.25
PRUNE_SECONDS = 60.0


class TabRegistry:
    """Client token -> the members whose changes the tab shows, and the reverse."""

    def __init__(self) -> None:
        self._watched: dict[str, frozenset[int]] = {}
        self._tabs: defaultdict[int, set[str]] = defaultdict(set)

    def record(self, token: str, members: Iterable[int]) -> None:
        self.forget(token)
        watched = frozenset(members)
        if not token or not watched:
            return
        self._watched[token] = watched
        for member in watched:
            self._tabs[member].add(token)

    def forget(self, token: str) -> None:
        for member in self._watched.pop(token, frozenset()):
            tabs = self._tabs.get(member)
            if tabs is not None:
                tabs.discard(token)
                if not tabs:
                    del self._tabs[member]

    def tabs_of(self, member: int) -> set[str]:
        return set(self._tabs.get(member, ()))

    def tokens(self) -> list[str]:
        return list(self._watched)


tabs = TabRegistry()


def record_tab(token: str, member: int, *also: int) -> None:
    tabs.record(token, (member, *also))


def forget_tab(token: str) -> None:
    tabs.forget(token)


class Nudger:
    """Sends a member's tabs a new `AuthState.live_nudge`, coalescing bursts per member."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._last: dict[int, float] = {}
        self._scheduled: dict[int, asyncio.Task] = {}
        self._number = 0

    def _next_number(self) -> int:
        """Milliseconds since the epoch, kept increasing: a tab told by two processes, or by one
        restarted, still sees each nudge as new."""
        self._number = max(self._number + 1, time.time_ns() // 1_000_000)
        return self._number

    def changed(self, members: Iterable[int]) -> None:
        now = time.monotonic()
        for member in members:
            if member in self._scheduled or not tabs.tabs_of(member):
                continue
            wait = self._last.get(member, 0.0) + NUDGE_INTERVAL_SECONDS - now
            self._scheduled[member] = asyncio.create_task(self._nudge_member(member, wait))

    async def _nudge_member(self, member: int, wait: float) -> None:
        try:
            if wait > 0:
                await asyncio.sleep(wait)
            self._last[member] = time.monotonic()
        finally:
            self._scheduled.pop(member, None)
        number = self._next_number()
        await asyncio.gather(*(self._nudge_tab(token, number) for token in tabs.tabs_of(member)))

    async def _nudge_tab(self, token: str, number: int) -> None:
        from dashboard_app.web.state.auth import AuthState

        namespace = self._app.event_namespace
        try:
            if namespace is None or not await self._connected(token):
                tabs.forget(token)
                return
            delta = {AuthState.get_full_name(): {"live_nudge" + FIELD_MARKER: number}}
            await namespace.emit_update(StateUpdate(delta=delta), token)
        except Exception:  # noqa: BLE001 - one tab's trouble must not stop the others
            log.exception("live nudge failed")

    async def _connected(self, token: str) -> bool:
        namespace = self._app.event_namespace
        if namespace is None:
            return False
        return await namespace._token_manager.is_token_connected(token)

    async def prune(self) -> None:
        """Drop the tabs whose socket is gone and forget members no longer watched."""
        for token in tabs.tokens():
            if not await self._connected(token):
                tabs.forget(token)
        horizon = time.monotonic() - NUDGE_INTERVAL_SECONDS
        for member, last in list(self._last.items()):
            if last < horizon:
                del self._last[member]


async def push_live_updates(app: App) -> None:
    """A lifespan task: listen to the bus and nudge the tabs of the members it names."""
    nudger = Nudger(app)
    url = get_engine().url.render_as_string(hide_password=False)

    async def keep_pruning() -> None:
        while True:
            await asyncio.sleep(PRUNE_SECONDS)
            await nudger.prune()

    pruning = asyncio.create_task(keep_pruning())
    try:
        async for members in bus.listen(url):
            nudger.changed(members)
    finally:
        pruning.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pruning
