"""What a member asks for on Create, validated against the catalog, and what it costs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dashboard_app.domain.catalog import Catalog
from dashboard_app.domain.errors import InvalidInput

MAX_TITLE = 120
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@dataclass(frozen=True)
class GenerationRequest:
    title: str
    topic: str
    platform: str
    preset: str
    format: str
    variants: int


def _text(value: object, field: str, label: str, *, required: bool, longest: int) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{label} must be text", field=field)
    text = " ".join(value.split())
    if required and not text:
        raise InvalidInput(f"Describe the {label.lower()} of your reel", field=field)
    if len(text) > longest:
        raise InvalidInput(f"{label} can be at most {longest} characters", field=field)
    return text


def check_count(value: object, *, catalog: Catalog) -> int:
    most = catalog.generation.max_variants
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"Choose 1 to {most} variants", field="variants")
    if not 1 <= value <= most:
        raise InvalidInput(f"Choose 1 to {most} variants", field="variants")
    return value


def check_platform(value: object, *, catalog: Catalog) -> str:
    if not isinstance(value, str) or value not in catalog.platforms:
        names = ", ".join(p.name for p in catalog.platforms.values())
        raise InvalidInput(f"Choose a platform: {names}", field="platform")
    return value


def check_preset(value: object, *, catalog: Catalog) -> str:
    if not isinstance(value, str) or value not in catalog.presets:
        raise InvalidInput("Choose one of the listed presets", field="preset")
    return value


def read_request(
    *,
    catalog: Catalog,
    title: object,
    topic: object,
    platform: object,
    preset: object,
    format: object,
    variants: object,
) -> GenerationRequest:
    """The request, or InvalidInput naming the first field that is wrong."""
    topic_text = _text(
        topic, "topic", "Topic", required=True, longest=catalog.generation.max_topic_length
    )
    title_text = _text(title, "title", "Title", required=False, longest=MAX_TITLE)
    platform_code = check_platform(platform, catalog=catalog)
    preset_code = check_preset(preset, catalog=catalog)
    allowed = catalog.presets[preset_code].formats
    if not isinstance(format, str) or format not in allowed:
        kinds = " or ".join("short video" if f == "video" else "image" for f in allowed)
        raise InvalidInput(f"{catalog.presets[preset_code].name} makes {kinds}", field="format")
    count = check_count(variants, catalog=catalog)
    return GenerationRequest(
        title=title_text or topic_text[:MAX_TITLE],
        topic=topic_text,
        platform=platform_code,
        preset=preset_code,
        format=format,
        variants=count,
    )


def cost_of(*, catalog: Catalog, preset: str, variants: int) -> int:
    return catalog.presets[preset].credits_per_variant * variants


def check_idempotency_key(key: object) -> str:
    if not isinstance(key, str) or not IDEMPOTENCY_KEY.match(key):
        raise InvalidInput("This form has expired; reload the page and try again", field="key")
    return key
