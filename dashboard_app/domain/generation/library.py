"""The member's library: saved results, newest saved first, filtered by platform, format and
tag, searched over title and tags, edited and deleted (softly). Every query reads one index in
page order (see migration 0008), so a page costs the same at any depth and library size."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, text, tuple_
from sqlmodel import Session, col, select

from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.domain.ids import record_id
from dashboard_app.models import Asset, AssetTag
from dashboard_app.models.base import UTCDateTime, utcnow

LIBRARY_KINDS = ("video", "image")
MAX_TITLE = 120
MAX_TAGS = 10
MAX_TAG = 40
MAX_SEARCH_WORDS = 8
TAG_PATTERN = re.compile(r"^[\w][\w -]*$")
NOT_FOUND = "No such file"
KEEP = object()  # an edit's field left as it is


@dataclass(frozen=True)
class LibraryPage:
    items: list[Asset]
    next_cursor: str | None


def owned_asset(*, session: Session, user_id: int, asset_id: object, lock: bool = False) -> Asset:
    """A live asset of the member's; NotFound for a missing, deleted or another's id alike."""
    if record_id(asset_id) is None:
        raise NotFound(NOT_FOUND)
    query = select(Asset).where(Asset.id == asset_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    asset = session.exec(query).first()
    if asset is None or asset.owner_id != user_id or asset.deleted_at is not None:
        raise NotFound(NOT_FOUND)
    return asset


# --- Cursors ------------------------------------------------------------------------------------

_STAMP = UTCDateTime()


def _cursor(asset: Asset) -> str:
    assert asset.saved_at is not None
    raw = f"{asset.saved_at.isoformat()}|{asset.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _read_cursor(cursor: object) -> tuple[datetime, int]:
    try:
        assert isinstance(cursor, str) and 0 < len(cursor) <= 120
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, asset_id = raw.partition("|")
        moment = datetime.fromisoformat(stamp)
        assert moment.tzinfo is not None
        found = record_id(int(asset_id))  # an id the database can hold, or the link is bad
        assert found is not None
        return moment, found
    except (AssertionError, ValueError, UnicodeDecodeError):
        raise InvalidInput("This page link is no longer valid", field="cursor") from None


# --- Search -------------------------------------------------------------------------------------


def _words(search: str) -> list[str]:
    return re.findall(r"[^\W_]+", search.lower())[:MAX_SEARCH_WORDS]


def _search_ids(session: Session, user_id: int, words: list[str]):  # type: ignore[no-untyped-def]
    """A condition on assets.id (SQLite: the FTS5 table) or on the text (PostgreSQL: GIN)."""
    if session.get_bind().dialect.name == "sqlite":
        match = " AND ".join(f'"{word}"*' for word in words)
        return col(Asset.id).in_(
            select(text("rowid"))
            .select_from(text("asset_search"))
            .where(text("asset_search MATCH :match").bindparams(match=match))
        )
    query = " & ".join(f"{word}:*" for word in words)
    return text(
        "to_tsvector('simple', assets.search_text) @@ to_tsquery('simple', :query)"
    ).bindparams(query=query)


# --- Reading ------------------------------------------------------------------------------------


def list_library(
    *,
    session: Session,
    user_id: int,
    catalog: Catalog,
    platform: object = None,
    kind: object = None,
    tag: object = None,
    search: object = None,
    cursor: object = None,
    limit: int = 24,
) -> LibraryPage:
    limit = max(1, min(int(limit), 100))
    query = select(Asset).where(
        Asset.owner_id == user_id,
        col(Asset.saved_at).is_not(None),
        col(Asset.deleted_at).is_(None),
    )
    if platform is not None:
        if not isinstance(platform, str) or platform not in catalog.platforms:
            raise InvalidInput("Unknown platform", field="platform")
        query = query.where(Asset.platform == platform)
    if kind is not None:
        if kind not in LIBRARY_KINDS:
            raise InvalidInput("Choose videos or images", field="kind")
        query = query.where(Asset.kind == kind)
    order_stamp, order_id = col(Asset.saved_at), col(Asset.id)
    if tag is not None:
        name = _tag(tag)
        query = query.join(AssetTag, col(AssetTag.asset_id) == col(Asset.id)).where(
            AssetTag.owner_id == user_id, AssetTag.tag == name
        )
        order_stamp, order_id = col(AssetTag.saved_at), col(AssetTag.asset_id)
    if search is not None:
        if not isinstance(search, str) or len(search) > 200:
            raise InvalidInput("Search for a few words", field="search")
        words = _words(search)
        if words:
            query = query.where(_search_ids(session, user_id, words))
            if session.get_bind().dialect.name == "postgresql":
                # PostgreSQL cannot estimate prefix matches (it guesses 2% of the table) and
                # would walk the whole library in page order, or start parallel workers that
                # cost more than the search: ordering by an expression makes it read the GIN
                # index for the matches and sort those, on its own (for this transaction).
                session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
                return _page(session, query, order_stamp, order_id, cursor, limit, shift=True)
    return _page(session, query, order_stamp, order_id, cursor, limit)


def _page(session, query, order_stamp, order_id, cursor, limit, shift=False) -> LibraryPage:  # type: ignore[no-untyped-def]
    if cursor is not None:
        stamp, last_id = _read_cursor(cursor)
        query = query.where(tuple_(order_stamp, order_id) < tuple_(stamp, last_id))
    if shift:
        order_stamp = order_stamp.op("+")(text("interval '0 seconds'"))
        order_id = order_id.op("+")(0)
    rows = list(session.exec(query.order_by(order_stamp.desc(), order_id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return LibraryPage(items=rows, next_cursor=_cursor(rows[-1]) if more and rows else None)


def recent_results(*, session: Session, user_id: int, limit: int = 8) -> list[Asset]:
    """The member's latest generated results, saved or not, newest first (the overview's grid)."""
    return list(
        session.exec(
            select(Asset)
            .where(Asset.owner_id == user_id, col(Asset.kind).in_(LIBRARY_KINDS))
            .where(col(Asset.deleted_at).is_(None))
            .order_by(col(Asset.created_at).desc(), col(Asset.id).desc())
            .limit(max(1, min(limit, 50)))
        )
    )


# --- Editing ------------------------------------------------------------------------------------


def _tag(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("A tag is a word or two", field="tags")
    name = " ".join(value.split()).lower()
    if not name or len(name) > MAX_TAG or not TAG_PATTERN.match(name):
        raise InvalidInput(
            f"Tags are 1 to {MAX_TAG} letters, digits, spaces or dashes", field="tags"
        )
    return name


def _tags(values: object) -> list[str]:
    if not isinstance(values, list):
        raise InvalidInput("Tags come as a list", field="tags")
    tags: list[str] = []
    for value in values:
        name = _tag(value)
        if name not in tags:
            tags.append(name)
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"At most {MAX_TAGS} tags", field="tags")
    return tags


def _replace_tags(session: Session, asset: Asset, tags: list[str]) -> None:
    session.exec(delete(AssetTag).where(col(AssetTag.asset_id) == asset.id))  # type: ignore[call-overload]
    if asset.saved_at is not None and asset.deleted_at is None:
        for name in tags:
            session.add(
                AssetTag(
                    asset_id=asset.id, tag=name, owner_id=asset.owner_id, saved_at=asset.saved_at
                )
            )


def edit_asset(
    *,
    session: Session,
    user_id: int,
    asset_id: object,
    title: object = KEEP,
    tags: object = KEEP,
    now: datetime | None = None,
) -> Asset:
    """Rename a saved result and set its tags (either left out stays as it is); invalid input
    changes nothing."""
    asset = owned_asset(session=session, user_id=user_id, asset_id=asset_id, lock=True)
    title = asset.title if title is KEEP else title
    tags = list(asset.tags or []) if tags is KEEP else tags
    if not isinstance(title, str) or not " ".join(title.split()):
        raise InvalidInput("Give it a title", field="title")
    name = " ".join(title.split())
    if len(name) > MAX_TITLE:
        raise InvalidInput(f"A title has at most {MAX_TITLE} characters", field="title")
    cleaned = _tags(tags)
    asset.title, asset.tags = name, cleaned
    asset.search_text = " ".join([name, *cleaned]).lower()
    asset.updated_at = now or utcnow()
    session.add(asset)
    _replace_tags(session, asset, cleaned)
    session.flush()
    return asset


def delete_asset(
    *, session: Session, user_id: int, asset_id: object, now: datetime | None = None
) -> None:
    """Take a result out of the library and out of reach (soft: the row and file stay for the
    records until the files are purged)."""
    asset = owned_asset(session=session, user_id=user_id, asset_id=asset_id, lock=True)
    asset.deleted_at = asset.updated_at = now or utcnow()
    session.add(asset)
    _replace_tags(session, asset, [])
    session.flush()


def index_saved(session: Session, asset: Asset) -> None:
    """Put a newly saved asset's tags in the tag index (review.save_variant calls this)."""
    _replace_tags(session, asset, list(asset.tags or []))
