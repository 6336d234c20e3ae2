"""A browser tab without the browser: Reflex's event protocol over socket.io, spoken the way an
attacker (or a test) would, with any tab token and any cookie, or none."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import httpx
import reflex as rx
import socketio

from tests.factories import DEFAULT_PASSWORD

HYDRATE = f"{rx.State.get_full_name()}.hydrate"


def sign_in_cookie(base_url: str, email: str, password: str = DEFAULT_PASSWORD) -> str:
    """A `Cookie` header value for a new session of the member (signed in over HTTP)."""
    response = httpx.post(f"{base_url}/auth/sign-in", data={"email": email, "password": password})
    return f"dash_session={response.cookies['dash_session']}"


@dataclass
class TabReplies:
    """Everything the server sent to one connection."""

    updates: list[dict] = field(default_factory=list)
    new_token: str | None = None

    def text(self) -> str:
        return json.dumps(self.updates)

    def sent_vars(self) -> dict[str, object]:
        """The last value sent for each `state.var_rx_state_`."""
        sent: dict[str, object] = {}
        for update in self.updates:
            for state_name, values in (update.get("delta") or {}).items():
                for var, value in values.items():
                    sent[f"{state_name}.{var}"] = value
        return sent

    def hydrated(self) -> bool:
        return any(
            "is_hydrated_rx_state_" in values
            for update in self.updates
            for values in (update.get("delta") or {}).values()
        )


def router_data(path: str) -> dict[str, object]:
    """What the browser sends with an event from the page at `path` (which may have a query)."""
    pathname, _, query = path.partition("?")
    return {"pathname": pathname, "query": dict(parse_qsl(query)), "asPath": path}


async def talk(
    base_url: str,
    *,
    calls: Sequence[tuple[str, object] | tuple[str, object, str]],
    token: str | None = None,
    cookie: str | None = None,
    path: str = "/",
    hydrate: bool = True,
    until: Callable[[TabReplies], bool] | None = None,
    timeout: float = 30,
) -> TabReplies:
    """Open a socket with `token` and `cookie`, emit each (handler, payload[, page path]) and
    then, unless told not to, a hydrate; wait for the hydrate's delta and for `until`; return
    the replies."""
    replies = TabReplies()
    arrived = asyncio.Event()
    client = socketio.AsyncClient()

    @client.on("event", namespace="/_event")
    async def on_event(data):
        replies.updates.append(json.loads(data) if isinstance(data, str) else data)
        arrived.set()

    @client.on("new_token", namespace="/_event")
    async def on_new_token(data):
        replies.new_token = data
        arrived.set()

    def done() -> bool:
        return (not hydrate or replies.hydrated()) and (until is None or until(replies))

    await client.connect(
        f"{base_url}?token={token or uuid.uuid4()}",
        socketio_path="/_event",
        namespaces=["/_event"],
        transports=["websocket"],
        headers={"Cookie": cookie} if cookie else {},
    )
    try:
        events = [*calls, (HYDRATE, {})] if hydrate else list(calls)
        for name, payload, *page in events:
            await client.emit(
                "event",
                {"name": name, "payload": payload, "router_data": router_data(*page or [path])},
                namespace="/_event",
            )
        deadline = asyncio.get_running_loop().time() + timeout
        while not done():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no complete answer within {timeout}s: {replies.text()[:2000]}")
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), timeout=remaining)
            except TimeoutError:
                continue
    finally:
        await client.disconnect()
    return replies


def run_async(coroutine):
    """Run a coroutine on a thread of its own: Playwright's sync API owns this thread's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def talk_now(base_url: str, **kwargs) -> TabReplies:
    return run_async(talk(base_url, **kwargs))
