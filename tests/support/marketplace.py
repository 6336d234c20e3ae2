"""A marketplace of our own on loopback that speaks the holdings contract (see
dashboard_app/integrations/marketplace.py): a per-address inventory handed out in cursor pages,
with behaviours a test switches on (slow answers, 429 with Retry-After, 500, malformed JSON or
items), and a log of every request it answered."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.support.servers import free_port

API_KEY = "marketplace-test-key"
PATH = re.compile(r"^/api/v2/chain/(?P<chain>[^/]+)/account/(?P<address>[^/]+)/nfts$")


@dataclass
class Behaviour:
    delay_seconds: float = 0.0  # answer every request this late (slow, or a timeout)
    rate_limited: int = 0  # the next N requests get 429 with Retry-After
    retry_after: str = "0"
    failing: int = 0  # the next N requests get 500 (a large N: always)
    malformed_json: bool = False  # answer 200 with a body that is not JSON
    malformed_items: bool = False  # add items missing their contract or identifier
    gate: threading.Event | None = None  # hold answers until the test sets it


@dataclass
class Logged:
    chain: str
    address: str
    query: dict[str, str]
    api_key: str | None
    status: int


@dataclass
class Marketplace:
    port: int = field(default_factory=free_port)
    behaviour: Behaviour = field(default_factory=Behaviour)
    inventories: dict[str, list[dict]] = field(default_factory=dict)
    requests: list[Logged] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- What tests arrange and read -----------------------------------------------------------

    def hold(self, address: str, *tokens: dict) -> None:
        """Give an address these tokens (replacing what it held)."""
        with self.lock:
            self.inventories[address.lower()] = [dict(token) for token in tokens]

    def reset(self) -> None:
        with self.lock:
            self.behaviour = Behaviour()
            self.inventories.clear()
            self.requests.clear()

    def requests_for(self, address: str) -> list[Logged]:
        with self.lock:
            return [logged for logged in self.requests if logged.address == address.lower()]

    # --- The server ----------------------------------------------------------------------------

    def start(self) -> None:
        market = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # noqa: ANN002 - quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                market._answer(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        matched = PATH.match(parts.path)
        key = handler.headers.get("X-API-KEY")
        with self.lock:
            behaviour = self.behaviour
            status, body, headers = self._decide(matched, query, key, behaviour)
            self.requests.append(
                Logged(
                    chain=matched["chain"] if matched else "",
                    address=matched["address"].lower() if matched else "",
                    query=query,
                    api_key=key,
                    status=status,
                )
            )
        if behaviour.gate is not None:
            behaviour.gate.wait(30)
        if behaviour.delay_seconds:
            time.sleep(behaviour.delay_seconds)
        try:
            handler.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test)

    def _decide(
        self, matched: re.Match | None, query: dict[str, str], key: str | None, b: Behaviour
    ) -> tuple[int, bytes, dict[str, str]]:
        if matched is None:
            return 404, b'{"detail": "not found"}', {}
        if key != API_KEY:
            return 401, b'{"detail": "invalid api key"}', {}
        if b.rate_limited > 0:
            b.rate_limited -= 1
            return 429, b'{"detail": "slow down"}', {"Retry-After": b.retry_after}
        if b.failing > 0:
            b.failing -= 1
            return 500, b'{"detail": "internal error"}', {}
        if b.malformed_json:
            return 200, b'{"nfts": [ this is not json', {}
        try:
            limit = max(1, min(50, int(query.get("limit", "50"))))
            offset = int(query["next"].removeprefix("c")) if "next" in query else 0
        except ValueError:
            return 400, b'{"detail": "bad paging"}', {}
        tokens = self.inventories.get(matched["address"].lower(), [])
        page = tokens[offset : offset + limit]
        if b.malformed_items:
            page = [*page, {"name": "no contract"}, "not an object", {"identifier": 7}]
        following = f"c{offset + limit}" if offset + limit < len(tokens) else None
        return 200, json.dumps({"nfts": page, "next": following}).encode(), {}


def token(contract: str, identifier: str, collection: str, name: str = "", **extra) -> dict:
    """One item as the contract hands it out."""
    return {
        "identifier": identifier,
        "collection": collection,
        "contract": contract,
        "token_standard": "erc721",
        "name": name or f"{collection} #{identifier}",
        "description": None,
        "image_url": f"https://img.example/{collection}/{identifier}.png",
        "metadata_url": f"https://meta.example/{collection}/{identifier}.json",
        "updated_at": "2026-11-01T00:00:00",
        "is_disabled": False,
        "is_nsfw": False,
        **extra,
    }
