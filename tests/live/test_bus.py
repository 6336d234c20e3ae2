"""The live-update bus, on the test's database: what a transaction wrote for a member is told to
a listener once it commits, never when it rolls back, and a session's visit is not a change."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, credits
from dashboard_app.live import bus
from dashboard_app.models import UserSession
from dashboard_app.web.auth_cookie import session_policy
from tests.factories import create_member
from tests.support.tab import run_async

WAIT_SECONDS = 10
# Member ids no row has, published as markers: the listener is told in the order of publishing.
_markers = itertools.count(10**12)


class Listener:
    """bus.listen on a thread of its own, collecting what it is told."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.told: list[set[int]] = []
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Listener:
        self._thread.start()
        self._task = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        # Listening once it hears a marker (sent again until it does).
        for _ in range(WAIT_SECONDS * 10):
            if self.sync(timeout=0.1):
                return self
        raise TimeoutError("the listener never started listening")

    def __exit__(self, *_exc: object) -> None:
        self._task.cancel()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _listen(self) -> None:
        async for members in bus.listen(self.url):
            with self._changed:
                self.told.append(members)
                self._changed.notify_all()

    def next(self, *, timeout: float = WAIT_SECONDS) -> set[int] | None:
        """What the listener is told next, or None if nothing within `timeout` seconds."""
        with self._changed:
            while not self.told:
                if not self._changed.wait(timeout=timeout):
                    return None
            return self.told.pop(0)

    def sync(self, *, timeout: float = WAIT_SECONDS) -> bool:
        """Publish a marker and forget everything told up to it (commits made before this
        call have been told by then)."""
        marker = next(_markers)
        bus.publish(self.url, {marker})
        while (told := self.next(timeout=timeout)) is not None:
            if marker in told:
                return True
        return False


@pytest.fixture
def listener(engine: Engine) -> Iterator[Listener]:
    with Listener(engine.url.render_as_string(hide_password=False)) as listening:
        yield listening


def grant(session: Session, user_id: int, amount: int, key: str) -> None:
    credits.grant_credits(
        session=session, user_id=user_id, amount=amount, idempotency_key=key, reason="Gift"
    )


def test_a_committed_grant_is_told_and_a_rolled_back_one_is_not(engine, listener) -> None:
    kept, dropped = create_member(engine), create_member(engine)
    assert listener.sync()

    with Session(engine) as session:
        grant(session, dropped.id, 5, "dropped")
        session.flush()
        session.rollback()
        grant(session, kept.id, 5, "kept")  # the session's next transaction
        session.commit()

    assert listener.next() == {kept.id}


def test_a_savepoint_released_is_told_only_when_its_transaction_commits(engine, listener) -> None:
    member, other = create_member(engine), create_member(engine)
    assert listener.sync()

    with Session(engine) as session:
        with session.begin_nested():
            grant(session, member.id, 5, "inside a savepoint")
        assert listener.next(timeout=0.5) is None  # released, not committed
        session.rollback()
    with session_scope(engine) as session:
        grant(session, other.id, 5, "committed")

    assert listener.next() == {other.id}


def test_ending_a_session_is_told_and_a_visit_is_not(engine, listener) -> None:
    member, other = create_member(engine), create_member(engine)
    with session_scope(engine) as session:
        token = accounts.start_session(session=session, user=member, policy=session_policy())
        row = session.exec(select(UserSession).where(UserSession.user_id == member.id)).one()
        # Seen long ago: the next visit moves its last-seen time.
        row.last_seen_at -= timedelta(hours=1)
        session.add(row)
    assert listener.sync()

    with session_scope(engine) as session:
        assert accounts.resolve_session(session=session, token=token, policy=session_policy())
    with session_scope(engine) as session:
        grant(session, other.id, 1, "a marker after the visit")
    assert listener.next() == {other.id}

    with session_scope(engine) as session:
        accounts.end_sessions(session=session, user_id=member.id, reason="signed out elsewhere")
    assert listener.next() == {member.id}


def test_a_spend_and_a_freeze_in_plain_statements_are_told(engine, listener) -> None:
    """The quick spend and freeze write with statements, not through the ORM's flush: they
    tell the bus as the ORM's writes do."""
    spender, frozen = create_member(engine), create_member(engine)
    with session_scope(engine) as session:
        grant(session, spender.id, 10, "to spend")
        grant(session, frozen.id, 10, "to freeze")
    assert listener.sync()

    with session_scope(engine) as session:
        credits.spend_credits(
            session=session, user_id=spender.id, amount=3, idempotency_key="spend", reason="Job"
        )
    assert listener.next() == {spender.id}

    with session_scope(engine) as session:
        credits.freeze_credits(
            session=session, user_id=frozen.id, amount=4, reference="dp_test", reason="Dispute"
        )
    assert listener.next() == {frozen.id}


def test_the_last_sqlite_listener_to_stop_removes_its_socket_folder(tmp_path) -> None:
    """One folder per SQLite file under the temporary directory: gone with its last listener,
    kept while another still listens."""
    url = f"sqlite:///{tmp_path / 'bus.db'}"
    folder = bus.socket_folder(url)

    async def bound(count: int) -> None:
        while not (folder.is_dir() and len(list(folder.glob("*.sock"))) == count):
            await asyncio.sleep(0.01)

    async def run() -> tuple[bool, bool]:
        first, second = bus.listen(url), bus.listen(url)
        waiting = [asyncio.ensure_future(anext(first)), asyncio.ensure_future(anext(second))]
        await asyncio.wait_for(bound(2), WAIT_SECONDS)
        bus.publish(url, {7})
        assert await asyncio.wait_for(asyncio.gather(*waiting), WAIT_SECONDS) == [{7}, {7}]
        await first.aclose()
        kept_for_the_other = folder.is_dir()
        await second.aclose()
        return kept_for_the_other, folder.exists()

    assert run_async(run()) == (True, False)
