"""Generators for engine tests: real renders (the built-in generator at a tiny size) wrapped in
the behaviours a test needs. Plug-ins for worker processes too (GENERATOR=module:Class)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from dashboard_app.integrations.generators.base import (
    GeneratorError,
    ProgressCallback,
    RenderRequest,
    RenderResult,
)
from dashboard_app.integrations.generators.builtin import BuiltinGenerator


def tiny() -> BuiltinGenerator:
    return BuiltinGenerator(height=128, seconds=0.5, fps=8)


class CountingGenerator:
    """Renders for real and counts its calls."""

    name = "counting"

    def __init__(self) -> None:
        self.inner = tiny()
        self.calls = 0
        self.lock = threading.Lock()

    def render(self, request: RenderRequest, report: ProgressCallback) -> RenderResult:
        with self.lock:
            self.calls += 1
        return self.inner.render(request, report)


class FlakyGenerator(CountingGenerator):
    """Fails its first `failures` calls, then renders."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def render(self, request: RenderRequest, report: ProgressCallback) -> RenderResult:
        with self.lock:
            self.calls += 1
            failing = self.calls <= self.failures
        if failing:
            report(0.1)
            raise GeneratorError(f"the model crashed (call {self.calls})")
        return self.inner.render(request, report)


class BrokenGenerator(CountingGenerator):
    def render(self, request: RenderRequest, report: ProgressCallback) -> RenderResult:
        with self.lock:
            self.calls += 1
        report(0.1)
        raise GeneratorError("the model crashed")


class GatedGenerator:
    """Reports progress, then keeps reporting until its gate opens, then renders. The gate is a
    file (so a test can open it for another process): TEST_GATE_FILE, or `gate`."""

    name = "gated"

    def __init__(self, gate: Path | None = None) -> None:
        self.gate = gate or Path(os.environ["TEST_GATE_FILE"])
        self.inner = tiny()
        self.started = threading.Event()
        self.stopped_by: BaseException | None = None

    def render(self, request: RenderRequest, report: ProgressCallback) -> RenderResult:
        fraction = 0.05
        try:
            report(fraction)
            self.started.set()
            while not self.gate.exists():
                time.sleep(0.05)  # a slow model: the test opens the gate when it is ready
                fraction = min(0.5, fraction + 0.01)
                report(fraction)
        except BaseException as stopped:
            self.stopped_by = stopped
            raise
        return self.inner.render(request, report)


class NullGenerator:
    """Does no work: a fixed tiny result at once (benchmarks measure the engine around it)."""

    name = "null"

    def render(self, request: RenderRequest, report: ProgressCallback) -> RenderResult:
        from dashboard_app.integrations.generators.base import MediaFile

        report(1.0)
        media = MediaFile(
            data=b"\x00\x00\x00\x18ftypmp42", content_type="video/mp4", extension="mp4"
        )
        thumbnail = MediaFile(data=b"RIFF0000WEBP", content_type="image/webp", extension="webp")
        return RenderResult(media=media, thumbnail=thumbnail, poster=None, width=36, height=64)


class TopicGatedGenerator:
    """The app's generator in browser tests (GENERATOR=tests.support.generators:...): the
    built-in generator at the size the settings give (REEL_HEIGHT, REEL_SECONDS, REEL_FPS), held
    back by words in the topic, so a test decides when a render moves on:
    - `gate-NAME`: reports slowly rising progress until the file TEST_GATE_DIR/NAME exists;
    - `fail-NAME`: fails for good (no retry) while TEST_GATE_DIR/NAME does not exist."""

    name = "topic-gated"

    def __init__(self) -> None:
        from dashboard_app.engine.runtime import load_generator
        from dashboard_app.settings import Settings

        self.inner = load_generator(Settings(generator="builtin"))
        self.gates = Path(os.environ["TEST_GATE_DIR"])

    def _word(self, topic: str, prefix: str) -> str | None:
        return next((w[len(prefix) :] for w in topic.split() if w.startswith(prefix)), None)

    def render(self, request: RenderRequest, report: ProgressCallback) -> RenderResult:
        from dashboard_app.integrations.generators.base import GeneratorRefused

        failing = self._word(request.topic, "fail-")
        if failing and not (self.gates / failing).exists():
            report(0.1)
            raise GeneratorRefused("The renderer refused this topic.")
        gate = self._word(request.topic, "gate-")
        fraction = 0.02
        if gate:
            report(fraction)
            while not (self.gates / gate).exists():
                time.sleep(0.1)  # a slow model: the test opens the gate when it has seen enough
                fraction = min(0.5, fraction + 0.01)
                report(fraction)
        start = fraction
        return self.inner.render(request, lambda done: report(start + (1 - start) * done))
