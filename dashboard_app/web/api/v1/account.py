"""The caller's own account: `GET /me` (who, balances, recent generations) and the profile
(`GET /profile`, `PATCH /profile` with only the fields sent changed, validated as the page
validates them)."""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, credits, profiles
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.dashboard import member_overview
from dashboard_app.domain.generation import library
from dashboard_app.models import Profile, User
from dashboard_app.models.users import THEMES
from dashboard_app.web.api.common import client_ip
from dashboard_app.web.api.v1.auth import ReadCaller, WriteCaller
from dashboard_app.web.api.v1.files import part_link
from dashboard_app.web.api.v1.problems import PROBLEM_RESPONSES

router = APIRouter(tags=["account"], responses=PROBLEM_RESPONSES)
RECENT_GENERATIONS = 8


class BalancesOut(BaseModel):
    current: int = Field(description="Credits available to spend now.")
    reserved: int = Field(description="Credits held for generations in progress.")
    lifetime: int = Field(description="Credits ever received.")
    spent: int = Field(description="Credits ever spent.")


class MediaOut(BaseModel):
    """Expiring links (FILE_LINK_SECONDS) to a result's files, usable without credentials:
    fetch them soon, do not store them (null when the result has no such file)."""

    media: str | None = None
    poster: str | None = None
    thumbnail: str | None = None


class RecentGenerationOut(BaseModel):
    generation_id: int | None
    asset_id: int
    title: str
    kind: str
    platform: str
    created_at: datetime
    saved: bool = Field(description="Whether the result is saved to the library.")
    links: MediaOut


class MeOut(BaseModel):
    id: int
    name: str
    email: str
    plan: str
    balances: BalancesOut
    recent_generations: list[RecentGenerationOut]


@router.get("/me", response_model=MeOut, summary="The caller's account summary")
def get_me(caller: ReadCaller) -> MeOut:
    with session_scope() as session:
        user = accounts.get_user(session=session, user_id=caller.user_id)
        credits.expire_credits(session=session, user_id=caller.user_id)
        overview = member_overview(session=session, user_id=caller.user_id, catalog=get_catalog())
        recent = library.recent_results(
            session=session, user_id=caller.user_id, limit=RECENT_GENERATIONS
        )
        balances = overview.balances
        return MeOut(
            id=caller.user_id,
            name=accounts.display_name_of(session=session, user=user),
            email=user.email,
            plan=overview.plan_name,
            balances=BalancesOut(
                current=balances.available,
                reserved=balances.reserved,
                lifetime=balances.lifetime,
                spent=balances.spent,
            ),
            recent_generations=[
                RecentGenerationOut(
                    generation_id=asset.generation_id,
                    asset_id=asset.id or 0,
                    title=asset.title,
                    kind=asset.kind,
                    platform=asset.platform,
                    created_at=asset.created_at,
                    saved=asset.saved_at is not None,
                    links=MediaOut(
                        media=part_link(caller.user_id, asset, "media"),
                        poster=part_link(caller.user_id, asset, "poster"),
                        thumbnail=part_link(caller.user_id, asset, "thumbnail"),
                    ),
                )
                for asset in recent
            ],
        )


class ProfileOut(BaseModel):
    email: str = Field(description="Changed on the profile page (a confirmation link is sent).")
    display_name: str
    address_line1: str
    address_line2: str
    address_city: str
    address_postal_code: str
    address_country: str = Field(description="Two-letter country code, or empty.")
    wallet_address: str = Field(description="0x and 40 hexadecimal characters, or empty.")
    theme: str = Field(description="system, light or dark.")
    default_platform: str = Field(description="A platform code of the catalog, or empty.")
    email_notifications: bool
    updated_at: datetime


def _no_defaults(schema: dict[str, Any]) -> None:
    # A field left out is left unchanged: the document shows no default for it.
    for field in schema.get("properties", {}).values():
        field.pop("default", None)


NO_CONTROL_CHARACTERS = r"^[^\u0000-\u001f]*$"
PLATFORM_CODES = ["", *get_catalog().platforms]


def _rule(**documented: object) -> Any:
    """A field whose rules the document states and the domain applies (profiles._clean): the
    server answers a break with the page's own message (a 400 naming the field), so the model
    checks only the type and an outer bound."""
    return Field(default="", max_length=1000, json_schema_extra=documented)


class ProfilePatch(BaseModel):
    """Only the fields sent change; the others keep their values."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_defaults)

    display_name: str = _rule(
        maxLength=profiles.TEXT_LIMITS["display_name"], pattern=NO_CONTROL_CHARACTERS
    )
    address_line1: str = _rule(
        maxLength=profiles.TEXT_LIMITS["address_line1"], pattern=NO_CONTROL_CHARACTERS
    )
    address_line2: str = _rule(
        maxLength=profiles.TEXT_LIMITS["address_line2"], pattern=NO_CONTROL_CHARACTERS
    )
    address_city: str = _rule(
        maxLength=profiles.TEXT_LIMITS["address_city"], pattern=NO_CONTROL_CHARACTERS
    )
    address_postal_code: str = _rule(
        pattern=f"^$|{profiles.POSTAL_PATTERN.pattern}",
        description="3 to 20 letters, digits, spaces or dashes; empty for none.",
    )
    address_country: str = _rule(
        pattern="^([A-Za-z]{2})?$", description="Two-letter country code; empty for none."
    )
    wallet_address: str = _rule(
        pattern=f"^$|{profiles.WALLET_PATTERN.pattern}",
        description="0x and 40 hexadecimal characters; empty for none.",
    )
    theme: str = _rule(enum=list(THEMES))
    default_platform: str = _rule(
        enum=PLATFORM_CODES, description="A platform code of the catalog; empty for none."
    )
    email_notifications: bool = True


CHANGEABLE = tuple(field.name for field in dataclass_fields(profiles.ProfileChanges))


def _profile_out(user: User, profile: Profile) -> ProfileOut:
    return ProfileOut(
        email=user.email,
        **{name: getattr(profile, name) for name in CHANGEABLE},
        updated_at=profile.updated_at,
    )


@router.get("/profile", response_model=ProfileOut, summary="The caller's profile")
def get_profile(caller: ReadCaller) -> ProfileOut:
    with session_scope() as session:
        user = accounts.get_user(session=session, user_id=caller.user_id)
        return _profile_out(user, profiles.get_profile(session=session, user_id=caller.user_id))


@router.patch(
    "/profile",
    response_model=ProfileOut,
    summary="Change some fields of the caller's profile",
    description="Only the fields sent change. Values are checked as the profile page checks "
    "them: a refused value is a 400 problem naming each field in `errors`, and nothing is saved.",
)
def patch_profile(patch: ProfilePatch, caller: WriteCaller, request: Request) -> ProfileOut:
    sent = patch.model_dump(include=patch.model_fields_set)
    with session_scope() as session:
        user = accounts.get_user(session=session, user_id=caller.user_id)
        current = profiles.get_profile(session=session, user_id=caller.user_id)
        changes = profiles.ProfileChanges(
            **{name: sent.get(name, getattr(current, name)) for name in CHANGEABLE}
        )
        profile = profiles.update_profile(
            session=session, user=user, changes=changes, ip_address=client_ip(request)
        )
        return _profile_out(user, profile)
