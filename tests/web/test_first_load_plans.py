"""Every query behind a member page's first load reads an index, for a member with a long
history (1,000,000 ledger entries, 100,000 jobs and saved results, 10,000 orders).

The queries are those the pages' own loaders send (the shell's viewer, then each page's data),
caught at the driver as they run against the seeded database; each is then EXPLAINed with its
own parameters. Two readings:
- as the planner chooses with real statistics: no sequential scan of a table the history fills;
- with sequential scans discouraged (`enable_seqscan = off`): no sequential scan of any table but
  the few that hold configuration, so every other table has an index that serves the query, and
  the plan stays right once those tables are large in production too.
PostgreSQL only: that is where production runs and where EXPLAIN's plans are worth reading.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dashboard_app.db import get_engine, read_scope, session_scope
from dashboard_app.domain import accounts
from dashboard_app.domain.dashboard import shell_for_token
from dashboard_app.models import User
from dashboard_app.settings import get_settings
from dashboard_app.web.auth_cookie import session_policy
from dashboard_app.web.pages import history, jobs, overview
from dashboard_app.web.pages.billing import orders
from dashboard_app.web.pages.billing import page as billing
from dashboard_app.web.pages.library import state as library
from tests.factories import create_member
from tests.support.big_member import History, seed_history

# Tables the seeded history fills: the planner must find an index there unaided.
HISTORY_TABLES = {"credit_entries", "generations", "assets", "usage_entries", "orders"}
# Configuration, a row per plan or one in all: a sequential scan of them is the right plan.
CONFIGURATION_TABLES = {"plans", "installation"}
# The member's id tested row by row instead of bounding the index range.
MEMBER_FILTER = re.compile(r"\b(user_id|owner_id) = ")
# More rows than this sorted for one page: the order should come from an index.
SORTED_ROWS_AT_MOST = 5_000


@pytest.fixture(autouse=True)
def _postgresql_only(engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL, where production runs")


@pytest.fixture
def app_database(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The page loaders' own engine (from settings), pointed at this test's database."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield get_engine()
    monkeypatch.undo()
    get_settings.cache_clear()


def _as_one_member_among_many(engine: Engine) -> None:
    """The test database holds one member; production holds many. With the member columns'
    statistics switched off, the planner estimates a member's share of each table as it would
    among a real population (PostgreSQL's default for an equality: 1 row in 200) instead of
    knowing that every row is theirs, when a walk through the whole table would cost the same
    as their own index range. Set before the history is written and analyzed."""
    with engine.begin() as conn:
        for table in sorted(HISTORY_TABLES | {"credit_lots", "drafts", "boosts"}):
            column = "owner_id" if table == "assets" else "user_id"
            conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} SET STATISTICS 0"))


def _sign_in(user: User) -> str:
    with session_scope() as session:
        member = session.get(User, user.id)
        assert member is not None
        return accounts.start_session(session=session, user=member, policy=session_policy())


def _first_loads(user_id: int, token: str) -> dict[str, Callable[[], object]]:
    """What each page runs on its first load, after the shell's viewer: the pages' loaders."""
    loaders: dict[str, Callable[[Session], object]] = {
        "shell": lambda s: shell_for_token(session=s, token=token, policy=session_policy()),
        "overview": lambda s: overview._load(s, user_id, {}),
        "history": lambda s: history._fetch(s, user_id, None),
        "jobs": lambda s: jobs._fetch(s, user_id, None, None, jobs.PAGE_SIZE),
        "library": lambda s: library._fetch(s, user_id, {}, None, {}),
        "orders": lambda s: orders._first_page(s, user_id),
        "billing": lambda s: billing._billing_view(s, user_id),
    }
    return {page: _in_read_scope(loader) for page, loader in loaders.items()}


def _in_read_scope(loader: Callable[[Session], object]) -> Callable[[], object]:
    def run() -> object:
        with read_scope() as session:
            return loader(session)

    return run


def _capture(engine: Engine, run: Callable[[], object]) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ARG001
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def _explainable(statement: str) -> bool:
    head = statement.lstrip().split(None, 1)[0].upper()
    return head in {"SELECT", "WITH", "UPDATE", "DELETE"}


def _nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _walks_past_others(node: dict) -> bool:
    """An index that gives the order only (no condition bounds its range) while the member's
    id is tested row by row: with many members it passes everyone else's rows."""
    return not node.get("Index Cond") and bool(MEMBER_FILTER.search(node.get("Filter", "")))


def _sorts_a_history(node: dict) -> bool:
    """All of a long history read and sorted to show its first rows: no index gives its order."""
    return node["Node Type"] == "Sort" and node["Plans"][0]["Actual Rows"] > SORTED_ROWS_AT_MOST


def _plan(
    engine: Engine, statement: str, parameters: object, *, seqscan: bool, run: bool = False
) -> dict:
    """The statement's plan; with `run`, as it ran (EXPLAIN ANALYZE, rolled back after)."""
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(f"SET enable_seqscan = {'on' if seqscan else 'off'}")
            explain = "EXPLAIN (ANALYZE, FORMAT JSON)" if run else "EXPLAIN (FORMAT JSON)"
            cursor.execute(f"{explain} {statement}", parameters)
            return cursor.fetchone()[0][0]["Plan"]
        finally:
            cursor.close()
            conn.rollback()


def _index_problems(engine: Engine, page: str, statement: str, parameters: object) -> list[str]:
    problems = []
    for node in _nodes(_plan(engine, statement, parameters, seqscan=True, run=True)):
        table = node.get("Relation Name")
        if node["Node Type"] == "Seq Scan" and table in HISTORY_TABLES:
            problems.append(f"{page}: reads all of {table}:\n  {statement}")
        if _sorts_a_history(node):
            rows = node["Plans"][0]["Actual Rows"]
            problems.append(f"{page}: sorts {rows} rows to show a page:\n  {statement}")
    for node in _nodes(_plan(engine, statement, parameters, seqscan=False)):
        table = node.get("Relation Name")
        if node["Node Type"] == "Seq Scan" and table not in CONFIGURATION_TABLES:
            problems.append(f"{page}: no index serves this read of {table}:\n  {statement}")
        elif table and _walks_past_others(node):
            problems.append(
                f"{page}: reads {table} by an index not led by the member:\n  {statement}"
            )
    return problems


def test_every_query_of_every_first_page_load_reads_an_index(
    engine: Engine, app_database: Engine
) -> None:
    member = create_member(engine, credits_granted=10)
    assert member.id is not None
    _as_one_member_among_many(engine)
    started = time.perf_counter()
    seed_history(engine, member.id, History())
    seeded = time.perf_counter() - started
    token = _sign_in(member)

    problems: list[str] = []
    explained: dict[str, int] = {}
    for page, load in _first_loads(member.id, token).items():
        for statement, parameters in _capture(app_database, load):
            if _explainable(statement):
                explained[page] = explained.get(page, 0) + 1
                problems += _index_problems(app_database, page, statement, parameters)
    assert set(explained) == set(_first_loads(member.id, token)), f"pages read: {explained}"
    assert not problems, f"(history seeded in {seeded:.1f} s)\n" + "\n".join(problems)


def test_the_check_catches_reads_that_no_member_index_serves(
    engine: Engine, app_database: Engine
) -> None:
    """The check above can fail: the history page's read is clean with its index, and caught
    once that index is gone (the member's whole history read and sorted to show a page); a
    read by a column without any index is caught too."""
    member = create_member(engine)
    assert member.id is not None
    _as_one_member_among_many(engine)
    seed_history(engine, member.id, History(entries=20_000, generations=100, assets=100))
    history_reads = [
        (statement, parameters)
        for statement, parameters in _capture(
            app_database, _in_read_scope(lambda s: history._fetch(s, member.id, None))
        )
        if "FROM credit_entries" in statement
    ]
    assert history_reads
    for statement, parameters in history_reads:
        assert _index_problems(app_database, "history", statement, parameters) == []
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_credit_entries_user_id"))
    for statement, parameters in history_reads:
        found = _index_problems(app_database, "history", statement, parameters)
        assert any("history: sorts" in problem for problem in found), found
    unindexed = "SELECT count(*) FROM credit_entries WHERE reason = %(reason)s"
    assert _index_problems(app_database, "test", unindexed, {"reason": "none"})
