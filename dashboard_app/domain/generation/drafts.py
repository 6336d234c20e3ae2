"""Drafts: the Create form kept as the member left it ("Save as draft"), listed for "Continue
draft" until submitted. A draft may be incomplete, but what it holds must make sense."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import InvalidInput, NotFound
from dashboard_app.domain.generation.options import (
    MAX_TITLE,
    check_count,
    check_platform,
    check_preset,
)
from dashboard_app.domain.ids import record_id
from dashboard_app.models import Draft
from dashboard_app.models.base import utcnow
from dashboard_app.models.jobs import FORMATS

NOT_FOUND = "No such draft"


def _text(value: object, field: str, longest: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput("Must be text", field=field)
    text = " ".join(value.split())
    if len(text) > longest:
        raise InvalidInput(f"At most {longest} characters", field=field)
    return text


def get_draft(*, session: Session, user_id: int, draft_id: object) -> Draft:
    if record_id(draft_id) is None:
        raise NotFound(NOT_FOUND)
    draft = session.get(Draft, draft_id)
    if draft is None or draft.user_id != user_id:
        raise NotFound(NOT_FOUND)
    return draft


def save_draft(
    *,
    session: Session,
    user_id: int,
    catalog: Catalog,
    draft_id: object = None,
    title: object = None,
    topic: object = None,
    platform: object = None,
    preset: object = None,
    format: object = None,
    variants: object = None,
    now: datetime | None = None,
) -> Draft:
    """Create or update an open draft with whatever the member filled in so far."""
    now = now or utcnow()
    values = {
        "title": _text(title, "title", MAX_TITLE),
        "prompt": _text(topic, "topic", catalog.generation.max_topic_length),
        "platform": check_platform(platform, catalog=catalog) if platform not in (None, "") else "",
    }
    options: dict[str, object] = {}
    if preset not in (None, ""):
        options["preset"] = check_preset(preset, catalog=catalog)
    if format not in (None, ""):
        if format not in FORMATS:
            raise InvalidInput("Choose short video or image", field="format")
        options["format"] = format
    if variants is not None:
        options["variants"] = check_count(variants, catalog=catalog)
    if draft_id is None:
        draft = Draft(user_id=user_id, created_at=now)
    else:
        draft = get_draft(session=session, user_id=user_id, draft_id=draft_id)
        if draft.submitted_at is not None:
            raise InvalidInput("This draft was already submitted", field="draft_id")
    draft.title, draft.prompt, draft.platform = (
        values["title"],
        values["prompt"],
        values["platform"],
    )
    draft.options = options
    draft.updated_at = now
    session.add(draft)
    session.flush()
    return draft


def open_drafts(*, session: Session, user_id: int, limit: int = 20) -> list[Draft]:
    return list(
        session.exec(
            select(Draft)
            .where(Draft.user_id == user_id, col(Draft.submitted_at).is_(None))
            .order_by(col(Draft.updated_at).desc(), col(Draft.id).desc())
            .limit(max(1, min(limit, 100)))
        )
    )


def delete_draft(*, session: Session, user_id: int, draft_id: object) -> None:
    draft = get_draft(session=session, user_id=user_id, draft_id=draft_id)
    if draft.submitted_at is not None:
        raise InvalidInput("A submitted draft belongs to its job", field="draft_id")
    session.delete(draft)
    session.flush()
