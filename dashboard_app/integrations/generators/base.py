"""What every generator receives, reports and returns. A generator turns one variant's request
into media bytes; the engine stores them, so a generator never touches storage or the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

# Called with the fraction done (0.0 to 1.0) as rendering moves. It may raise to stop the
# render (the job was cancelled or ran past its deadline); generators let that propagate.
ProgressCallback = Callable[[float], None]


class GeneratorError(RuntimeError):
    """A render failed in a way worth retrying (a crash, a busy or unreachable service)."""


class GeneratorRefused(GeneratorError):
    """The generator will never accept this request as it is; retrying cannot help."""


@dataclass(frozen=True)
class Style:
    background: str
    accent: str
    text: str
    platform_name: str
    platform_accent: str
    preset_name: str


@dataclass(frozen=True)
class RenderRequest:
    """One variant to make. `key` is stable for the variant's revision, so a generator that
    keeps its own state (an external service) can recognise a repeat of the same render."""

    key: str
    title: str
    topic: str
    platform: str
    preset: str
    format: Literal["video", "image"]
    position: int
    style: Style


@dataclass(frozen=True)
class MediaFile:
    data: bytes
    content_type: str
    extension: str


@dataclass(frozen=True)
class RenderResult:
    media: MediaFile
    thumbnail: MediaFile
    poster: MediaFile | None
    width: int
    height: int
    duration_ms: int | None = None


class Generator(Protocol):
    name: str

    def render(self, request: RenderRequest, report: ProgressCallback) -> RenderResult: ...
