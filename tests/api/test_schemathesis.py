"""Schemathesis against /api/v1/openapi.json of the app in this process (build_api, as the
server mounts it), as a member with a read-write key: for every operation, requests generated
from the document (valid ones, and invalid ones) never get a 5xx, and every response conforms to
the document (status code, content type, headers, body schema). Bounded by MAX_EXAMPLES per
operation and mode so the module runs in well under a minute."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dashboard_app.web.api.app import build_api
from dashboard_app.web.api.v1.app import build_v1
from tests.api.test_generations import stored_result
from tests.factories import create_member
from tests.support.api import API, bearer, make_api_key

MAX_EXAMPLES = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Every operation of the document, named as schemathesis names them ("GET /library").
OPERATIONS = sorted(
    f"{method.upper()} {path}"
    for path, item in build_v1().openapi()["paths"].items()
    for method in item
)


MODES = ("positive", "negative", "own-ids")


def strategy_for(operation, mode: str, ids: dict):  # type: ignore[no-untyped-def]
    """Requests for one operation: valid ones, invalid ones, or valid ones whose path names
    the member's own generation or library item (ids that exist)."""
    if mode == "own-ids":
        names = {parameter.name for parameter in operation.path_parameters}
        fixed = {name: value for name, value in ids.items() if name in names}
        return operation.as_strategy(path_parameters=fixed) if fixed else None
    return operation.as_strategy(generation_mode=GenerationMode(mode))


def test_every_operation_answers_within_its_document(api, engine) -> None:
    # The per-key limits would answer most of these requests with 429 before they reach a route.
    api.configure(API_RATE_PER_MINUTE="1000000", API_WRITE_RATE_PER_MINUTE="1000000")
    member = create_member(engine, credits_granted=100_000).id
    headers = bearer(make_api_key(engine, member))
    loaded = schemathesis.openapi.from_asgi(f"{API}/openapi.json", build_api())
    failures: dict[str, str] = {}
    ran = 0
    for label in OPERATIONS:
        # Each operation gets a generation and a saved library item (its file stored) of its
        # own, so one that deletes or cancels leaves the next something to find.
        generation_id, _, asset_id = stored_result(engine, member, saved=True)
        ids = {"generation_id": generation_id, "item_id": asset_id}
        method, path = label.split(" ", 1)
        for mode in MODES:
            strategy = strategy_for(loaded[path][method], mode, ids)
            if strategy is None:
                continue

            @given(case=strategy)
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def exercise(case) -> None:  # type: ignore[no-untyped-def]
                response = case.call(base_url=f"http://testserver{API}", headers=headers)
                case.validate_response(response, checks=CHECKS)

            ran += 1
            try:
                exercise()
            except Exception as error:  # noqa: BLE001 - every operation's failure is reported
                failures[f"{label} ({mode})"] = str(error)[:3000]
    assert ran >= 2 * len(OPERATIONS)
    assert not failures, "\n\n".join(f"{name}:\n{text}" for name, text in failures.items())


def test_the_document_lists_the_generation_and_library_operations() -> None:
    for name in (
        "POST /generations",
        "GET /generations",
        "GET /generations/{generation_id}",
        "POST /generations/{generation_id}/regenerate",
        "POST /generations/{generation_id}/cancel",
        "GET /library",
        "POST /library",
        "GET /library/{item_id}",
        "PATCH /library/{item_id}",
        "DELETE /library/{item_id}",
        "POST /library/{item_id}/download",
    ):
        assert name in OPERATIONS
