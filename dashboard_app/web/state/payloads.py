"""Event payloads from the browser. Any client can call any handler with any arguments, so each
handler reads its payload through a pydantic model here first; a payload of the wrong shape gets
one and the same message from every handler, and changes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import reflex as rx
from pydantic import BaseModel, ConfigDict, ValidationError

from dashboard_app.domain.ids import MAX_RECORD_ID, record_id

BAD_PAYLOAD = "That request could not be read. Reload the page and try again."


def bad_payload() -> rx.event.EventSpec:
    """The one answer to a payload of the wrong shape, from every handler (and the guard)."""
    return rx.toast.error(BAD_PAYLOAD)


MAX_ID_DIGITS = len(str(MAX_RECORD_ID))


def id_from_text(value: object) -> int | None:
    """A record id sent as text (a page address, a button's argument): ASCII digits, at most
    MAX_ID_DIGITS of them, naming a number the database's ids can hold; else None.
    (`str.isdigit` alone lets "²" through, which `int` refuses, and a larger number makes
    PostgreSQL refuse the query.)"""
    digits = isinstance(value, str) and value.isascii() and value.isdigit()
    return record_id(int(value)) if digits and len(value) <= MAX_ID_DIGITS else None  # type: ignore[arg-type]


class Payload(BaseModel):
    """Base for a handler's payload: unknown keys are ignored, long text is refused."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_max_length=2000)


P = TypeVar("P", bound=Payload)


def read_payload(model: type[P], value: object) -> P | None:
    """`value` as `model`, or None when it is not a mapping of the expected shape."""
    if not isinstance(value, Mapping):
        return None
    try:
        return model.model_validate(dict(value))
    except ValidationError:
        return None
