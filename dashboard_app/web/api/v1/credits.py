"""The caller's credits and usage: `GET /credits` (balances), `GET /credits/ledger` (every
change, newest first, cursor paged) and `GET /usage` (this month's meters against the plan's
limits, and when they reset)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from dashboard_app.db import session_scope
from dashboard_app.domain import credits, plans
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.models.credits import ENTRY_KINDS
from dashboard_app.web.api.v1.auth import ReadCaller
from dashboard_app.web.api.v1.paging import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    Page,
    decode_cursor,
    encode_cursor,
)
from dashboard_app.web.api.v1.problems import PROBLEM_RESPONSES

router = APIRouter(tags=["credits"], responses=PROBLEM_RESPONSES)

EntryKind = Literal[ENTRY_KINDS]  # type: ignore[valid-type]


class ExpiryOut(BaseModel):
    at: datetime
    credits: int = Field(description="How many credits expire then.")


class CreditsOut(BaseModel):
    current: int = Field(description="Credits available to spend now.")
    reserved: int = Field(description="Credits held for generations in progress.")
    frozen: int = Field(description="Credits frozen while a disputed payment is open.")
    lifetime: int = Field(description="Credits ever received.")
    spent: int = Field(description="Credits ever spent.")
    next_expiry: ExpiryOut | None = Field(description="The soonest credits to expire, if any.")


class LedgerEntryOut(BaseModel):
    id: int
    kind: EntryKind  # type: ignore[valid-type]
    amount: int = Field(description="Change to the available credits (negative: taken).")
    reserved_change: int = Field(description="Change to the reserved credits.")
    frozen_change: int = Field(description="Change to the frozen credits.")
    balance_after: int = Field(description="Available credits after this entry.")
    reason: str
    expires_at: datetime | None = Field(description="When credits granted here expire.")
    created_at: datetime


class MeterOut(BaseModel):
    metric: Literal["exports", "processing_minutes"]
    used: int
    limit: int = Field(description="This month's limit: the plan's, raised by active boosts.")


class UsageOut(BaseModel):
    plan: str
    meters: list[MeterOut]
    resets_at: datetime = Field(description="When the meters start again from zero (UTC).")


@router.get("/credits", response_model=CreditsOut, summary="The caller's credit balances")
def get_credits(caller: ReadCaller) -> CreditsOut:
    with session_scope() as session:
        # Credits past their expiry leave through an entry before a balance is shown.
        credits.expire_credits(session=session, user_id=caller.user_id)
        balances = credits.get_balances(session=session, user_id=caller.user_id)
        expiry = credits.next_expiry(session=session, user_id=caller.user_id)
    return CreditsOut(
        current=balances.available,
        reserved=balances.reserved,
        frozen=balances.frozen,
        lifetime=balances.lifetime,
        spent=balances.spent,
        next_expiry=ExpiryOut(at=expiry[0], credits=expiry[1]) if expiry else None,
    )


@router.get(
    "/credits/ledger",
    response_model=Page[LedgerEntryOut],
    summary="The caller's credit ledger, newest first",
)
def get_ledger(
    caller: ReadCaller,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    kind: Annotated[
        EntryKind | None,  # type: ignore[valid-type]
        Query(description="Only entries of this kind."),
    ] = None,
) -> Page[LedgerEntryOut]:
    before_id = decode_cursor(cursor)
    with session_scope() as session:
        page = credits.history(
            session=session, user_id=caller.user_id, kind=kind, before_id=before_id, limit=limit
        )
        items = [
            LedgerEntryOut(
                id=entry.id or 0,
                kind=entry.kind,
                amount=entry.amount,
                reserved_change=entry.held_change,
                frozen_change=entry.frozen_change,
                balance_after=entry.balance_after,
                reason=entry.reason,
                expires_at=entry.expires_at,
                created_at=entry.created_at,
            )
            for entry in page.entries
        ]
    return Page[LedgerEntryOut](
        items=items,
        next_cursor=encode_cursor(page.next_cursor) if page.next_cursor else None,
    )


@router.get("/usage", response_model=UsageOut, summary="This month's usage against the limits")
def get_usage(caller: ReadCaller) -> UsageOut:
    catalog = get_catalog()
    with session_scope() as session:
        usage = plans.usage_this_month(session=session, user_id=caller.user_id)
        limits = plans.member_limits(session=session, user_id=caller.user_id, catalog=catalog)
        plan_code = plans.current_plan_code(
            session=session, user_id=caller.user_id, catalog=catalog
        )
    return UsageOut(
        plan=catalog.plan(plan_code).name,
        meters=[
            MeterOut(metric="exports", used=usage.exports, limit=limits.monthly_exports),
            MeterOut(
                metric="processing_minutes",
                used=usage.processing_minutes,
                limit=limits.monthly_minutes,
            ),
        ],
        resets_at=usage.resets_at,
    )
