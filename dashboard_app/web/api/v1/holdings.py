"""The caller's wallet holdings: `GET /holdings` (what the last good read of their preferred
wallet found, cursor paged, with when it was read and how the last try went) and
`POST /holdings/refresh` (read it again on the job workers: 202, the page and the API share
the member's refresh limit)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from dashboard_app.db import session_scope
from dashboard_app.domain import holdings
from dashboard_app.engine import holdings as holdings_engine
from dashboard_app.engine.client import get_client
from dashboard_app.settings import get_settings
from dashboard_app.web import routes
from dashboard_app.web.api.v1.auth import ReadCaller, WriteCaller
from dashboard_app.web.api.v1.paging import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    decode_cursor,
    encode_cursor,
)
from dashboard_app.web.api.v1.problems import PROBLEM_RESPONSES, ApiProblem, Problem
from dashboard_app.web.auth_cookie import session_policy

router = APIRouter(tags=["holdings"], responses=PROBLEM_RESPONSES)

NOT_CONFIGURED = "Holdings are not available on this server: no marketplace is configured."
NO_WALLET = "Set a preferred wallet address on your profile first."
REFRESH_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    409: {
        "model": Problem,
        "description": "Nothing to refresh: no preferred wallet on the profile, or no "
        "marketplace configured on this server (see `detail`).",
    },
}


class HoldingOut(BaseModel):
    id: int
    chain: str
    contract: str
    token_id: str
    collection: str
    name: str
    image_url: str = Field(description="The token's image as the marketplace gave it, or empty.")
    metadata: dict[str, Any]
    synced_at: datetime


class HoldingsPage(BaseModel):
    available: bool = Field(description="False when this server has no marketplace configured.")
    wallet: str = Field(description="The preferred wallet (lower case), or empty when unset.")
    chain: str
    last_synced_at: datetime | None = Field(description="When the holdings shown were read.")
    last_attempt_at: datetime | None
    last_error: str | None = Field(
        description="Why the last refresh failed; the holdings of `last_synced_at` still show."
    )
    refreshing: bool
    stale: bool = Field(description="Older than the freshness window (or never read).")
    items: list[HoldingOut]
    next_cursor: str | None


class RefreshAccepted(BaseModel):
    queued: bool = Field(description="False when a refresh was already running.")
    refreshing: bool


@router.get(
    "/holdings",
    response_model=HoldingsPage,
    summary="The caller's wallet holdings, newest first",
)
def list_holdings(
    caller: ReadCaller, cursor: CursorQuery = None, limit: LimitQuery = DEFAULT_LIMIT
) -> HoldingsPage:
    settings = get_settings()
    before_id = decode_cursor(cursor)
    with session_scope() as session:
        view = holdings.holdings_view(
            session=session,
            user_id=caller.user_id,
            chain=settings.marketplace_chain,
            fresh_for=timedelta(hours=settings.holdings_fresh_hours),
        )
        rows, next_id = holdings.holdings_page(
            session=session,
            user_id=caller.user_id,
            chain=settings.marketplace_chain,
            before_id=before_id,
            limit=limit,
        )
        items = [
            HoldingOut(
                id=row.id or 0,
                chain=row.chain,
                contract=row.contract,
                token_id=row.token_id,
                collection=row.collection,
                name=row.name,
                image_url=row.image_url,
                metadata=row.token_metadata or {},
                synced_at=row.synced_at,
            )
            for row in rows
        ]
    return HoldingsPage(
        available=settings.marketplace_configured,
        wallet=view.wallet,
        chain=settings.marketplace_chain,
        last_synced_at=view.last_synced_at,
        last_attempt_at=view.last_attempt_at,
        last_error=view.last_error,
        refreshing=view.refreshing,
        stale=view.stale,
        items=items,
        next_cursor=encode_cursor(next_id) if next_id else None,
    )


@router.post(
    "/holdings/refresh",
    status_code=202,
    response_model=RefreshAccepted,
    summary="Read the caller's wallet again (on the job workers)",
    responses=REFRESH_RESPONSES,
)
def refresh_holdings(caller: WriteCaller, response: Response) -> RefreshAccepted:
    """Poll `GET /holdings` until `refreshing` is false. Counted with the Holdings page's
    Refresh button (a few per quarter hour); a refresh already running answers 202 too."""
    if not get_settings().marketplace_configured:
        raise ApiProblem(409, "Conflict", NOT_CONFIGURED)
    with session_scope() as session:
        wallet = holdings.member_wallet(session=session, user_id=caller.user_id)
    if not wallet:
        raise ApiProblem(409, "Conflict", NO_WALLET)
    queued = holdings_engine.request_refresh(
        engine=None,
        client=get_client(),
        user_id=caller.user_id,
        member_secret=session_policy().secret_key,
    )
    response.headers["Location"] = f"{routes.API_V1}/holdings"
    return RefreshAccepted(queued=queued, refreshing=True)
