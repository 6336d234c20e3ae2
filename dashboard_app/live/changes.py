"""Which rows a member can see, and so which flushed changes their open tabs must show."""

from __future__ import annotations

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

# Table -> the column naming the member whose pages show the row. Tables missing here (audit
# log, rate limits, sign-in attempts, member keys, Stripe events) change nothing a member sees
# on their own: the member rows an action changes are listed.
MEMBER_COLUMN = {
    "users": "id",
    "profiles": "user_id",
    "oauth_identities": "user_id",
    "api_keys": "user_id",
    "credit_accounts": "user_id",
    "credit_entries": "user_id",
    "credit_lots": "user_id",
    "credit_reservations": "user_id",
    "credit_freezes": "user_id",
    "orders": "user_id",
    "subscriptions": "user_id",
    "boosts": "user_id",
    "usage_entries": "user_id",
    "drafts": "user_id",
    "generations": "user_id",
    "assets": "owner_id",
    "asset_tags": "owner_id",
    "holdings": "user_id",
    "holdings_syncs": "user_id",
}
# A session row matters only when it ends (its last-seen time moves on every visit).
SESSION_TABLE, SESSION_ENDED = "user_sessions", "revoked_at"


def _member_of(obj: object, *, deleted: bool) -> int | None:
    table = getattr(type(obj), "__tablename__", None)
    if table == SESSION_TABLE:
        ended = deleted or sa_inspect(obj).attrs[SESSION_ENDED].history.has_changes()
        value = getattr(obj, "user_id", None) if ended else None
    elif table == "variants":
        # A variant's job is usually loaded and touched with it; never query from a flush.
        value = None
    else:
        column = MEMBER_COLUMN.get(table or "")
        value = getattr(obj, column, None) if column else None
    return value if isinstance(value, int) else None


def changed_members(session: Session) -> set[int]:
    """The members whose visible rows this flush inserted, updated or deleted (call it from
    `after_flush`, while the session still lists what the flush wrote)."""
    written = [
        *((obj, False) for obj in session.new),
        *((obj, False) for obj in session.dirty if session.is_modified(obj)),
        *((obj, True) for obj in session.deleted),
    ]
    found = {_member_of(obj, deleted=deleted) for obj, deleted in written}
    return {member for member in found if member is not None}
