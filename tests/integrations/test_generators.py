"""Generators: the built-in one makes real, playable media; the HTTP one speaks the contract
with a real service (tests/support/generation_service.py), slow, failing or rate limiting."""

from __future__ import annotations

import io
from collections.abc import Iterator

import av
import pytest
from PIL import Image

from dashboard_app.integrations.generators.base import (
    GeneratorError,
    GeneratorRefused,
    RenderRequest,
    Style,
)
from dashboard_app.integrations.generators.builtin import BuiltinGenerator
from dashboard_app.integrations.generators.http import HttpGenerator, HttpGeneratorConfig
from tests.support.generation_service import TOKEN, GenerationService

STYLE = Style(
    background="#0f0c29",
    accent="#ff2e88",
    text="#ffffff",
    platform_name="TikTok",
    platform_accent="#25f4ee",
    preset_name="Neon",
)


def request(format: str = "video", key: str = "generation-1-variant-1-r0") -> RenderRequest:
    return RenderRequest(
        key=key,
        title="Five calm mornings",
        topic="Habits that make mornings calmer",
        platform="tiktok",
        preset="neon",
        format=format,  # type: ignore[arg-type]
        position=0,
        style=STYLE,
    )


class Progress:
    def __init__(self) -> None:
        self.seen: list[float] = []

    def __call__(self, fraction: float) -> None:
        self.seen.append(fraction)


def test_the_builtin_generator_makes_a_playable_9_16_h264_reel_with_poster_and_thumbnail() -> None:
    progress = Progress()
    result = BuiltinGenerator(height=320, seconds=1.0, fps=12).render(request(), progress)

    with av.open(io.BytesIO(result.media.data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (180, 320)
        assert container.duration / 1_000_000 == pytest.approx(1.0, abs=0.1)
        assert sum(1 for _ in container.decode(video=0)) == 12
    # +faststart: the index (moov) comes before the media data (mdat), so playback starts early.
    assert result.media.data.find(b"moov") < result.media.data.find(b"mdat")
    assert (result.media.content_type, result.width, result.height) == ("video/mp4", 180, 320)
    assert result.duration_ms == 1000
    assert result.poster is not None
    poster = Image.open(io.BytesIO(result.poster.data))
    thumbnail = Image.open(io.BytesIO(result.thumbnail.data))
    assert (poster.format, poster.size) == ("WEBP", (180, 320))
    assert (thumbnail.format, thumbnail.width) == ("WEBP", 270)
    assert progress.seen[0] == 0.0 and progress.seen[-1] == 1.0
    assert progress.seen == sorted(progress.seen) and len(progress.seen) > 3


def test_the_builtin_image_format_is_1080_by_1920() -> None:
    result = BuiltinGenerator(height=320, seconds=1.0).render(request("image"), Progress())
    image = Image.open(io.BytesIO(result.media.data))
    assert (image.format, image.size) == ("JPEG", (1080, 1920))
    assert (result.width, result.height, result.poster, result.duration_ms) == (
        1080,
        1920,
        None,
        None,
    )


def test_a_progress_callback_that_raises_stops_the_render() -> None:
    class Stop(Exception):
        pass

    def stop_halfway(fraction: float) -> None:
        if fraction > 0.4:
            raise Stop

    with pytest.raises(Stop):
        BuiltinGenerator(height=320, seconds=1.0, fps=12).render(request(), stop_halfway)


# --- The HTTP generator against a real service -------------------------------------------------


@pytest.fixture(scope="module")
def service() -> Iterator[GenerationService]:
    server = GenerationService()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def generator(service: GenerationService) -> Iterator[HttpGenerator]:
    service.reset()
    client = HttpGenerator(
        HttpGeneratorConfig(
            base_url=service.url,
            token=TOKEN,
            timeout_seconds=2.0,
            poll_seconds=0.01,
            max_attempts=4,
            backoff_seconds=0.01,
        )
    )
    yield client
    client.close()


def test_a_render_is_submitted_polled_and_downloaded(service, generator) -> None:
    service.modes.polls_before_done = 3
    progress = Progress()
    result = generator.render(request(key="normal-1"), progress)
    with av.open(io.BytesIO(result.media.data)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    assert result.poster is not None and result.thumbnail.content_type == "image/webp"
    assert (result.width, result.height) == (36, 64)
    assert service.count("POST", "/v1/renders") == 1
    assert service.count("GET", "/v1/renders/") == 4
    # The progress moved while the service was rendering, then reached the end.
    assert [round(p, 2) for p in progress.seen] == [0.0, 0.25, 0.5, 0.75, 0.95, 1.0]


def test_submitting_the_same_render_twice_reuses_it(service, generator) -> None:
    generator.render(request(key="same-key"), Progress())
    generator.render(request(key="same-key"), Progress())
    assert service.by_key["same-key"] in service.renders
    assert sum(1 for key in service.by_key if key == "same-key") == 1
    assert len({r.id for r in service.renders.values() if r.request["key"] == "same-key"}) == 1


def test_server_errors_and_rate_limits_are_retried_with_backoff(service, generator) -> None:
    service.modes.failing_requests = 2
    generator.render(request(key="flaky-1"), Progress())
    assert service.count("POST", "/v1/renders", 503) == 2
    assert service.count("POST", "/v1/renders", 202) == 1

    service.reset()
    service.modes.rate_limited_requests = 3
    generator.render(request(key="limited-1"), Progress())
    assert service.count("POST", "/v1/renders", 429) == 3
    assert service.count("POST", "/v1/renders", 202) == 1


def test_a_service_that_keeps_failing_is_reported_after_the_last_attempt(service, generator):
    service.modes.failing_requests = 10
    with pytest.raises(GeneratorError, match="after 4 attempts: HTTP 503"):
        generator.render(request(key="down-1"), Progress())
    assert service.count("POST", "/v1/renders", 503) == 4


def test_a_service_slower_than_the_timeout_is_retried_then_reported(service) -> None:
    impatient = HttpGenerator(
        HttpGeneratorConfig(
            base_url=service.url,
            token=TOKEN,
            timeout_seconds=0.2,
            max_attempts=2,
            backoff_seconds=0.01,
        )
    )
    service.modes.hang_seconds = 0.5
    with pytest.raises(GeneratorError, match="after 2 attempts: ReadTimeout"):
        impatient.render(request(key="slow-1"), Progress())
    impatient.close()


def test_refusals_are_not_retried(service, generator) -> None:
    wrong_token = HttpGenerator(
        HttpGeneratorConfig(base_url=service.url, token="wrong", max_attempts=4)
    )
    with pytest.raises(GeneratorRefused, match="HTTP 401"):
        wrong_token.render(request(key="token-1"), Progress())
    wrong_token.close()
    assert service.count("POST", "/v1/renders", 401) == 1

    service.modes.render_failure = "permanent"
    with pytest.raises(GeneratorRefused, match="model crashed"):
        generator.render(request(key="permanent-1"), Progress())
    service.modes.render_failure = "retryable"
    with pytest.raises(GeneratorError, match="model crashed") as failed:
        generator.render(request(key="retryable-1"), Progress())
    assert not isinstance(failed.value, GeneratorRefused)
