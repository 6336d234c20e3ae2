"""Generations over the API: create one (with an Idempotency-Key), list them, read one with its
progress and its variants' media links, regenerate, cancel. The domain owns every rule
(dashboard_app/domain/generation); the engine runs the work (dashboard_app/engine/actions)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from dashboard_app.db import session_scope
from dashboard_app.domain.catalog import get_catalog
from dashboard_app.domain.errors import NotFound
from dashboard_app.domain.generation import review
from dashboard_app.engine import actions
from dashboard_app.engine.client import get_client
from dashboard_app.models import Generation
from dashboard_app.models.jobs import GENERATION_STATUSES
from dashboard_app.web import routes
from dashboard_app.web.api.v1.auth import ReadCaller, WriteCaller
from dashboard_app.web.api.v1.files import links_expire_at, part_link
from dashboard_app.web.api.v1.paging import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page
from dashboard_app.web.api.v1.problems import (
    PROBLEM_RESPONSES,
    Problem,
)

CATALOG = get_catalog()
PATH = "/generations"
# What the header may hold: 1 to 200 printable ASCII characters, not starting with a space.
IDEMPOTENCY_KEY = r"^[!-~][ -~]{0,199}$"

Status = Literal[GENERATION_STATUSES]  # type: ignore[valid-type]
Platform = Literal[tuple(CATALOG.platforms)]  # type: ignore[valid-type]
Preset = Literal[tuple(CATALOG.presets)]  # type: ignore[valid-type]

router = APIRouter(tags=["generations"])


# --- Shapes -------------------------------------------------------------------------------------


class GenerationCreate(BaseModel):
    """What Create asks for. The catalog lists the platforms and presets."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(min_length=1, max_length=CATALOG.generation.max_topic_length)
    title: str | None = Field(default=None, max_length=120)
    platform: Platform
    preset: Preset = Field(description="Not every preset makes images")
    format: Literal["video", "image"]
    variants: int = Field(ge=1, le=CATALOG.generation.max_variants)


class GenerationAccepted(BaseModel):
    id: int
    draft_id: int | None
    status: Status
    url: str = Field(description="Where to poll the generation")


class VariantOut(BaseModel):
    id: int
    position: int = Field(description="0 for the first variant")
    status: Status
    progress: int = Field(ge=0, le=100)
    error: str | None
    revision: int
    credits_cost: int
    kind: Literal["video", "image"] | None = Field(description="Known once the result is stored")
    saved: bool = Field(description="In the library")
    library_id: int | None = Field(description="The library item, once saved")
    media_url: str | None
    poster_url: str | None
    thumbnail_url: str | None


class GenerationSummary(BaseModel):
    id: int
    draft_id: int | None
    status: Status
    progress: int = Field(ge=0, le=100)
    title: str
    topic: str
    platform: str
    preset: str
    format: Literal["video", "image"]
    variant_count: int
    credits_cost: int
    attempt: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class GenerationOut(GenerationSummary):
    variants: list[VariantOut]
    links_expire_at: datetime = Field(description="When the media links stop working")


class RegenerateRequest(BaseModel):
    """Name a variant of a finished job to render it again; leave it out to run a failed job
    again as a new attempt."""

    model_config = ConfigDict(extra="forbid")

    variant_id: int | None = None


# --- Views --------------------------------------------------------------------------------------


def generation_summary(generation: Generation) -> GenerationSummary:
    assert generation.id is not None
    return GenerationSummary(
        id=generation.id,
        draft_id=generation.draft_id,
        status=generation.status,
        progress=generation.progress,
        title=generation.title,
        topic=generation.prompt,
        platform=generation.platform,
        preset=generation.preset,
        format=generation.format,  # type: ignore[arg-type]
        variant_count=generation.variant_count,
        credits_cost=generation.credits_cost,
        attempt=generation.attempt,
        error=generation.error,
        created_at=generation.created_at,
        started_at=generation.started_at,
        finished_at=generation.finished_at,
        updated_at=generation.updated_at,
    )


def generation_view(view: review.ReviewView, viewer_id: int) -> GenerationOut:
    """A generation as the API shows it to its owner: progress, and each variant with links to
    its result (for as long as `links_expire_at`) once stored."""
    variants = []
    for found in view.variants:
        variant, asset = found.variant, found.asset
        live = asset if asset is not None and asset.deleted_at is None else None
        assert variant.id is not None
        variants.append(
            VariantOut(
                id=variant.id,
                position=variant.position,
                status=variant.status,  # type: ignore[arg-type]
                progress=variant.progress,
                error=variant.error,
                revision=variant.revision,
                credits_cost=variant.credits_cost,
                kind=live.kind if live is not None else None,  # type: ignore[arg-type]
                saved=live is not None and live.saved_at is not None,
                library_id=live.id if live is not None and live.saved_at is not None else None,
                media_url=part_link(viewer_id, live, "media"),
                poster_url=part_link(viewer_id, live, "poster"),
                thumbnail_url=part_link(viewer_id, live, "thumbnail"),
            )
        )
    summary = generation_summary(view.generation)
    return GenerationOut(
        **summary.model_dump(), variants=variants, links_expire_at=links_expire_at()
    )


def read_generation(user_id: int, generation_id: int) -> GenerationOut:
    with session_scope() as session:
        view = review.review(session=session, user_id=user_id, generation_id=generation_id)
        return generation_view(view, user_id)


def generation_url(generation_id: int) -> str:
    return f"{routes.API_V1}{PATH}/{generation_id}"


def domain_key(header: str) -> str:
    """The domain's form key for an API Idempotency-Key: any printable text becomes 52 safe
    characters, the same for the same header; the domain scopes it to the member."""
    return "api-" + hashlib.sha256(header.encode()).hexdigest()[:48]


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


# What the work routes answer besides PROBLEM_RESPONSES.
WORK_RESPONSES: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    402: _problem("Not enough credits for this work: buy credits and try again."),
    409: _problem(
        "Not possible now (see `detail`), or the Idempotency-Key was used before "
        "for another request."
    ),
    429: _problem("Too many calls, or a plan limit reached: wait the `Retry-After` seconds."),
}


# --- Routes -------------------------------------------------------------------------------------


@router.post(
    PATH,
    status_code=202,
    response_model=GenerationAccepted,
    summary="Create a generation",
    responses={
        202: {
            "description": "Queued (or, for a repeated Idempotency-Key, the same generation)",
            "headers": {
                "Location": {"description": "The generation", "schema": {"type": "string"}}
            },
        },
        **WORK_RESPONSES,
    },
)
def create_generation(
    request: GenerationCreate,
    response: Response,
    caller: WriteCaller,
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            pattern=IDEMPOTENCY_KEY,
            description="Your own id for this request: sent again with the same body, it "
            "answers the same generation and charges nothing more; with another body, 409.",
        ),
    ],
) -> GenerationAccepted:
    """Queue a generation; its cost is held from the caller's credits until it is delivered."""
    submitted = actions.submit_and_enqueue(
        engine=None,
        client=get_client(),
        catalog=CATALOG,
        user_id=caller.user_id,
        idempotency_key=domain_key(idempotency_key),
        **request.model_dump(),
    )
    generation = submitted.generation
    assert generation.id is not None
    url = generation_url(generation.id)
    response.headers["Location"] = url
    return GenerationAccepted(
        id=generation.id, draft_id=generation.draft_id, status=generation.status, url=url
    )


@router.get(
    PATH,
    response_model=Page[GenerationSummary],
    summary="List generations, newest first",
    responses=PROBLEM_RESPONSES,
)
def list_generations(
    caller: ReadCaller,
    status: Status | None = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> Page[GenerationSummary]:
    with session_scope() as session:
        page = review.list_jobs(
            session=session, user_id=caller.user_id, status=status, cursor=cursor, limit=limit
        )
        return Page[GenerationSummary](
            items=[generation_summary(job) for job in page.jobs], next_cursor=page.next_cursor
        )


@router.get(
    f"{PATH}/{{generation_id}}",
    response_model=GenerationOut,
    summary="A generation with its progress and its variants' media links",
    responses=PROBLEM_RESPONSES,
)
def get_generation(generation_id: int, caller: ReadCaller) -> GenerationOut:
    return read_generation(caller.user_id, generation_id)


@router.post(
    f"{PATH}/{{generation_id}}/regenerate",
    status_code=202,
    response_model=GenerationOut,
    summary="Render a variant again, or run a failed generation again",
    responses=WORK_RESPONSES,
)
def regenerate(
    generation_id: int,
    caller: WriteCaller,
    request: Annotated[RegenerateRequest | None, Body()] = None,
) -> GenerationOut:
    """With `variant_id`: render that variant of a finished generation again, under a hold of
    its own. Without: run a failed generation again as a new attempt, its cost held again."""
    variant_id = request.variant_id if request is not None else None
    if variant_id is None:
        actions.retry(
            engine=None,
            client=get_client(),
            catalog=CATALOG,
            user_id=caller.user_id,
            generation_id=generation_id,
        )
    else:
        with session_scope() as session:
            # The variant must be of this generation of the caller's: else 404.
            review.owned_generation(
                session=session, user_id=caller.user_id, generation_id=generation_id
            )
            _, owner = review.owned_variant(
                session=session, user_id=caller.user_id, variant_id=variant_id
            )
            if owner.id != generation_id:
                raise NotFound("No such variant")
        actions.regenerate(
            engine=None,
            client=get_client(),
            catalog=CATALOG,
            user_id=caller.user_id,
            variant_id=variant_id,
        )
    return read_generation(caller.user_id, generation_id)


@router.post(
    f"{PATH}/{{generation_id}}/cancel",
    response_model=GenerationOut,
    summary="Cancel a generation in flight (or its regenerations in flight)",
    responses=WORK_RESPONSES,
)
def cancel(generation_id: int, caller: WriteCaller) -> GenerationOut:
    """The held credits come back at once; the worker stops at its next progress report."""
    actions.cancel(
        engine=None, client=get_client(), user_id=caller.user_id, generation_id=generation_id
    )
    return read_generation(caller.user_id, generation_id)
