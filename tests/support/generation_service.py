"""A generation service of our own that speaks the HTTP generator's submit-and-poll contract
(see dashboard_app/integrations/generators/http.py), with modes a test switches on: slow
renders, failing requests, rate limiting and failed renders. It renders with the built-in
generator at a tiny size, so results are real files."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dashboard_app.integrations.generators.base import RenderRequest, Style
from dashboard_app.integrations.generators.builtin import BuiltinGenerator
from tests.support.servers import free_port

TOKEN = "service-token"


@dataclass
class Modes:
    polls_before_done: int = 0  # slow: the render stays "running" for this many polls
    failing_requests: int = 0  # the next N requests get 503
    rate_limited_requests: int = 0  # the next N requests get 429 with Retry-After
    retry_after: str = "0"
    render_failure: str | None = None  # "retryable" or "permanent"
    hang_seconds: float = 0.0  # answer every request this late (a timeout)


@dataclass
class Render:
    id: str
    request: dict
    polls: int = 0
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    result: dict | None = None


class GenerationService:
    def __init__(self) -> None:
        self.port = free_port()
        self.modes = Modes()
        self.renders: dict[str, Render] = {}
        self.by_key: dict[str, str] = {}
        self.requests: list[tuple[str, str, int]] = []  # method, path, status
        self.lock = threading.Lock()
        self.generator = BuiltinGenerator(height=64, seconds=0.5, fps=4)
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # noqa: ANN002 - quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                service.handle(self, "POST")

            def do_GET(self) -> None:  # noqa: N802
                service.handle(self, "GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.modes = Modes()
            self.requests.clear()

    def count(self, method: str, prefix: str, status: int | None = None) -> int:
        return sum(
            1
            for m, path, s in self.requests
            if m == method and path.startswith(prefix) and (status is None or s == status)
        )

    # --- The contract --------------------------------------------------------------------------

    def _answer(
        self, handler, status: int, body: object, *, content_type="application/json", headers=None
    ) -> None:  # type: ignore[no-untyped-def]
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        # Recorded before answering: the client may count requests as soon as it has its answer.
        with self.lock:
            self.requests.append((handler.command, handler.path, status))
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def handle(self, handler, method: str) -> None:  # type: ignore[no-untyped-def]
        with self.lock:
            modes = self.modes
            if modes.failing_requests > 0:
                modes.failing_requests -= 1
                fail = 503
            elif modes.rate_limited_requests > 0:
                modes.rate_limited_requests -= 1
                fail = 429
            else:
                fail = 0
        if modes.hang_seconds:
            threading.Event().wait(modes.hang_seconds)
        if fail == 503:
            return self._answer(handler, 503, {"error": "busy"})
        if fail == 429:
            return self._answer(
                handler, 429, {"error": "slow down"}, headers={"Retry-After": modes.retry_after}
            )
        if handler.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._answer(handler, 401, {"error": "bad token"})
        path = handler.path
        if method == "POST" and path == "/v1/renders":
            length = int(handler.headers.get("Content-Length", "0"))
            body = json.loads(handler.rfile.read(length) or b"{}")
            key = handler.headers.get("Idempotency-Key") or str(uuid.uuid4())
            with self.lock:
                render_id = self.by_key.get(key)
                if render_id is None:
                    render_id = uuid.uuid4().hex
                    self.by_key[key] = render_id
                    self.renders[render_id] = Render(id=render_id, request=body)
            return self._answer(handler, 202, {"id": render_id, "status": "queued"})
        if method == "GET" and path.startswith("/v1/renders/"):
            render = self.renders.get(path.removeprefix("/v1/renders/"))
            if render is None:
                return self._answer(handler, 404, {"error": "no such render"})
            return self._answer(handler, 200, self._state(render))
        if method == "GET" and path.startswith("/files/"):
            _, _, render_id, name = path.split("/", 3)
            render = self.renders.get(render_id)
            if render is None or name not in render.files:
                return self._answer(handler, 404, {"error": "no such file"})
            content_type, data = render.files[name]
            return self._answer(handler, 200, data, content_type=content_type)
        return self._answer(handler, 404, {"error": "unknown path"})

    def _state(self, render: Render) -> dict:
        render.polls += 1
        if render.polls <= self.modes.polls_before_done:
            progress = render.polls / (self.modes.polls_before_done + 1)
            return {"id": render.id, "status": "running", "progress": progress, "result": None}
        if self.modes.render_failure:
            return {
                "id": render.id,
                "status": "failed",
                "error": "the model crashed",
                "retryable": self.modes.render_failure == "retryable",
                "result": None,
            }
        if render.result is None:
            render.result = self._render(render)
        return {"id": render.id, "status": "succeeded", "progress": 1.0, "result": render.result}

    def _render(self, render: Render) -> dict:
        body = render.request
        request = RenderRequest(
            key=body["key"],
            title=body["title"],
            topic=body["topic"],
            platform=body["platform"],
            preset=body["preset"],
            format=body["format"],
            position=body["position"],
            style=Style(**body["style"]),
        )
        result = self.generator.render(request, lambda _fraction: None)
        render.files["media"] = (result.media.content_type, result.media.data)
        render.files["thumbnail"] = (result.thumbnail.content_type, result.thumbnail.data)
        if result.poster is not None:
            render.files["poster"] = (result.poster.content_type, result.poster.data)
        base = f"/files/{render.id}"
        return {
            "media_url": f"{base}/media",
            "thumbnail_url": f"{base}/thumbnail",
            "poster_url": f"{base}/poster" if result.poster is not None else None,
            "content_type": result.media.content_type,
            "width": result.width,
            "height": result.height,
            "duration_ms": result.duration_ms,
        }
