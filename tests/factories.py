"""Test data built through the service layer, as the product builds it."""

from __future__ import annotations

import itertools
import uuid

from sqlalchemy.engine import Engine

from dashboard_app.db import session_scope
from dashboard_app.domain import accounts, credits
from dashboard_app.models import User

DEFAULT_PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def unique_email(prefix: str = "member") -> str:
    return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:8]}@example.com"


def create_member(
    engine: Engine,
    *,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
    display_name: str = "Test Member",
    role: str = "member",
    credits_granted: int = 0,
) -> User:
    with session_scope(engine) as session:
        user = accounts.create_user(
            session=session,
            email=email or unique_email(role),
            password=password,
            display_name=display_name,
            role=role,
            email_verified=True,
        )
        assert user.id is not None
        if credits_granted:
            credits.grant_credits(
                session=session,
                user_id=user.id,
                amount=credits_granted,
                idempotency_key=f"test-grant:{user.id}",
                reason="Test grant",
            )
        return user


def count_rows(engine: Engine, model: type, *conditions: object) -> int:
    """How many rows of `model` match `conditions`, read in a transaction of its own."""
    from sqlmodel import func, select

    with session_scope(engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*conditions)).one()


def delivered_result(
    engine: Engine,
    member_id: int,
    *,
    title: str,
    platform: str = "tiktok",
    kind: str = "video",
    saved: bool = True,
) -> tuple[int, int, int]:
    """A finished generation with one variant whose result is stored (and saved to the
    library): (generation id, variant id, asset id). No file is written."""
    from dashboard_app.domain.generation import review
    from dashboard_app.models import Asset, Generation, Variant
    from dashboard_app.models.base import utcnow

    extension = "mp4" if kind == "video" else "jpg"
    with session_scope(engine) as session:
        generation = Generation(
            user_id=member_id,
            idempotency_key=f"{member_id}:delivered-{uuid.uuid4().hex}",
            status="succeeded",
            progress=100,
            title=title,
            prompt=f"All about {title}",
            platform=platform,
            preset="neon",
            format=kind,
            credits_cost=10,
            finished_at=utcnow(),
        )
        session.add(generation)
        session.flush()
        asset = Asset(
            owner_id=member_id,
            generation_id=generation.id,
            kind=kind,
            title=title,
            search_text=title.lower(),
            storage_key=f"generations/{generation.id}/v1/r0/media.{extension}",
            thumbnail_key=f"generations/{generation.id}/v1/r0/thumbnail.webp",
            content_type="video/mp4" if kind == "video" else "image/jpeg",
            platform=platform,
            preset="neon",
        )
        session.add(asset)
        session.flush()
        variant = Variant(
            generation_id=generation.id,
            status="succeeded",
            progress=100,
            asset_id=asset.id,
            credits_cost=10,
            reservation_reference=f"generation:{generation.id}",
        )
        session.add(variant)
        session.flush()
        ids = (generation.id, variant.id, asset.id)
    if saved:
        with session_scope(engine) as session:
            review.save_variant(session=session, user_id=member_id, variant_id=ids[1])
    return ids  # type: ignore[return-value]


def synced_holdings(
    engine: Engine, member_id: int, wallet: str, *names: tuple[str, str], failure: str = ""
) -> None:
    """Set the member's wallet and store holdings read from it just now, as a refresh does:
    one token per (collection, name). With `failure`, a later refresh failed with it."""
    from dashboard_app.domain import holdings, profiles
    from dashboard_app.integrations.marketplace import Inventory, Nft

    with session_scope(engine) as session:
        profile = profiles.get_profile(session=session, user_id=member_id)
        profile.wallet_address = wallet
        session.add(profile)
    nfts = [
        Nft(
            contract="0x" + "12" * 20,
            token_id=str(number),
            collection=collection,
            name=name,
            image_url=f"https://img.example/{collection}/{number}.png",
            metadata={},
        )
        for number, (collection, name) in enumerate(names, start=1)
    ]
    with session_scope(engine) as session:
        holdings.replace_holdings(
            session=session,
            user_id=member_id,
            wallet=wallet.lower(),
            chain="ethereum",
            inventory=Inventory(nfts=nfts),
        )
        if failure:
            holdings.record_failure(session=session, user_id=member_id, error=failure)
