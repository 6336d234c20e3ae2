"""The `v1` fixture for this folder's tests: the `api` fixture (tests/support/api.py) with each
member's own read-write key, so a test names the member a call is made as."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import API, make_api_key


class MemberApi:
    def __init__(self, api, engine) -> None:  # type: ignore[no-untyped-def]
        self.api, self.engine, self.keys = api, engine, {}

    def key(self, member: int) -> str:
        if member not in self.keys:
            self.keys[member] = make_api_key(self.engine, member)
        return self.keys[member]

    def request(
        self, method: str, path: str, *, member: int | None = None, **kwargs
    ) -> httpx.Response:
        """`path` is /api/v1/... or an absolute link the API handed out."""
        key = self.key(member) if member is not None else None
        if path.startswith("http"):
            return self.api.request(method, path, key=key, raw=True, **kwargs)
        return self.api.request(method, path.removeprefix(API), key=key, **kwargs)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def v1(api, engine) -> MemberApi:  # type: ignore[no-untyped-def]
    return MemberApi(api, engine)
