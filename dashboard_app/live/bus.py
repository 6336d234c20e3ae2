"""The bus that tells every backend process which members' visible data changed.

It follows the database, so every process that writes to it (backend processes, job workers,
the CLI, a test) publishes to every process that listens: PostgreSQL `NOTIFY`/`LISTEN` on that
database (one listening connection per backend process); for a SQLite file, one UNIX datagram
socket per listening process in a folder named after the file (SQLite means one machine).
Publishing never blocks the committing caller: a thread sends what commits hand it, a burst of
commits as one message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import queue
import secrets
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

CHANNEL = "member_changes"
# NOTIFY payloads stop at 8000 bytes; a datagram this size always fits.
IDS_PER_MESSAGE = 600
LISTEN_RETRY_SECONDS = 1.0


def bus_kind(url: str) -> str:
    """'postgresql', 'sqlite' (a file) or '' (nothing to tell: an in-memory database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return "postgresql"
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return "sqlite"
    return ""


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def socket_folder(url: str) -> Path:
    """Where the listening processes of a SQLite file keep their sockets (a short path: socket
    paths stop at 107 bytes)."""
    database = str(Path(make_url(url).database or "").resolve())
    digest = hashlib.sha256(database.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"dashboard-live-{digest}"


def encode(member_ids: Iterable[int]) -> list[bytes]:
    ordered = sorted(set(member_ids))
    return [
        ",".join(str(member) for member in ordered[start : start + IDS_PER_MESSAGE]).encode()
        for start in range(0, len(ordered), IDS_PER_MESSAGE)
    ]


def decode(message: bytes | str) -> set[int]:
    text = message.decode(errors="replace") if isinstance(message, bytes) else message
    return {int(part) for part in text.split(",") if part.isascii() and part.isdigit()}


class _Publisher:
    """One thread per process sends what commits hand it; bursts go out as one message."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[str, frozenset[int]]] = queue.SimpleQueue()
        self._connections: dict[str, psycopg.Connection] = {}
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, url: str, member_ids: frozenset[int]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="live-bus", daemon=True)
                self._thread.start()
        self._queue.put((url, member_ids))

    def _run(self) -> None:
        while True:
            pending: dict[str, set[int]] = {}
            url, members = self._queue.get()
            pending.setdefault(url, set()).update(members)
            while True:
                try:
                    url, members = self._queue.get_nowait()
                except queue.Empty:
                    break
                pending.setdefault(url, set()).update(members)
            for url, members in pending.items():
                try:
                    self._send(url, members)
                except Exception:  # noqa: BLE001 - a lost nudge must not stop the next ones
                    log.exception("live update not published")

    def _send(self, url: str, members: set[int]) -> None:
        kind = bus_kind(url)
        if kind == "postgresql":
            self._notify(url, members)
        elif kind == "sqlite":
            _send_datagrams(socket_folder(url), encode(members))

    def _notify(self, url: str, members: set[int]) -> None:
        connection = self._connections.get(url)
        if connection is None or connection.closed:
            connection = psycopg.connect(_conninfo(url), autocommit=True)
            self._connections[url] = connection
        try:
            for message in encode(members):
                connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, message.decode()))
        except psycopg.Error:
            connection.close()
            raise


def _send_datagrams(folder: Path, messages: list[bytes]) -> None:
    try:
        listeners = [path for path in folder.iterdir() if path.suffix == ".sock"]
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for path in listeners:
            for message in messages:
                try:
                    sender.sendto(message, str(path))
                except (ConnectionRefusedError, FileNotFoundError):
                    path.unlink(missing_ok=True)  # its process is gone
                    break
                except BlockingIOError:
                    log.warning("live update dropped: listener %s is not reading", path.name)
                    break


_publisher = _Publisher()


def publish(url: str, member_ids: Iterable[int]) -> None:
    """Tell every listening process that these members' visible data changed (after commit)."""
    members = frozenset(member_ids)
    if members and bus_kind(url):
        _publisher.put(url, members)


async def listen(url: str) -> AsyncIterator[set[int]]:
    """The members whose data changed, as the bus tells them, until cancelled; reconnects after
    an error (changes told while disconnected are lost: pages show them on their next load)."""
    kind = bus_kind(url)
    if not kind:
        await asyncio.Event().wait()
    while True:
        try:
            source = _listen_postgresql(url) if kind == "postgresql" else _listen_sqlite(url)
            async with contextlib.aclosing(source):  # its socket goes when this listener stops
                async for members in source:
                    yield members
        except (OSError, psycopg.Error):
            log.exception("live update listener lost; reconnecting")
            await asyncio.sleep(LISTEN_RETRY_SECONDS)


async def _listen_postgresql(url: str) -> AsyncIterator[set[int]]:
    async with await psycopg.AsyncConnection.connect(_conninfo(url), autocommit=True) as conn:
        await conn.execute(f"LISTEN {CHANNEL}")
        async for notification in conn.notifies():
            yield decode(notification.payload)


async def _listen_sqlite(url: str) -> AsyncIterator[set[int]]:
    folder = socket_folder(url)
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.setblocking(False)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    loop = asyncio.get_running_loop()
    try:
        receiver.bind(str(path))
        while True:
            yield decode(await loop.sock_recv(receiver, 65536))
    finally:
        receiver.close()
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # another process still listens there
            folder.rmdir()
