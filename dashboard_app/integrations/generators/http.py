"""A generator backed by an external generation service, over a submit-and-poll contract.

The contract (what a service must speak; tests/support/generation_service.py implements it):

    POST {base}/v1/renders                 Authorization: Bearer <token>
         Idempotency-Key: <request key>    JSON: key, title, topic, platform, preset, format,
                                           position, style {background, accent, text, ...}
      -> 202 {"id": "...", "status": "queued"}   (the same key returns the same render)
    GET  {base}/v1/renders/{id}
      -> 200 {"id", "status": "queued" | "running" | "succeeded" | "failed",
              "progress": 0.0-1.0, "error": str | null, "retryable": bool,
              "result": {"media_url", "thumbnail_url", "poster_url" | null, "content_type",
                         "width", "height", "duration_ms" | null} | null}
    GET  <any result URL>                  (same Authorization) -> the file's bytes

429 (honouring Retry-After) and 5xx answers, timeouts and dropped connections are retried with
exponential backoff; any other 4xx is a refusal. A render that fails with `retryable: false`
is a refusal too; any other failure is left to the engine's step retries.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from urllib.parse import urljoin

import httpx

from dashboard_app.integrations.generators.base import (
    GeneratorError,
    GeneratorRefused,
    MediaFile,
    ProgressCallback,
    RenderRequest,
    RenderResult,
)

EXTENSIONS = {"video/mp4": "mp4", "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class HttpGeneratorConfig:
    base_url: str
    token: str
    timeout_seconds: float = 10.0
    poll_seconds: float = 1.0
    max_attempts: int = 5  # per HTTP request, for 429, 5xx and transport errors
    backoff_seconds: float = 0.5  # doubled on each further attempt
    max_backoff_seconds: float = 30.0


class HttpGenerator:
    name = "http"

    def __init__(self, config: HttpGeneratorConfig) -> None:
        self.config = config
        self.client = httpx.Client(
            base_url=config.base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {config.token}"},
            timeout=httpx.Timeout(config.timeout_seconds, connect=min(5.0, config.timeout_seconds)),
            follow_redirects=True,
        )

    def close(self) -> None:
        self.client.close()

    # --- HTTP with retries ---------------------------------------------------------------------

    def _wait_before_retry(self, attempt: int, response: httpx.Response | None) -> None:
        delay = self.config.backoff_seconds * (2 ** (attempt - 1))
        if response is not None and response.status_code == 429:
            with contextlib.suppress(ValueError):
                delay = max(delay, float(response.headers.get("retry-after", "0")))
        time.sleep(min(delay, self.config.max_backoff_seconds))

    def _request(self, method: str, url: str, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
        last: str = ""
        for attempt in range(1, self.config.max_attempts + 1):
            response: httpx.Response | None = None
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.TransportError as error:  # timeouts, refused or dropped connections
                last = f"{type(error).__name__}: {error}"
            else:
                if response.status_code < 400:
                    return response
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code != 429 and response.status_code < 500:
                    raise GeneratorRefused(f"the generation service refused {method} {url}: {last}")
            if attempt < self.config.max_attempts:
                self._wait_before_retry(attempt, response)
        raise GeneratorError(
            f"the generation service did not answer {method} {url} after "
            f"{self.config.max_attempts} attempts: {last}"
        )

    def _json(self, response: httpx.Response) -> dict:
        try:
            data = response.json()
        except ValueError:
            raise GeneratorError(
                "the generation service answered with something not JSON"
            ) from None
        if not isinstance(data, dict):
            raise GeneratorError("the generation service answered with an unexpected shape")
        return data

    def _download(self, url: str, content_type: str | None = None) -> MediaFile:
        response = self._request("GET", urljoin(str(self.client.base_url), url))
        if len(response.content) > MAX_DOWNLOAD_BYTES:
            raise GeneratorRefused("the generation service sent a file larger than allowed")
        kind = (content_type or response.headers.get("content-type", "")).split(";")[0].strip()
        if kind not in EXTENSIONS:
            raise GeneratorRefused(f"the generation service sent an unexpected file type {kind!r}")
        return MediaFile(data=response.content, content_type=kind, extension=EXTENSIONS[kind])

    # --- The contract --------------------------------------------------------------------------

    def render(self, request: RenderRequest, report: ProgressCallback) -> RenderResult:
        report(0.0)
        body = asdict(request)
        submitted = self._json(
            self._request("POST", "v1/renders", json=body, headers={"Idempotency-Key": request.key})
        )
        render_id = submitted.get("id")
        if not isinstance(render_id, str) or not render_id:
            raise GeneratorError("the generation service did not say which render it started")
        while True:
            state = self._json(self._request("GET", f"v1/renders/{render_id}"))
            status = state.get("status")
            progress = state.get("progress")
            if isinstance(progress, int | float):
                report(max(0.0, min(0.95, float(progress))))
            if status == "succeeded":
                return self._collect(state.get("result"), report)
            if status == "failed":
                message = str(state.get("error") or "the render failed")[:500]
                if state.get("retryable") is False:
                    raise GeneratorRefused(f"the generation service could not render: {message}")
                raise GeneratorError(f"the generation service failed: {message}")
            if status not in ("queued", "running"):
                raise GeneratorError(f"the generation service reported status {status!r}")
            time.sleep(self.config.poll_seconds)

    def _collect(self, result: object, report: ProgressCallback) -> RenderResult:
        if not isinstance(result, dict) or not result.get("media_url"):
            raise GeneratorError("the generation service succeeded without a result")
        media = self._download(str(result["media_url"]), result.get("content_type"))
        thumbnail = self._download(str(result["thumbnail_url"]))
        poster = self._download(str(result["poster_url"])) if result.get("poster_url") else None
        try:
            width, height = int(result["width"]), int(result["height"])
            duration = result.get("duration_ms")
            duration_ms = int(duration) if duration is not None else None
        except (KeyError, TypeError, ValueError):
            raise GeneratorError("the generation service sent a result without its size") from None
        report(1.0)
        return RenderResult(
            media=media,
            thumbnail=thumbnail,
            poster=poster,
            width=width,
            height=height,
            duration_ms=duration_ms,
        )
