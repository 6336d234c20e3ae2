"""A marketplace API client for wallet holdings, over an OpenSea-v2-like contract.

The contract (tests/support/marketplace.py implements it):

    GET {base}/api/v2/chain/{chain}/account/{address}/nfts?limit=N&next=CURSOR
        X-API-KEY: <key>
      -> 200 {"nfts": [{"identifier", "collection", "contract", "name", "image_url",
                        "metadata_url", ...}], "next": "<cursor>" | null | ""}

429 answers wait for Retry-After (or the exponential backoff, whichever is longer, bounded);
5xx answers, timeouts and dropped connections are retried the same way, a few times; then
MarketplaceError. Any other 4xx is MarketplaceError at once.

Malformed data: an answer that is not JSON, not an object, or whose `nfts` is not a list is
refused whole (MarketplaceError: the caller keeps its last good data). A single item missing
its contract or identifier, or with fields of the wrong type, is skipped and counted in
`Inventory.skipped`, so one bad token does not hide a member's other holdings.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from dashboard_app.settings import Settings

PAGE_SIZE = 50  # the most the contract hands out per page
MAX_TEXT = 500
MAX_METADATA_CHARS = 4000


class MarketplaceError(Exception):
    """The marketplace could not be read (after retries) or answered nonsense."""


@dataclass(frozen=True)
class MarketplaceConfig:
    base_url: str
    api_key: str
    chain: str = "ethereum"
    timeout_seconds: float = 10.0
    max_pages: int = 20
    page_size: int = PAGE_SIZE
    max_attempts: int = 4  # per page, for 429, 5xx and transport errors
    backoff_seconds: float = 0.5  # doubled on each further attempt
    max_backoff_seconds: float = 30.0  # the longest wait, Retry-After included


@dataclass(frozen=True)
class Nft:
    contract: str
    token_id: str
    collection: str
    name: str
    image_url: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Inventory:
    nfts: list[Nft] = field(default_factory=list)
    skipped: int = 0  # malformed items left out
    truncated: bool = False  # more pages than MAX_PAGES: the rest was not read


class _Item(BaseModel):
    """One item of the `nfts` list; unknown fields go to metadata."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    identifier: str
    contract: str
    collection: str = ""
    name: str | None = None
    image_url: str | None = None

    @field_validator("identifier", "contract")
    @classmethod
    def _present(cls, value: str) -> str:
        if not value or len(value) > 200:
            raise ValueError("missing or too long")
        return value

    @field_validator("collection")
    @classmethod
    def _short(cls, value: str) -> str:
        return value[:MAX_TEXT]


def _text(value: str) -> str:
    """Text as a database can store it: PostgreSQL refuses NUL characters."""
    return value.replace("\x00", "")


def _storable(value: object) -> bool:
    """A metadata value kept as is: JSON's scalars, finite numbers only (NaN is not JSON)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool) or value is None


def _nft(raw: object) -> Nft | None:
    if not isinstance(raw, dict):
        return None
    try:
        item = _Item.model_validate(raw)
    except ValidationError:
        return None
    image = _text(item.image_url or "")
    if not image.startswith("https://"):
        # Never a javascript: or data: address in an <img>, and never plain http: (mixed
        # content, readable and changeable on the way).
        image = ""
    metadata = {
        _text(str(key)): _text(value) if isinstance(value, str) else value
        for key, value in (item.model_extra or {}).items()
        if _storable(value)
    }
    if len(repr(metadata)) > MAX_METADATA_CHARS:
        metadata = {"metadata_url": metadata.get("metadata_url")}
    return Nft(
        contract=_text(item.contract.lower()),
        token_id=_text(item.identifier),
        collection=_text(item.collection),
        name=_text(item.name or "")[:MAX_TEXT],
        image_url=image[:2000],
        metadata=metadata,
    )


class MarketplaceClient:
    def __init__(self, config: MarketplaceConfig) -> None:
        self.config = config
        self.client = httpx.Client(
            base_url=config.base_url.rstrip("/") + "/",
            headers={"X-API-KEY": config.api_key, "Accept": "application/json"},
            timeout=httpx.Timeout(config.timeout_seconds, connect=min(5.0, config.timeout_seconds)),
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> MarketplaceClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        delay = self.config.backoff_seconds * (2 ** (attempt - 1))
        if response is not None and response.status_code == 429:
            with contextlib.suppress(ValueError):
                delay = max(delay, float(response.headers.get("retry-after", "0")))
        return min(delay, self.config.max_backoff_seconds)

    def _get(self, path: str, params: dict[str, str | int]) -> httpx.Response:
        last = ""
        for attempt in range(1, self.config.max_attempts + 1):
            response: httpx.Response | None = None
            try:
                response = self.client.get(path, params=params)
            except httpx.TransportError as error:  # timeouts, refused or dropped connections
                last = f"{type(error).__name__}"
            else:
                if response.status_code < 400:
                    return response
                last = f"HTTP {response.status_code}"
                if response.status_code != 429 and response.status_code < 500:
                    raise MarketplaceError(f"the marketplace refused the request ({last})")
            if attempt < self.config.max_attempts:
                time.sleep(self._delay(attempt, response))
        raise MarketplaceError(
            f"the marketplace did not answer after {self.config.max_attempts} attempts ({last})"
        )

    def _page(self, address: str, cursor: str | None) -> tuple[list[object], str | None]:
        params: dict[str, str | int] = {"limit": self.config.page_size}
        if cursor:
            params["next"] = cursor
        path = f"api/v2/chain/{quote(self.config.chain)}/account/{quote(address)}/nfts"
        response = self._get(path, params)
        try:
            data = response.json()
        except ValueError:
            raise MarketplaceError("the marketplace answered with something not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("nfts"), list):
            raise MarketplaceError("the marketplace answered without a list of tokens")
        following = data.get("next")
        if following is not None and not isinstance(following, str):
            raise MarketplaceError("the marketplace answered with a cursor that is not text")
        return data["nfts"], following or None

    def fetch_holdings(self, address: str) -> Inventory:
        """Every token the address holds on the configured chain (at most MAX_PAGES pages)."""
        nfts: dict[tuple[str, str], Nft] = {}
        skipped = 0
        cursor: str | None = None
        for _ in range(self.config.max_pages):
            items, cursor = self._page(address, cursor)
            for raw in items:
                nft = _nft(raw)
                if nft is None:
                    skipped += 1
                else:
                    nfts[(nft.contract, nft.token_id)] = nft
            if cursor is None:
                return Inventory(nfts=list(nfts.values()), skipped=skipped)
        return Inventory(nfts=list(nfts.values()), skipped=skipped, truncated=True)


def config_from_settings(settings: Settings) -> MarketplaceConfig | None:
    """The marketplace this server reads, or None when MARKETPLACE_BASE_URL is not set."""
    if not settings.marketplace_configured or settings.marketplace_base_url is None:
        return None
    key = settings.marketplace_api_key
    return MarketplaceConfig(
        base_url=settings.marketplace_base_url.strip(),
        api_key=key.get_secret_value() if key else "",
        chain=settings.marketplace_chain,
        timeout_seconds=settings.marketplace_timeout_seconds,
        max_pages=settings.marketplace_max_pages,
    )
